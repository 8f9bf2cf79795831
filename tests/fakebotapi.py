"""A fake Telegram Bot API server for tests and benchmarks (aiohttp, 127.0.0.1, a free port).

Usage::

    server = FakeBotAPI()              # or FakeBotAPI(rate_per_second=30, per_chat_per_second=1)
    await server.start()
    settings = load_settings(bot_token=server.token, telegram_api_base=server.base_url, ...)
    update_id = server.send_text(555, "取保候审最长多久？")      # a user writes to the bot
    reply = await server.wait_for(555, lambda m: "取保" in m.text)
    server.press(555, reply.message_id, reply.buttons()[0][0].callback_data)
    server.messages_to(555)            # what the chat received, edits applied
    server.calls                       # every method call, in order
    server.fail_next("sendMessage", 500, "Internal Server Error")
    FakeBotAPI(flood_share=0.002)      # that share of sends is answered 429 (retry_after 1 s)
    await server.stop()

Requests may be JSON, form or multipart (aiogram sends multipart). getUpdates honours
offset (confirms older updates), limit and timeout (long-polls, returning as soon as an
update is queued). The optional rate limiter answers 429 with parameters.retry_after.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import random
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SENDING_METHODS = frozenset(
    {
        "sendmessage",
        "sendphoto",
        "senddocument",
        "editmessagetext",
        "editmessagereplymarkup",
        "copymessage",
        "forwardmessage",
        "sendmediagroup",
        "sendvideo",
        "sendvoice",
    }
)
_INT_FIELDS = ("chat_id", "message_id", "offset", "limit", "timeout", "user_id")
_JSON_FIELDS = (
    "reply_markup",
    "allowed_updates",
    "commands",
    "scope",
    "entities",
    "link_preview_options",
    "media",
)


@dataclass
class Button:
    """One inline button."""

    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass
class SentMessage:
    """A message the bot sent to a chat, with later edits applied."""

    message_id: int
    chat_id: int
    text: str
    reply_markup: dict[str, Any] | None = None
    kind: str = "text"
    parse_mode: str | None = None
    sent_at: float = field(default_factory=time.monotonic)
    edited_at: float | None = None
    edits: int = 0
    # photo / video / voice / document: the file id sent, or {"filename", "size"} of an upload
    file: Any = None
    media_group_id: str | None = None

    def buttons(self) -> list[list[Button]]:
        """Returns the inline buttons, row by row (empty when none)."""
        markup = self.reply_markup or {}
        return [
            [Button(b.get("text", ""), b.get("callback_data"), b.get("url")) for b in row]
            for row in markup.get("inline_keyboard", [])
        ]

    def button(self, text_part: str) -> Button:
        """Finds the inline button whose text contains a string."""
        for row in self.buttons():
            for button in row:
                if text_part in button.text:
                    return button
        raise LookupError(f"no button containing {text_part!r} in {self.buttons()!r}")

    def keyboard(self) -> list[list[str]]:
        """Returns the reply keyboard labels, row by row (empty when none)."""
        markup = self.reply_markup or {}
        return [
            [b.get("text", "") if isinstance(b, dict) else str(b) for b in row]
            for row in markup.get("keyboard", [])
        ]


@dataclass
class Call:
    """One Bot API method call as the server saw it."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200


@dataclass
class _Fault:
    error_code: int
    description: str
    retry_after: int | None


