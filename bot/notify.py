"""Pushes a message to another officer: through the outbox when it exists, else directly."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession

from core import identity
from core.identity import Officer

log = logging.getLogger(__name__)


def outbox_module() -> Any | None:
    """Returns core.outbox if it exists and offers enqueue, else None."""
    try:
        module = importlib.import_module("core.outbox")
    except ModuleNotFoundError as exc:
        if exc.name != "core.outbox":
            raise
        return None
    return module if hasattr(module, "enqueue") else None


def _buttons_for_outbox(markup: InlineKeyboardMarkup | None) -> list[list[dict[str, str]]] | None:
    if markup is None:
        return None
    return [
        [{"text": button.text, "callback_data": button.callback_data or ""} for button in row]
        for row in markup.inline_keyboard
    ]


async def push(
    *,
    bot: Bot,
    session: AsyncSession,
    officer: Officer,
    text: str,
    kind: str,
    dedupe_key: str,
    buttons: InlineKeyboardMarkup | None = None,
    urgent: bool = False,
    use_outbox: bool = True,
) -> bool:
    """Sends (or queues) a message to an officer; tells whether it was sent or queued.

    `urgent` skips quiet hours: only for what the officer is waiting for right now.
    """
    if not officer.active or officer.telegram_user_id is None:
        return False
    outbox = outbox_module() if use_outbox else None
    if outbox is not None:
        await outbox.enqueue(
            session=session,
            officer_id=officer.id,
            text=text,
            kind=kind,
            dedupe_key=dedupe_key,
            buttons=_buttons_for_outbox(buttons),
            urgent=urgent,
        )
        return True
    try:
        await bot.send_message(officer.telegram_user_id, text, reply_markup=buttons)
    except TelegramForbiddenError as exc:
        await identity.mark_unreachable(session=session, officer=officer, reason=str(exc))
        return False
    except TelegramAPIError:
        log.exception("could not push %s to officer %s", kind, officer.badge)
        return False
    return True
