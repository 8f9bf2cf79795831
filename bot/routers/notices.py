"""我的通知 and 已阅: an officer's risk tips, the unacknowledged first, and acknowledging one.

Pressing 已阅 records one acknowledgement row for the officer and the tip, with its time, and
answers with a short confirmation; a second press says when it was acknowledged. The tip's
message itself is not edited: during a broadcast every message Telegram carries for the bot
counts against the same limit as the tips still going out, and a broadcast to 10,000 officers
would double its own sending time if each acknowledgement edited a message. 我的通知 shows
which tips are acknowledged.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.keyboards import NOTICES, BroadcastAck, MenuLabel, NoticeAction
from bot.middlewares import Enrolled
from bot.render import esc
from broadcasts import service
from broadcasts.render import first_line, render_tip
from broadcasts.service import BroadcastError
from core import identity
from core.identity import Officer
from core.settings import Settings

NOTICES_SHOWN = 10


def _ack_markup(broadcast_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("✅ Acknowledge"), callback_data=BroadcastAck(broadcast_id=broadcast_id).pack())]
        ]
    )


async def notices_handler(message: Message, officer: Officer, session: AsyncSession, settings: Settings) -> None:
    """Lists the officer's recent tips, the ones not yet acknowledged first, with a button to open each."""
    notices = await service.notices_for(session=session, officer_id=officer.id, limit=NOTICES_SHOWN)
    if not notices:
        await message.answer(_("You have no notices."))
        return
    unread = await service.count_unread(session=session, officer_id=officer.id)
    title = _("<b>My notices</b>")
    if unread:
        title += esc(_(" ({n} not yet acknowledged)").format(n=unread))
    lines = [title]
    rows = []
    for number, notice in enumerate(notices, start=1):
        broadcast = notice.broadcast
        mark = "✅" if notice.acknowledged_at else "🔴"
        when = (broadcast.released_at or broadcast.send_at).astimezone(settings.tz).strftime("%m-%d %H:%M")
        urgent = "🚨 " if broadcast.urgent else ""
        lines.append(f"{mark} {number}. {when} {urgent}{esc(first_line(broadcast.text, 50))}")
        rows.append(
            [
                InlineKeyboardButton(
                    text=f"{mark} {number}. {first_line(broadcast.text, 28)}",
                    callback_data=NoticeAction(action="open", broadcast_id=broadcast.id).pack(),
                )
            ]
        )
    await message.answer("\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def notice_callback(
    query: CallbackQuery,
    callback_data: NoticeAction,
    officer: Officer,
    session: AsyncSession,
    settings: Settings,
    i18n: I18n,
) -> None:
    """Shows one tip again as the officer got it, with 已阅 if it is not acknowledged yet."""
    try:
        broadcast = await service.visible_to(session=session, broadcast_id=callback_data.broadcast_id, officer=officer)
    except BroadcastError:
        await query.answer(_("This tip was not sent to you."), show_alert=True)
        return
    sender = await identity.get_officer_by_id(session=session, officer_id=broadcast.sender_id)
    if sender is None or not isinstance(query.message, Message):
        await query.answer()
        return
    await query.answer()
    text = render_tip(service.tip_of(broadcast, sender), i18n.current_locale, settings.tz)
    at = await service.acknowledged_at(session=session, broadcast_id=broadcast.id, officer_id=officer.id)
    markup = None
    if at is None and await service.is_recipient(session=session, broadcast_id=broadcast.id, officer_id=officer.id):
        markup = _ack_markup(broadcast.id)
    media = service.media_of(broadcast)
    target = query.message
    if media is not None and media.file_id is not None:
        if media.kind == "photo":
            await target.answer_photo(media.file_id, caption=text, reply_markup=markup)
        else:
            await target.answer_document(media.file_id, caption=text, reply_markup=markup)
    else:
        await target.answer(text, reply_markup=markup)
    if at is not None:
        when = at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
        await target.answer(esc(_("✅ You acknowledged this tip on {time}.").format(time=when)))


async def ack_callback(
    query: CallbackQuery, callback_data: BroadcastAck, officer: Officer, session: AsyncSession, settings: Settings
) -> None:
    """Records the officer's acknowledgement (已阅) of a tip, once, and confirms it."""
    try:
        ack = await service.acknowledge(session=session, broadcast_id=callback_data.broadcast_id, officer=officer)
    except BroadcastError as error:
        text = (
            _("This is the preview: the officers' copies have a working button.")
            if error.code == "preview"
            else _("This tip was not sent to you.")
        )
        await query.answer(text, show_alert=True)
        return
    if ack.new:
        await query.answer(_("✅ Acknowledged. Thank you."))
        return
    when = ack.acknowledged_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    await query.answer(_("You acknowledged this tip on {time}.").format(time=when))


def create_router() -> Router:
    """Builds the notices router (a new one per application)."""
    router = Router(name="notices")
    router.message.filter(Enrolled())
    router.callback_query.filter(Enrolled())
    router.message.register(notices_handler, Command("notices"))
    router.message.register(notices_handler, MenuLabel(NOTICES))
    router.callback_query.register(ack_callback, BroadcastAck.filter())
    router.callback_query.register(notice_callback, NoticeAction.filter())
    return router
