"""Talk to the bot from a terminal: the same Dispatcher and handlers, Bot API calls printed as text.

Type a message to send it; ``#N`` presses inline button N; ``/attach PATH`` sends a local file as
the officer would (a photo, video, voice note or document, by its extension); ``/quit`` (or
Ctrl-D) leaves.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update

from bot.app import Frontline
from bot.render import html_to_plain

Output = Callable[[str], None]
# Bot API media sends the console shows as a line, by method: the argument holding the file.
MEDIA_METHODS = {
    "sendPhoto": "photo",
    "sendVideo": "video",
    "sendVoice": "voice",
    "sendDocument": "document",
}


def _media_result(kind: str) -> Any:
    """A made-up file in a sent message's answer, shaped as Telegram answers for that kind."""
    file = {"file_id": "console", "file_unique_id": "console"}
    if kind == "photo":
        return [{**file, "width": 1, "height": 1}]
    if kind == "video":
        return {**file, "width": 1, "height": 1, "duration": 0}
    if kind == "voice":
        return {**file, "duration": 0}
    return file


class ConsoleSession(BaseSession):
    """A Bot API 'session' that prints messages instead of sending them over HTTP."""

    def __init__(self, output: Output = print, *, own_chat: int | None = None) -> None:
        super().__init__()
        self.output = output
        self.own_chat = own_chat
        self.buttons: dict[int, tuple[int, int, str]] = {}  # number -> (chat, message id, callback data)
        self.texts: dict[tuple[int, int], str] = {}
        self._numbered: dict[tuple[int, int], list[int]] = {}  # a message's current button numbers
        self._numbers = itertools.count(1)
        self._message_ids = itertools.count(1)
        self.files: dict[str, Path] = {}  # files attached with /attach, by the file id they were given

    async def close(self) -> None:
        """Closes nothing: there is no connection."""

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109  # aiogram's BaseSession signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        """Yields the content of a file attached with /attach (its id is the last part of the URL)."""
        path = self.files.get(url.rsplit("/", 1)[-1])
        if path is not None:
            yield await asyncio.to_thread(path.read_bytes)

    def _show(
        self, chat_id: int, message_id: int, text: str, markup: Any, *, edited: str = "", media: str = ""
    ) -> None:
        prefix = "🤖 " if chat_id == self.own_chat or self.own_chat is None else f"🤖 → chat {chat_id}: "
        if edited:
            prefix += f"({edited}) "
        if media:
            prefix += f"📎 {media} "
        lines = [prefix + html_to_plain(text).replace("\n", "\n   ")]
        # An edit replaces the message's keyboard: its old numbers press nothing any more.
        for number in self._numbered.pop((chat_id, message_id), []):
            self.buttons.pop(number, None)
        if isinstance(markup, InlineKeyboardMarkup):
            numbers: list[int] = []
            for row in markup.inline_keyboard:
                cells = []
                for button in row:
                    if button.callback_data:
                        number = next(self._numbers)
                        self.buttons[number] = (chat_id, message_id, button.callback_data)
                        numbers.append(number)
                        cells.append(f"[#{number} {button.text}]")
                    elif button.url:
                        cells.append(f"[{button.text}: {button.url}]")
                lines.append("   " + "  ".join(cells))
            self._numbered[(chat_id, message_id)] = numbers
        elif isinstance(markup, ReplyKeyboardMarkup):
            rows = [" | ".join(button.text for button in row) for row in markup.keyboard]
            lines.append("   ⌨ " + " / ".join(rows))
        elif isinstance(markup, ReplyKeyboardRemove):
            lines.append("   ⌨ (keyboard removed)")
        self.output("\n".join(lines))

    def _message(
        self, bot: Bot, chat_id: int, message_id: int, text: str, markup: Any, *, caption: bool = False
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": bot.id, "is_bot": True, "first_name": "Frontline"},
            "caption" if caption else "text": text,
        }
        if isinstance(markup, InlineKeyboardMarkup):
            message["reply_markup"] = markup.model_dump(exclude_none=True)
        return message

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109  # aiogram's BaseSession signature
    ) -> TelegramType:
        """Renders one Bot API call as text and answers it like Telegram would."""
        name = method.__api_method__
        args: Any = method
        result: Any = True
        if name == "getMe":
            result = {
                "id": bot.id,
                "is_bot": True,
                "first_name": "Frontline",
                "username": "frontline_console",
            }
        elif name == "sendMessage":
            chat_id = int(args.chat_id)
            message_id = next(self._message_ids)
            self.texts[(chat_id, message_id)] = args.text
            self._show(chat_id, message_id, args.text, args.reply_markup)
            result = self._message(bot, chat_id, message_id, args.text, args.reply_markup)
        elif name == "editMessageText":
            chat_id, message_id = int(args.chat_id), int(args.message_id)
            if self.texts.get((chat_id, message_id)) == args.text:
                raise TelegramBadRequest(method=method, message="Bad Request: message is not modified")
            self.texts[(chat_id, message_id)] = args.text
            self._show(chat_id, message_id, args.text, args.reply_markup, edited="edited")
            result = self._message(bot, chat_id, message_id, args.text, args.reply_markup)
        elif name == "editMessageReplyMarkup":
            chat_id, message_id = int(args.chat_id), int(args.message_id)
            text = self.texts.get((chat_id, message_id), "")
            # The text is unchanged: its first line says which message the new buttons belong to.
            first = html_to_plain(text).strip().splitlines()[:1]
            shown = (first[0][:60] + "…") if first else ""
            self._show(chat_id, message_id, shown, args.reply_markup, edited="buttons changed")
            result = self._message(bot, chat_id, message_id, text, args.reply_markup)
        elif name in MEDIA_METHODS:
            chat_id, message_id = int(args.chat_id), next(self._message_ids)
            file = getattr(args, MEDIA_METHODS[name])
            label = getattr(file, "filename", None) or getattr(file, "path", None) or file
            caption = args.caption or ""
            self.texts[(chat_id, message_id)] = caption
            self._show(chat_id, message_id, caption, args.reply_markup, media=f"{MEDIA_METHODS[name]} {label}")
            result = self._message(bot, chat_id, message_id, caption, args.reply_markup, caption=True)
            result[MEDIA_METHODS[name]] = _media_result(MEDIA_METHODS[name])
        elif name == "sendMediaGroup":
            chat_id = int(args.chat_id)
            result = []
            for item in args.media:
                message_id = next(self._message_ids)
                label = getattr(item.media, "filename", None) or getattr(item.media, "path", None) or item.media
                caption = item.caption or ""
                self._show(chat_id, message_id, caption, None, media=f"{item.type} {label}")
                message = self._message(bot, chat_id, message_id, caption, None, caption=True)
                message[item.type] = _media_result(item.type)
                result.append(message)
        elif name == "deleteMessage":
            chat_id, message_id = int(args.chat_id), int(args.message_id)
            for number in self._numbered.pop((chat_id, message_id), []):
                self.buttons.pop(number, None)
            self.output(f"🤖 (message {message_id} deleted)")
        elif name == "getFile":
            file_id = str(args.file_id)
            path = self.files.get(file_id)
            if path is None:
                raise TelegramBadRequest(method=method, message="Bad Request: invalid file_id")
            result = {"file_id": file_id, "file_unique_id": file_id, "file_size": path.stat().st_size,
                      "file_path": f"console/{file_id}"}
        elif name == "answerCallbackQuery":
            if args.text:
                self.output(f"💬 {args.text}")
        elif name == "getUpdates":
            result = []
        response = self.check_response(bot, method, 200, json.dumps({"ok": True, "result": result}))
        return response.result  # type: ignore[return-value]  # validated against the method's result type