class FakeBotAPI:
    """An in-process Bot API server that records what a bot does and lets tests play users."""

    def __init__(
        self,
        *,
        token: str = "123456:TEST-token",
        rate_per_second: float | None = None,
        per_chat_per_second: float | None = None,
        bot_username: str = "frontline_test_bot",
        flood_share: float = 0.0,
        flood_retry_after: int = 1,
        seed: int = 0,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.rate_per_second = rate_per_second
        self.per_chat_per_second = per_chat_per_second
        self.calls: list[Call] = []
        self.unknown_methods: list[str] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}  # default scope, by language code
        self.chat_commands: dict[int, list[dict[str, Any]]] = {}  # a chat's own list (scope "chat")
        self.webhook: dict[str, Any] | None = None
        self.fetched_at: dict[int, float] = {}
        self.queued_at: dict[int, float] = {}
        self.rejected_429 = 0
        # A share of sending calls answered 429 whatever the rate (Telegram does it under load too).
        self.flood_share = flood_share
        self.flood_retry_after = flood_retry_after
        self.injected_429 = 0
        self._random = random.Random(seed)
        self.blocked: set[int] = set()  # chats that blocked the bot: every send answers 403
        self.files: dict[str, bytes] = {}  # file_id -> content, for getFile and downloads
        self.too_big: set[str] = set()  # file ids getFile refuses ("file is too big", as over 20 MB)
        self._messages: dict[int, list[SentMessage]] = defaultdict(list)
        self._by_id: dict[tuple[int, int], SentMessage] = {}
        self._user_messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._updates: deque[dict[str, Any]] = deque()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._changed = asyncio.Event()
        self._new_update = asyncio.Event()
        self._tokens = float(rate_per_second or 0)
        self._tokens_at = time.monotonic()
        self._chat_last: dict[int, float] = {}
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.port = 0

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Starts listening on 127.0.0.1 at a free port."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]  # set by start()
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # an asyncio Server

    async def stop(self) -> None:
        """Stops the server, releasing any long poll first."""
        self._closing = True
        self._new_update.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        """The Bot API base URL to configure the bot with (telegram_api_base)."""
        return f"http://127.0.0.1:{self.port}"

    # --- playing users -------------------------------------------------------------------------

    def _user(self, user_id: int, language_code: str | None) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        if language_code:
            user["language_code"] = language_code
        return user

    def enqueue(self, update: dict[str, Any]) -> int:
        """Queues a raw update (update_id is assigned); returns its id."""
        update_id = next(self._update_ids)
        update = {**update, "update_id": update_id}
        self._updates.append(update)
        self.queued_at[update_id] = time.monotonic()
        self._new_update.set()
        return update_id

    def send_text(self, user_id: int, text: str, *, language_code: str | None = None) -> int:
        """Queues a private text message from a user; returns the update id."""
        message_id = next(self._message_ids)
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": f"User{user_id}"},
            "from": self._user(user_id, language_code),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        self._user_messages[(user_id, message_id)] = message
        return self.enqueue({"message": message})

    def send_photo(
        self, user_id: int, caption: str | None = None, *, content: bytes | None = None, file_id: str | None = None
    ) -> int:
        """Queues a photo from a user (no text); returns the update id.

        With ``content`` the photo gets its own file id (or ``file_id``), served by getFile and
        downloads; without, it is the fixed "photo1" with no content.
        """
        if content is None and file_id is None:
            sizes = [{"file_id": "photo1", "file_unique_id": "u1", "width": 90, "height": 90}]
        else:
            file_id = self._register(file_id, content, "photo")
            size = len(content) if content is not None else None
            sizes = [
                {"file_id": f"{file_id}-thumb", "file_unique_id": f"u-{file_id}-thumb", "width": 90, "height": 90},
                {"file_id": file_id, "file_unique_id": f"u-{file_id}", "width": 1280, "height": 960,
                 **({"file_size": size} if size is not None else {})},
            ]
        message = self._user_message(user_id, photo=sizes)
        if caption:
            message["caption"] = caption
        return self.enqueue({"message": message})

    def _register(self, file_id: str | None, content: bytes | None, kind: str) -> str:
        """Gives an uploaded file an id and keeps its content for getFile and downloads."""
        file_id = file_id or f"{kind}-{next(self._file_ids)}"
        if content is not None:
            self.files[file_id] = content
        return file_id

    def _user_message(self, user_id: int, **fields: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": f"User{user_id}"},
            "from": self._user(user_id, None),
            **fields,
        }
        self._user_messages[(user_id, message["message_id"])] = message
        return message

    def send_document(
        self,
        user_id: int,
        content: bytes | None,
        *,
        file_name: str = "file.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        file_id: str | None = None,
        file_size: int | None = None,
    ) -> int:
        """Queues a document from a user; returns the update id. ``content`` None: no content is served
        (put the id in ``too_big`` to have getFile refuse it); ``file_size`` overrides the size declared."""
        file_id = self._register(file_id, content, "document")
        size = file_size if file_size is not None else len(content or b"")
        document = {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_name": file_name,
                    "mime_type": mime_type, "file_size": size}
        message = self._user_message(user_id, document=document)
        if caption:
            message["caption"] = caption
        return self.enqueue({"message": message})

    def send_voice(self, user_id: int, content: bytes, *, duration: int = 5, file_id: str | None = None) -> int:
        """Queues a voice note from a user; returns the update id."""
        file_id = self._register(file_id, content, "voice")
        voice = {"file_id": file_id, "file_unique_id": f"u-{file_id}", "duration": duration,
                 "mime_type": "audio/ogg", "file_size": len(content)}
        return self.enqueue({"message": self._user_message(user_id, voice=voice)})

    def send_video(
        self, user_id: int, content: bytes | None, *, file_id: str | None = None, file_size: int | None = None,
        duration: int = 10,
    ) -> int:
        """Queues a video from a user; returns the update id (``content`` None: see send_document)."""
        file_id = self._register(file_id, content, "video")
        size = file_size if file_size is not None else len(content or b"")
        video = {"file_id": file_id, "file_unique_id": f"u-{file_id}", "width": 1280, "height": 720,
                 "duration": duration, "mime_type": "video/mp4", "file_size": size}
        return self.enqueue({"message": self._user_message(user_id, video=video)})

    def send_location(self, user_id: int, latitude: float, longitude: float) -> int:
        """Queues a shared location from a user; returns the update id."""
        location = {"latitude": latitude, "longitude": longitude}
        return self.enqueue({"message": self._user_message(user_id, location=location)})

    def press(self, user_id: int, message_id: int, callback_data: str) -> int:
        """Queues a press on an inline button of a message the bot sent; returns the update id."""
        sent = self._by_id.get((user_id, message_id))
        if sent is None:
            raise LookupError(f"chat {user_id} has no bot message {message_id}")
        return self.enqueue(
            {
                "callback_query": {
                    "id": f"cb{next(self._update_ids)}",
                    "from": self._user(user_id, None),
                    "chat_instance": f"ci{user_id}",
                    "message": self._message_json(sent),
                    "data": callback_data,
                }
            }
        )

    # --- reading what happened -----------------------------------------------------------------

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        """Lists what a chat received from the bot, oldest first, edits applied."""
        return list(self._messages.get(chat_id, []))

    def last_to(self, chat_id: int) -> SentMessage | None:
        """Returns the latest message a chat received, or None."""
        messages = self._messages.get(chat_id)
        return messages[-1] if messages else None

    def calls_to(self, method: str) -> list[Call]:
        """Lists the calls of one method."""
        return [call for call in self.calls if call.method.lower() == method.lower()]

    @property
    def pending_updates(self) -> int:
        """Counts updates not yet confirmed by the bot."""
        return len(self._updates)

    async def wait_for(
        self,
        chat_id: int,
        predicate: Callable[[SentMessage], bool] = lambda message: True,
        timeout: float = 5.0,  # noqa: ASYNC109  # the API other tests rely on takes a timeout argument
        *,
        since: int = 0,
    ) -> SentMessage:
        """Waits for a message to a chat (from index `since` on) matching a predicate; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self._messages.get(chat_id, [])[since:]:
                if predicate(message):
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [m.text[:80] for m in self._messages.get(chat_id, [])[since:]]
                raise TimeoutError(f"chat {chat_id}: no matching message within {timeout} s; got {seen!r}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 0.5))

    async def wait_idle(self, timeout: float = 5.0, quiet: float = 0.15) -> None:  # noqa: ASYNC109  # as wait_for
        """Waits until every update is confirmed and no method but getUpdates was called for `quiet` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = [call.at for call in self.calls if call.method.lower() != "getupdates"]
            last = busy[-1] if busy else 0.0
            if not self._updates and time.monotonic() - last >= quiet:
                return
            await asyncio.sleep(0.02)
        raise TimeoutError("the bot did not go idle")

    # --- faults and limits ---------------------------------------------------------------------

    def fail_next(
        self, method: str, error_code: int, description: str, retry_after: int | None = None
    ) -> None:
        """Makes the next call of a method fail with a Bot API error."""
        self._faults[method.lower()].append(_Fault(error_code, description, retry_after))

    def _rate_limited(self, method: str, params: dict[str, Any]) -> int | None:
        """Returns retry_after seconds when the call exceeds a limit, else None (and takes a token)."""
        if method not in SENDING_METHODS:
            return None
        now = time.monotonic()
        chat_id = params.get("chat_id")
        if self.per_chat_per_second and isinstance(chat_id, int):
            last = self._chat_last.get(chat_id)
            gap = 1.0 / self.per_chat_per_second
            if last is not None and now - last < gap:
                return max(1, math.ceil(gap - (now - last)))
        if self.rate_per_second:
            rate = self.rate_per_second
            self._tokens = min(rate, self._tokens + (now - self._tokens_at) * rate)
            self._tokens_at = now
            if self._tokens < 1:
                return max(1, math.ceil((1 - self._tokens) / rate))
            self._tokens -= 1
        if isinstance(chat_id, int):
            self._chat_last[chat_id] = now
        return None

    # --- HTTP ----------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            content_type = request.content_type
            if content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            elif content_type.startswith("multipart/"):
                reader = await request.multipart()
                async for part in reader:
                    if part.name is None:  # type: ignore[union-attr]  # BodyPartReader in practice
                        continue
                    if part.filename:  # type: ignore[union-attr]  # a file upload
                        data = await part.read()  # type: ignore[union-attr]
                        params[part.name] = {"filename": part.filename, "size": len(data)}  # type: ignore[union-attr]
                    else:
                        params[part.name] = await part.text()  # type: ignore[union-attr]
            else:
                params.update(dict(await request.post()))
        for key in _INT_FIELDS:
            value = params.get(key)
            if isinstance(value, str) and value.lstrip("-").isdigit():
                params[key] = int(value)
        for key in _JSON_FIELDS:
            value = params.get(key)
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
        return params

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].removeprefix("files/")
        return web.Response(body=self.files.get(file_id, b"fake file content"))

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"]
        name = method.lower()
        params = await self._params(request)
        call = Call(method, params, time.monotonic())
        self.calls.append(call)
        faults = self._faults.get(name)
        if faults:
            fault = faults.popleft()
            call.status = fault.error_code
            return self._error(fault.error_code, fault.description, fault.retry_after)
        if self.flood_share and name in SENDING_METHODS and self._random.random() < self.flood_share:
            call.status = 429
            self.injected_429 += 1
            retry = self.flood_retry_after
            return self._error(429, f"Too Many Requests: retry after {retry}", retry)
        retry_after = self._rate_limited(name, params)
        if retry_after is not None:
            call.status = 429
            self.rejected_429 += 1
            return self._error(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        handler = getattr(self, f"_m_{name}", None)
        if handler is None:
            self.unknown_methods.append(method)
            return self._ok(True)
        try:
            result = await handler(params)
        except _ApiError as exc:
            call.status = exc.code
            return self._error(exc.code, exc.description)
        self._changed.set()
        return self._ok(result)

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(code: int, description: str, retry_after: int | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=code)

    # --- methods -------------------------------------------------------------------------------

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Frontline",
            "username": self.bot_username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _message_json(self, sent: SentMessage) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": {"id": sent.chat_id, "type": "private", "first_name": f"User{sent.chat_id}"},
            "from": self._bot_user(),
        }
        if sent.kind == "text":
            message["text"] = sent.text
        else:
            if sent.text:
                message["caption"] = sent.text
            file_id = sent.file if isinstance(sent.file, str) else f"{sent.kind}{sent.message_id}"
            media = {"file_id": file_id, "file_unique_id": f"u-{file_id}"}
            if sent.kind == "photo":
                message["photo"] = [{**media, "width": 1, "height": 1}]
            elif sent.kind == "video":
                message["video"] = {**media, "width": 1, "height": 1, "duration": 1}
            elif sent.kind == "voice":
                message["voice"] = {**media, "duration": 1}
            else:
                message["document"] = {**media, "file_name": "file"}
            if sent.media_group_id:
                message["media_group_id"] = sent.media_group_id
        if sent.edited_at is not None:
            message["edit_date"] = int(time.time())
        # Telegram echoes only inline keyboards inside a Message.
        if sent.reply_markup and "inline_keyboard" in sent.reply_markup:
            message["reply_markup"] = sent.reply_markup
        return message

    def _chat(self, params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise _ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _store(
        self, chat_id: int, text: str, params: dict[str, Any], kind: str, *, file: Any = None, group: str | None = None
    ) -> dict[str, Any]:
        if chat_id in self.blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        markup = params.get("reply_markup")
        sent = SentMessage(
            message_id=next(self._message_ids),
            chat_id=chat_id,
            text=text,
            reply_markup=markup if isinstance(markup, dict) else None,
            kind=kind,
            parse_mode=params.get("parse_mode"),
            file=file,
            media_group_id=group,
        )
        self._messages[chat_id].append(sent)
        self._by_id[(chat_id, sent.message_id)] = sent
        return self._message_json(sent)

    async def _m_getme(self, params: dict[str, Any]) -> Any:
        return self._bot_user()

    async def _m_getupdates(self, params: dict[str, Any]) -> Any:
        offset = params.get("offset")
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if isinstance(offset, int):
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
        deadline = time.monotonic() + timeout
        while not self._updates and not self._closing and time.monotonic() < deadline:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), timeout=deadline - time.monotonic())
            except TimeoutError:
                break
        batch = list(itertools.islice(self._updates, 0, max(1, min(limit, 100))))
        now = time.monotonic()
        for update in batch:
            self.fetched_at.setdefault(update["update_id"], now)
        return batch

    async def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        text = str(params.get("text") or "")
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096 and params.get("parse_mode") is None:
            raise _ApiError(400, "Bad Request: message is too long")
        return self._store(self._chat(params), text, params, "text")

    @staticmethod
    def _attached(params: dict[str, Any], value: Any) -> Any:
        """Resolves aiogram's "attach://name" to the uploaded part called name."""
        if isinstance(value, str) and value.startswith("attach://"):
            return params.get(value.removeprefix("attach://"))
        return value

    async def _send_media(self, params: dict[str, Any], kind: str) -> Any:
        file = self._attached(params, params.get(kind))
        return self._store(self._chat(params), str(params.get("caption") or ""), params, kind, file=file)

    async def _m_sendphoto(self, params: dict[str, Any]) -> Any:
        return await self._send_media(params, "photo")

    async def _m_sendvideo(self, params: dict[str, Any]) -> Any:
        return await self._send_media(params, "video")

    async def _m_sendvoice(self, params: dict[str, Any]) -> Any:
        return await self._send_media(params, "voice")

    async def _m_senddocument(self, params: dict[str, Any]) -> Any:
        return await self._send_media(params, "document")

    async def _m_sendmediagroup(self, params: dict[str, Any]) -> Any:
        chat_id = self._chat(params)
        items = params.get("media")
        if not isinstance(items, list) or not 2 <= len(items) <= 10:
            raise _ApiError(400, "Bad Request: wrong number of media in the group")
        group = f"g{next(self._message_ids)}"
        sent = []
        for item in items:
            media = self._attached(params, item.get("media"))
            sent.append(
                self._store(chat_id, str(item.get("caption") or ""), {}, str(item.get("type")), file=media, group=group)
            )
        return sent

    def _find(self, params: dict[str, Any]) -> SentMessage:
        chat_id = self._chat(params)
        message_id = params.get("message_id")
        sent = self._by_id.get((chat_id, message_id)) if isinstance(message_id, int) else None
        if sent is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return sent

    async def _m_editmessagetext(self, params: dict[str, Any]) -> Any:
        sent = self._find(params)
        text = str(params.get("text") or "")
        markup = params.get("reply_markup")
        new_markup = markup if isinstance(markup, dict) else None
        if text == sent.text and new_markup == sent.reply_markup:
            raise _ApiError(400, "Bad Request: message is not modified")
        sent.text = text
        sent.reply_markup = new_markup
        sent.edited_at = time.monotonic()
        sent.edits += 1
        return self._message_json(sent)

    async def _m_editmessagereplymarkup(self, params: dict[str, Any]) -> Any:
        sent = self._find(params)
        markup = params.get("reply_markup")
        sent.reply_markup = markup if isinstance(markup, dict) else None
        sent.edited_at = time.monotonic()
        sent.edits += 1
        return self._message_json(sent)

    async def _m_answercallbackquery(self, params: dict[str, Any]) -> Any:
        self.callback_answers.append(params)
        return True

    async def _m_setmycommands(self, params: dict[str, Any]) -> Any:
        commands = list(params.get("commands") or [])
        scope = params.get("scope") or {}
        if scope.get("type") == "chat":
            self.chat_commands[int(scope["chat_id"])] = commands
        else:
            self.commands[str(params.get("language_code") or "")] = commands
        return True

    async def _m_deletemycommands(self, params: dict[str, Any]) -> Any:
        scope = params.get("scope") or {}
        if scope.get("type") == "chat":
            self.chat_commands.pop(int(scope["chat_id"]), None)
        else:
            self.commands.pop(str(params.get("language_code") or ""), None)
        return True

    def commands_seen_by(self, chat_id: int, language: str) -> list[str]:
        """Returns the / commands a private chat is shown: its own list, else the one for its language."""
        own = self.chat_commands.get(chat_id)
        if own is None:
            own = self.commands.get(language, self.commands.get("", []))
        return [command["command"] for command in own]

    async def _m_setwebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = params
        return True

    async def _m_deletewebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()
        return True

    async def _m_getfile(self, params: dict[str, Any]) -> Any:
        file_id = str(params.get("file_id") or "")
        if file_id in self.too_big:
            raise _ApiError(400, "Bad Request: file is too big")
        content = self.files.get(file_id, b"fake file content")
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_size": len(content),
            "file_path": f"files/{file_id}",
        }

    async def _m_sendchataction(self, params: dict[str, Any]) -> Any:
        return True


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
