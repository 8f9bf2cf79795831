"""Pushes a message to another officer: an outbox row in the update's transaction, delivered by the worker."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox
from core.identity import Officer


def outbox_buttons(markup: InlineKeyboardMarkup | None) -> list[list[dict[str, str]]] | None:
    """Turns an aiogram inline keyboard into the outbox's plain button rows (callback or URL buttons)."""
    if markup is None:
        return None
    rows: list[list[dict[str, str]]] = []
    for row in markup.inline_keyboard:
        cells: list[dict[str, str]] = []
        for button in row:
            if button.url:
                cells.append({"text": button.text, "url": button.url})
            else:
                cells.append({"text": button.text, "callback_data": button.callback_data or ""})
        rows.append(cells)
    return rows


async def push(
    *,
    session: AsyncSession,
    officer: Officer,
    text: str,
    kind: str,
    dedupe_key: str,
    buttons: InlineKeyboardMarkup | None = None,
    urgent: bool = False,
) -> bool:
    """Queues a message to an active, enrolled officer; tells whether it was queued.

    `urgent` skips quiet hours: only for what the officer is waiting for right now.
    """
    if not officer.active or officer.telegram_user_id is None:
        return False
    await outbox.enqueue(
        session=session,
        officer_id=officer.id,
        text=text,
        kind=kind,
        dedupe_key=dedupe_key,
        buttons=outbox_buttons(buttons),
        urgent=urgent,
    )
    return True
