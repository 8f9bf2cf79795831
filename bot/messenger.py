"""The Telegram side of the outbox: core.outbox's Messenger implemented with aiogram."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from core.outbox import MessengerUnavailable, PermanentSendError, RetryAfter, TransientSendError, Unreachable
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

    async def send(
        self,
        *,
        chat_id: int,
        text: str,
        parse_mode: str | None,
        buttons: list[list[dict[str, str]]] | None,
    ) -> int:
        """Sends one message and returns its Telegram message id."""
        try:
            message = await self.bot.send_message(
                chat_id=chat_id, text=text, parse_mode=parse_mode, reply_markup=keyboard(buttons)
            )
        except TelegramRetryAfter as exc:
            raise RetryAfter(exc.retry_after, exc.message) from exc
        except (TelegramForbiddenError, TelegramNotFound) as exc:
            raise Unreachable(exc.message) from exc
        except TelegramBadRequest as exc:
            if any(marker in exc.message.lower() for marker in _GONE):
                raise Unreachable(exc.message) from exc
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
        return message.message_id


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