MEDIA_METHODS = {
    "sendPhoto": "photo",
    "sendVideo": "video",
    "sendVoice": "voice",
    "sendDocument": "document",
    "sendMediaGroup": "media",
}
# what a local file is sent as, by its extension (anything else: a document)
ATTACH_KINDS = {
    ".jpg": "photo", ".jpeg": "photo", ".png": "photo", ".webp": "photo",
    ".mp4": "video", ".mov": "video",
    ".ogg": "voice", ".oga": "voice", ".opus": "voice",
}


class Console:
    """Feeds typed lines to the Dispatcher as if they came from one officer's Telegram account."""

    def __init__(self, app: Frontline, session: ConsoleSession, *, badge: str, user_id: int) -> None:
        self.app = app
        self.session = session
        self.badge = badge
        self.user_id = user_id
        # Time-based ids: update ids of earlier console runs are remembered as handled.
        self._update_ids = itertools.count(int(time.time() * 1000))
        self._message_ids = itertools.count(1_000_000)

    def _user(self) -> dict[str, Any]:
        return {"id": self.user_id, "is_bot": False, "first_name": self.badge}

    def _text_update(self, text: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": self.user_id, "type": "private"},
            "from": self._user(),
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"update_id": next(self._update_ids), "message": message}

    def _attach_update(self, name: str) -> dict[str, Any] | None:
        """Builds the update of the officer sending a local file, which getFile and downloads then serve."""
        path = Path(name).expanduser()
        if not name or not path.is_file():
            self.session.output(f"(no such file: {name or '?'}; usage: /attach PATH)")
            return None
        data = path.read_bytes()
        file_id = f"console-{hashlib.sha256(data).hexdigest()[:16]}"
        self.session.files[file_id] = path
        kind = ATTACH_KINDS.get(path.suffix.lower(), "document")
        media: dict[str, Any] = {"file_id": file_id, "file_unique_id": file_id, "file_size": len(data)}
        fields: dict[str, Any]
        if kind == "photo":
            fields = {"photo": [{**media, "width": 1280, "height": 960}]}
        elif kind == "video":
            fields = {"video": {**media, "width": 1280, "height": 720, "duration": 1, "file_name": path.name}}
        elif kind == "voice":
            fields = {"voice": {**media, "duration": 1}}
        else:
            fields = {"document": {**media, "file_name": path.name}}
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": self.user_id, "type": "private"},
            "from": self._user(),
            **fields,
        }
        return {"update_id": next(self._update_ids), "message": message}

    def _press_update(self, number: int) -> dict[str, Any] | None:
        found = self.session.buttons.get(number)
        if found is None:
            return None
        chat_id, message_id, data = found
        text = self.session.texts.get((chat_id, message_id), "")
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": f"console-{next(self._update_ids)}",
                "from": self._user(),
                "chat_instance": "console",
                "message": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private"},
                    "text": text,
                },
                "data": data,
            },
        }

    async def handle(self, line: str) -> bool:
        """Handles one typed line; returns False when the officer wants to leave."""
        line = line.strip()
        if not line:
            return True
        if line in ("/quit", "/exit"):
            return False
        if line.startswith("/attach"):
            raw = self._attach_update(line.removeprefix("/attach").strip())
            if raw is None:
                return True
        elif line.startswith("#") and line[1:].isdigit():
            raw = self._press_update(int(line[1:]))
            if raw is None:
                self.session.output(f"(no button {line})")
                return True
        else:
            raw = self._text_update(line)
        update = Update.model_validate(raw, context={"bot": self.app.bot})
        await self.app.dp.feed_update(self.app.bot, update, console_badge=self.badge)
        return True

    async def run(self, read_line: Callable[[], Awaitable[str]]) -> None:
        """Reads lines until /quit or end of input."""
        while True:
            try:
                line = await read_line()
            except EOFError:
                return
            if not await self.handle(line):
                return


async def read_stdin() -> str:
    """Reads one line from the terminal without blocking the event loop."""
    return await asyncio.to_thread(input, "> ")
