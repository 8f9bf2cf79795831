"""The Telegram side of the outbox: core.outbox's Messenger implemented with aiogram."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
)

from core.outbox import (
    Media,
    MessengerUnavailable,
    Outgoing,
    PermanentSendError,
    RetryAfter,
    TransientSendError,
    Unreachable,
)
from core.settings import Settings

log = logging.getLogger(__name__)

# Bad requests that mean the person is gone rather than the message being wrong.
_GONE = ("chat not found", "user not found", "user is deactivated", "peer_id_invalid", "bot was blocked")


class BadBotToken(MessengerUnavailable):
    """The Bot API refused the configured token."""


def make_bot(settings: Settings, *, request_timeout: float = 30.0) -> Bot:
    """Builds an aiogram Bot talking to the configured Bot API server."""
    token = settings.bot_token_value
    if not token:
        raise BadBotToken("FRONTLINE_BOT_TOKEN is not set")
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(settings.telegram_api_base), timeout=request_timeout
    )
    return Bot(token=token, session=session)


def keyboard(buttons: list[list[dict[str, str]]] | None) -> InlineKeyboardMarkup | None:
    """Builds an inline keyboard from the outbox's plain button dicts."""
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=b["text"], url=b["url"])
                if "url" in b
                else InlineKeyboardButton(text=b["text"], callback_data=b.get("callback_data"))
                for b in row
            ]
            for row in buttons
        ]
    )


class TelegramMessenger:
    """Sends outbox messages with an aiogram Bot and speaks in core.outbox's exceptions."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, *, chat_id: int, message: Outgoing) -> int:
        """Sends (or edits) one message and returns its Telegram message id."""
        try:
            return await self._send(chat_id, message)
        except TelegramRetryAfter as exc:
            raise RetryAfter(exc.retry_after, exc.message) from exc
        except (TelegramForbiddenError, TelegramNotFound) as exc:
            raise Unreachable(exc.message) from exc
        except TelegramBadRequest as exc:
            if any(marker in exc.message.lower() for marker in _GONE):
                raise Unreachable(exc.message) from exc
            if message.edit_message_id is not None and "not modified" in exc.message.lower():
                return message.edit_message_id  # the edit is already there: nothing to redo
            raise PermanentSendError(exc.message) from exc
        except TelegramUnauthorizedError as exc:
            # A revoked token stops every send; retrying keeps the rows until someone fixes it.
            raise TransientSendError(f"bot token refused: {exc.message}") from exc
        except (TelegramNetworkError, TelegramServerError) as exc:
            raise TransientSendError(exc.message) from exc
        except ClientDecodeError as exc:
            raise TransientSendError(f"unreadable answer from the Bot API: {exc.message}") from exc
        except TelegramAPIError as exc:
            raise PermanentSendError(exc.message) from exc

    async def _send(self, chat_id: int, message: Outgoing) -> int:
        markup = keyboard(message.buttons)
        text, mode = message.text, message.parse_mode
        if message.edit_message_id is not None:
            edited = await self.bot.edit_message_text(
                chat_id=chat_id,
                message_id=message.edit_message_id,
                text=text,
                parse_mode=mode,
                reply_markup=markup,
            )
            return edited.message_id if isinstance(edited, Message) else message.edit_message_id
        media = message.media
        if not media:
            sent = await self.bot.send_message(chat_id=chat_id, text=text, parse_mode=mode, reply_markup=markup)
            return sent.message_id
        caption = text or None
        if len(media) == 1:
            item = media[0]
            file = _input_file(item)
            if item.kind == "photo":
                sent = await self.bot.send_photo(
                    chat_id, file, caption=caption, parse_mode=mode, reply_markup=markup
                )
            elif item.kind == "video":
                sent = await self.bot.send_video(
                    chat_id, file, caption=caption, parse_mode=mode, reply_markup=markup
                )
            elif item.kind == "voice":
                sent = await self.bot.send_voice(
                    chat_id, file, caption=caption, parse_mode=mode, reply_markup=markup
                )
            else:
                sent = await self.bot.send_document(
                    chat_id, file, caption=caption, parse_mode=mode, reply_markup=markup
                )
            return sent.message_id
        group: list[InputMediaPhoto | InputMediaVideo | InputMediaDocument] = []
        for index, item in enumerate(media):
            # only the first item carries the caption: Telegram shows it under the whole album
            cap, cap_mode = (caption, mode) if index == 0 else (None, None)
            file = _input_file(item)
            if item.kind == "photo":
                group.append(InputMediaPhoto(media=file, caption=cap, parse_mode=cap_mode))
            elif item.kind == "video":
                group.append(InputMediaVideo(media=file, caption=cap, parse_mode=cap_mode))
            else:
                group.append(InputMediaDocument(media=file, caption=cap, parse_mode=cap_mode))
        messages = await self.bot.send_media_group(chat_id, media=group)  # type: ignore[arg-type]  # a list of one media kind, as Telegram requires
        return messages[0].message_id


def _input_file(media: Media) -> str | FSInputFile:
    """Returns what aiogram sends for a media item: the file id, or the local file to upload."""
    if media.file_id is not None:
        return media.file_id
    assert media.path is not None  # Media checks it has exactly one of the two
    if not Path(media.path).is_file():
        # checked here: aiohttp would report it mid-upload as a network error, and retry forever
        raise PermanentSendError(f"file to send is gone: {media.path}")
    return FSInputFile(media.path, filename=media.filename)


@asynccontextmanager
async def telegram_messenger(settings: Settings) -> AsyncIterator[TelegramMessenger]:
    """Opens a TelegramMessenger for the worker and closes its HTTP session afterwards."""
    bot = make_bot(settings)
    try:
        try:
            await bot.get_me()
        except TelegramUnauthorizedError as exc:
            raise BadBotToken(f"the Bot API refused FRONTLINE_BOT_TOKEN: {exc.message}") from exc
        except TelegramAPIError as exc:
            # Telegram being unreachable at start-up is no reason not to start: rows wait and retry.
            log.warning("could not check the bot token at start-up: %s", exc)
        yield TelegramMessenger(bot)
    finally:
        await bot.session.close()
