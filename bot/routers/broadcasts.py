"""发布通知: the legal brigade writes a risk tip, previews it, sends or schedules it, and follows it.

The compose flow is a guided conversation kept in the FSM storage (the database or Redis), so a
half-written tip survives a restart: text (a photo or document may come with it as its
caption), an optional attachment, linked articles typed as references (刑诉法第79条), the
audience on buttons with the head count, then a preview exactly as officers will see it and
send now, schedule, or mark urgent. After sending, the control message becomes the live status
message (kept up to date by the broadcast loop through the outbox); its buttons show the
figures per unit, who has not acknowledged, and remind or cancel. Sent tips can be listed and
searched by words, date and unit. Every handler checks the role, whatever the menu shows.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, FSInputFile, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.keyboards import (
    ASK,
    BROADCAST,
    HELP,
    NEW_TASK,
    NOTICES,
    REMINDERS,
    RIGHTS,
    RIGHTS_OFFICE,
    SETTINGS,
    TASKS,
    UNANSWERED,
    BroadcastAck,
    BroadcastAction,
    ComposeAction,
    MenuLabel,
)
from bot.messenger import keyboard, make_bot
from bot.middlewares import Enrolled
from bot.render import esc
from broadcasts import audience as audiences
from broadcasts import service
from broadcasts.articles import ArticleQuote, load_index
from broadcasts.audience import ROLE_NAMES, Audience, AudienceError, HeadCount
from broadcasts.figures import (
    count_reminder_targets,
    count_unacknowledged,
    figures,
    unacknowledged,
    unit_figures,
)
from broadcasts.models import Broadcast
from broadcasts.render import (
    PREVIEW_ID,
    first_line,
    render_status,
    render_tip,
    render_unacknowledged,
    render_units,
    status_buttons,
    status_digest,
)
from broadcasts.service import BroadcastError
from core import audit, identity
from core.db import utcnow
from core.identity import Officer, Role, Unit
from core.outbox import Media, PermanentSendError, RetryAfter, TransientSendError, Unreachable, quiet_until
from core.settings import Settings

UNITS_PER_PAGE = 8
LIST_LIMIT = 8
UNREAD_SHOWN = 80
MENU_LABELS = (ASK, REMINDERS, TASKS, NOTICES, RIGHTS, HELP, SETTINGS, UNANSWERED, BROADCAST, NEW_TASK, RIGHTS_OFFICE)
ROLES = (Role.OFFICER.value, Role.LEGAL.value, Role.RIGHTS.value, Role.SUPERVISOR.value, Role.ADMIN.value)


class Compose(StatesGroup):
    """Where a legal officer is in writing a tip."""

    text = State()
    media = State()
    articles = State()
    audience = State()
    confirm = State()
    schedule = State()
    search = State()


# --- words for the domain's refusals ------------------------------------------------------------


def error_text(error: BroadcastError) -> str:
    """Says politely, in the officer's language, why a broadcast request could not be carried out."""
    detail = error.detail
    texts = {
        "not_found": _("This tip no longer exists."),
        "forbidden": _("Broadcasting is for the legal brigade only."),
        "not_active": _("Broadcasting is for the legal brigade only."),
        "empty_text": _("The tip needs some text."),
        "text_too_long": _("The text is too long: please keep it under {n} characters.").format(n=detail),
        "too_long": _(
            "The tip does not fit in one Telegram message: please shorten it by about {n} characters "
            "(long article quotes are shortened already)."
        ).format(n=detail),
        "no_recipients": _("Nobody is in this audience. Please choose other units or roles."),
        "in_past": _("That time has passed. Please choose a time in the future."),
        "not_recipient": _("This tip was not sent to you."),
        "preview": _("This is the preview: the officers' copies have a working button."),
        "not_released": _("The tip has not been sent yet."),
        "already_cancelled": _("This tip was already cancelled."),
        "nothing_to_cancel": _("Everything has been sent already; nothing is left to cancel."),
        "reminders_used": _("All {n} reminder rounds have been used.").format(n=detail),
        "too_soon": _("Reminders are at least an hour apart. The next one is possible at {time}.").format(
            time=detail
        ),
        "nobody_to_remind": _("Everyone the tip reached has acknowledged it."),
        "failed": _("The tip could not be sent: {reason}").format(reason=detail),
    }
    return texts.get(error.code, str(error))


# --- the draft ----------------------------------------------------------------------------------


def _draft(data: dict[str, Any]) -> dict[str, Any]:
    draft = data.get("bc")
    return dict(draft) if isinstance(draft, dict) else {}


async def _load(state: FSMContext) -> dict[str, Any]:
    return _draft(await state.get_data())


async def _save(state: FSMContext, draft: dict[str, Any]) -> None:
    await state.update_data(bc=draft)


def _new_draft() -> dict[str, Any]:
    return {
        "text": "",
        "media": None,
        "articles": [],
        "everyone": False,
        "units": {},
        "roles": [],
        "within": True,
        "urgent": False,
        "send_at": None,
        "page": 0,
        "step": "text",
    }


def _btn(text: str, action: str, arg: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=ComposeAction(action=action, arg=arg).pack())


def _markup(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def _unit_tree(session: AsyncSession) -> list[tuple[Unit, int, bool]]:
    """Lists units depth first: (unit, depth, has sub-units)."""
    units = await identity.list_units(session=session)
    children: dict[int | None, list[Unit]] = {}
    for unit in units:
        children.setdefault(unit.parent_id, []).append(unit)
    ordered: list[tuple[Unit, int, bool]] = []

    def walk(parent: int | None, depth: int) -> None:
        for unit in sorted(children.get(parent, []), key=lambda u: u.name):
            ordered.append((unit, depth, unit.id in children))
            walk(unit.id, depth + 1)

    walk(None, 0)
    return ordered


async def _audience(session: AsyncSession, draft: dict[str, Any]) -> Audience | None:
    """Builds the draft's audience from its buttons (units by id, as they are named now)."""
    chosen: dict[str, str] = draft.get("units") or {}
    names: dict[int, str] = {}
    if chosen:
        rows = await session.execute(select(Unit.id, Unit.name).where(Unit.id.in_([int(k) for k in chosen])))
        names = {row.id: row.name for row in rows.all()}
    units = [(names[int(k)], mode == "tree") for k, mode in chosen.items() if int(k) in names]
    try:
        return audiences.build(
            everyone=bool(draft.get("everyone")),
            units=units,
            roles=list(draft.get("roles") or []),
            roles_within_units=bool(draft.get("within", True)),
        )
    except AudienceError:
        return None


def _count_line(count: HeadCount) -> str:
    notes = []
    if count.not_enrolled:
        notes.append(_("{n} not yet enrolled get it when they enroll").format(n=count.not_enrolled))
    if count.unreachable:
        notes.append(_("{n} cannot be reached now").format(n=count.unreachable))
    if not notes:
        return _("{n} officers").format(n=count.total)
    return _("{n} officers ({notes})").format(n=count.total, notes=_("; ").join(notes))


# --- entry: the broadcast home ------------------------------------------------------------------


async def broadcast_home(message: Message, officer: Officer, state: FSMContext) -> None:
    """Offers a new tip, the sent ones and search; and the unfinished draft, if there is one."""
    if not service.may_broadcast(officer):
        await message.answer(_("Broadcasting is for the legal brigade only."))
        return
    draft = await _load(state)
    rows = [[_btn("✏️ " + _("New tip"), "new")]]
    text = "📢 <b>" + esc(_("Risk-tip broadcasts")) + "</b>"
    if draft.get("text") or draft.get("media"):
        shown = first_line(draft.get("text") or _("(attachment only)"), 40)
        text += "\n\n" + esc(_("You have an unfinished tip: “{start}”").format(start=shown))
        rows = [[_btn("▶️ " + _("Continue it"), "resume"), _btn("✏️ " + _("Start over"), "new")]]
    rows.append([_btn("📋 " + _("Sent tips"), "list"), _btn("🔍 " + _("Search tips"), "search")])
    await message.answer(text, reply_markup=_markup(rows))


async def _ask_text(target: Message, state: FSMContext, draft: dict[str, Any]) -> None:
    draft["step"] = "text"
    await _save(state, draft)
    await state.set_state(Compose.text)
    await target.answer(
        _(
            "Send the text of the tip (up to {n} characters). A photo or document may come with it "
            "as its caption. Send /cancel to stop; the draft is kept until you do."
        ).format(n=service.MAX_TEXT)
    )


async def _ask_media(target: Message, state: FSMContext, draft: dict[str, Any]) -> None:
    draft["step"] = "media"
    await _save(state, draft)
    await state.set_state(Compose.media)
    rows = [[_btn("⏭ " + _("No attachment"), "skip_media")]]
    if draft.get("media"):
        rows = [[_btn("✔ " + _("Keep the attachment"), "skip_media"), _btn("🗑 " + _("Remove it"), "drop_media")]]
    await target.answer(_("Attach a photo or document to the tip, or go on without one."), reply_markup=_markup(rows))


def _articles_text(draft: dict[str, Any]) -> str:
    quotes = [ArticleQuote.from_json(a) for a in draft.get("articles") or []]
    lines = [
        esc(
            _(
                "Link articles from the knowledge base: type references such as 刑诉法第79条, "
                "治安法第83条 (several at once are fine), or go on without."
            )
        )
    ]
    if quotes:
        lines.append("")
        lines.append("<b>" + esc(_("Linked:")) + "</b>")
        for quote in quotes:
            lines.append(f"📖 {esc(quote.label)} ({esc(quote.version)})")
    return "\n".join(lines)


async def _ask_articles(target: Message, state: FSMContext, draft: dict[str, Any]) -> None:
    draft["step"] = "articles"
    await _save(state, draft)
    await state.set_state(Compose.articles)
    rows = [[_btn("➡️ " + _("Done with articles"), "articles_done")]]
    if draft.get("articles"):
        rows[0].append(_btn("🗑 " + _("Remove all"), "articles_clear"))
    await target.answer(_articles_text(draft), reply_markup=_markup(rows))


# --- the audience panel -------------------------------------------------------------------------


async def _audience_panel(
    session: AsyncSession, draft: dict[str, Any], officer: Officer
) -> tuple[str, InlineKeyboardMarkup]:
    chosen = await _audience(session, draft)
    lines = ["👥 <b>" + esc(_("Who should get this tip?")) + "</b>"]
    if chosen is None:
        lines.append(esc(_("Nobody chosen yet.")))
    else:
        describe = audiences.describe(chosen, _)
        count = await audiences.head_count(session=session, audience=chosen, exclude_officer_id=officer.id)
        lines.append(esc(_("Chosen: {audience}").format(audience=describe)))
        lines.append("<b>" + esc(_("Head count: {count}").format(count=_count_line(count))) + "</b>")
    units = len(draft.get("units") or {})
    roles = len(draft.get("roles") or [])
    rows = [
        [_btn(("✅ " if draft.get("everyone") else "▫️ ") + _("All officers"), "everyone")],
        [
            _btn("🏢 " + _("Units ({n})").format(n=units), "units"),
            _btn("👮 " + _("Roles ({n})").format(n=roles), "roles"),
        ],
    ]
    if roles and (units or draft.get("everyone")):
        label = (
            _("Roles: only within the chosen units")
            if draft.get("within", True) and units
            else _("Roles: in addition to the units")
        )
        if units:
            rows.append([_btn("🔀 " + label, "within")])
    if chosen is not None:
        rows.append([_btn("➡️ " + _("Preview the tip"), "to_preview")])
    return "\n".join(lines), _markup(rows)


async def _units_panel(session: AsyncSession, draft: dict[str, Any]) -> tuple[str, InlineKeyboardMarkup]:
    tree = await _unit_tree(session)
    chosen: dict[str, str] = draft.get("units") or {}
    pages = max(1, (len(tree) + UNITS_PER_PAGE - 1) // UNITS_PER_PAGE)
    page = min(max(0, int(draft.get("page") or 0)), pages - 1)
    rows = []
    for unit, depth, has_children in tree[page * UNITS_PER_PAGE : (page + 1) * UNITS_PER_PAGE]:
        mode = chosen.get(str(unit.id))
        mark = "▫️"
        if mode == "tree":
            mark = "🌳" if has_children else "✅"
        elif mode == "only":
            mark = "📍" if has_children else "✅"
        rows.append([_btn(f"{mark} {'· ' * depth}{unit.name}"[:60], "unit", str(unit.id))])
    nav = []
    if page > 0:
        nav.append(_btn("◀", "page", str(page - 1)))
    if pages > 1:
        nav.append(_btn(f"{page + 1}/{pages}", "page", str(page)))
    if page < pages - 1:
        nav.append(_btn("▶", "page", str(page + 1)))
    if nav:
        rows.append(nav)
    rows.append([_btn("✔ " + _("Done choosing"), "units_done")])
    text = "🏢 <b>" + esc(_("Choose units")) + "</b>\n" + esc(
        _("Press a unit to choose it: 🌳 with its sub-units, 📍 this unit only, ▫️ not chosen.")
    )
    return text, _markup(rows)


def _roles_panel(draft: dict[str, Any]) -> tuple[str, InlineKeyboardMarkup]:
    chosen = set(draft.get("roles") or [])
    rows = [
        [_btn(("✅ " if role in chosen else "▫️ ") + _(ROLE_NAMES[role]), "role", role)] for role in ROLES
    ]
    rows.append([_btn("✔ " + _("Done choosing"), "roles_done")])
    return "👮 <b>" + esc(_("Choose roles")) + "</b>", _markup(rows)


async def _show_audience(
    target: Message, session: AsyncSession, state: FSMContext, draft: dict[str, Any], officer: Officer, language: str
) -> None:
    draft["step"] = "audience"
    await _save(state, draft)
    await state.set_state(Compose.audience)
    text, markup = await _audience_panel(session, draft, officer)
    await target.answer(text, reply_markup=markup)


async def _edit_panel(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):  # "message is not modified" after a double press
            await query.message.edit_text(text, reply_markup=markup)


# --- preview and confirmation -------------------------------------------------------------------


def _media(draft: dict[str, Any]) -> Media | None:
    media = draft.get("media")
    if not isinstance(media, dict):
        return None
    return Media(kind=str(media["kind"]), file_id=str(media["file_id"]), filename=media.get("filename"))


async def _send_tip(
    target: Message, text: str, media: Media | None, markup: InlineKeyboardMarkup | None
) -> Message:
    """Sends a tip to this chat as officers get it (the same rendering, attachment and button)."""
    if media is not None and media.file_id is not None:
        if media.kind == "photo":
            return await target.answer_photo(media.file_id, caption=text, reply_markup=markup)
        return await target.answer_document(media.file_id, caption=text, reply_markup=markup)
    return await target.answer(text, reply_markup=markup)


async def _show_preview(
    target: Message,
    session: AsyncSession,
    state: FSMContext,
    draft: dict[str, Any],
    officer: Officer,
    settings: Settings,
    language: str,
) -> None:
    """Shows the tip exactly as officers will get it, then what will happen and the buttons to do it."""
    chosen = await _audience(session, draft)
    if chosen is None:
        await target.answer(_("Choose who should get the tip first."))
        await _show_audience(target, session, state, draft, officer, language)
        return
    quotes = [ArticleQuote.from_json(a) for a in draft.get("articles") or []]
    media = _media(draft)
    try:
        tip = service.check_draft(
            text=draft.get("text") or "",
            sender=officer,
            settings=settings,
            articles=quotes,
            has_media=media is not None,
            urgent=bool(draft.get("urgent")),
        )
    except BroadcastError as error:
        await target.answer(error_text(error))
        await _edit_step(target, session, state, draft, officer, language, "text")
        return
    count = await audiences.head_count(session=session, audience=chosen, exclude_officer_id=officer.id)
    if count.total == 0:
        await target.answer(_("Nobody is in this audience. Please choose other units or roles."))
        await _show_audience(target, session, state, draft, officer, language)
        return
    draft["step"] = "confirm"
    await _save(state, draft)
    await state.set_state(Compose.confirm)
    ack = _markup([[InlineKeyboardButton(text=_("✅ Acknowledge"), callback_data=BroadcastAck(broadcast_id=PREVIEW_ID).pack())]])
    await _send_tip(target, render_tip(tip, language, settings.tz), media, ack)
    lines = ["☝️ " + esc(_("This is exactly what officers will see."))]
    lines.append("👥 " + esc(audiences.describe(chosen, _)) + " — <b>" + esc(_count_line(count)) + "</b>")
    send_at = _send_at(draft)
    if send_at is None:
        lines.append("🕒 " + esc(_("Send: now")))
    else:
        when = send_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
        lines.append("🕒 " + esc(_("Send: at {time}").format(time=when)))
    if draft.get("urgent"):
        lines.append("🚨 " + esc(_("Urgent: quiet hours do not hold it back.")))
    else:
        lines.append(
            "🌙 "
            + esc(
                _("Not urgent: officers in their quiet hours ({window}) get it when those end.").format(
                    window=settings.quiet_hours
                )
            )
        )
    go = (
        _btn("🚀 " + _("Send now"), "send")
        if send_at is None
        else _btn("🚀 " + _("Schedule for {time}").format(time=send_at.astimezone(settings.tz).strftime("%m-%d %H:%M")), "send")
    )
    later = _btn("🕒 " + _("Send later…"), "schedule") if send_at is None else _btn("🕒 " + _("Send now instead"), "now")
    rows = [
        [go],
        [later, _btn(("🔕 " + _("Not urgent")) if draft.get("urgent") else ("🚨 " + _("Mark urgent")), "urgent")],
        [
            _btn("✏️ " + _("Edit text"), "edit", "text"),
            _btn("📎 " + _("Edit attachment"), "edit", "media"),
            _btn("📖 " + _("Edit articles"), "edit", "articles"),
            _btn("👥 " + _("Edit audience"), "edit", "audience"),
        ],
        [_btn("🗑 " + _("Discard the draft"), "discard")],
    ]
    await target.answer("\n".join(lines), reply_markup=_markup(rows))


def _send_at(draft: dict[str, Any]) -> datetime | None:
    value = draft.get("send_at")
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


_DATE_TIME = re.compile(r"^\s*(?:(\d{4})[-/.年])?(\d{1,2})[-/.月](\d{1,2})日?\s+(\d{1,2})[:：点](\d{2})分?\s*$")
_TIME_ONLY = re.compile(r"^\s*(\d{1,2})[:：](\d{2})\s*$")


def parse_send_time(text: str, settings: Settings, now: datetime) -> datetime | None:
    """Reads a typed send time: 2026-12-01 08:30, 12-01 08:30 (this year) or 08:30 (the next one)."""
    local_now = now.astimezone(settings.tz)
    match = _DATE_TIME.match(text)
    try:
        if match:
            year = int(match.group(1)) if match.group(1) else local_now.year
            return datetime(
                year,
                int(match.group(2)),
                int(match.group(3)),
                int(match.group(4)),
                int(match.group(5)),
                tzinfo=settings.tz,
            )
        match = _TIME_ONLY.match(text)
        if match:
            candidate = datetime.combine(
                local_now.date(), datetime.min.time(), tzinfo=settings.tz
            ).replace(hour=int(match.group(1)), minute=int(match.group(2)))
            return candidate if candidate > local_now else candidate + timedelta(days=1)
    except ValueError:
        return None
    return None


def _quick_times(settings: Settings, now: datetime) -> list[tuple[str, datetime]]:
    local = now.astimezone(settings.tz)
    tomorrow = local.date() + timedelta(days=1)
    picks = [
        (_("In 1 hour"), (local + timedelta(hours=1)).replace(second=0, microsecond=0)),
        (_("Tomorrow 08:00"), datetime.combine(tomorrow, datetime.min.time(), tzinfo=settings.tz).replace(hour=8)),
        (_("Tomorrow 14:00"), datetime.combine(tomorrow, datetime.min.time(), tzinfo=settings.tz).replace(hour=14)),
    ]
    return picks


# --- message handlers of the flow ---------------------------------------------------------------


def _photo_or_document(message: Message) -> dict[str, Any] | None:
    if message.photo:
        return {"kind": "photo", "file_id": message.photo[-1].file_id, "filename": None}
    if message.document is not None:
        return {"kind": "document", "file_id": message.document.file_id, "filename": message.document.file_name}
    return None


async def text_typed(
    message: Message, officer: Officer, state: FSMContext, session: AsyncSession, settings: Settings, i18n: I18n
) -> None:
    """Takes the tip's text (from a message, or a photo's or document's caption with the attachment)."""
    if not service.may_broadcast(officer):
        await state.set_state(None)
        return
    draft = await _load(state) or _new_draft()
    attachment = _photo_or_document(message)
    text = (message.text or message.caption or "").strip()
    if attachment is not None:
        draft["media"] = attachment
    if not text:
        await message.answer(_("Attachment kept. Now send the text of the tip."))
        await _save(state, draft)
        return
    if len(text) > service.MAX_TEXT:
        await message.answer(
            _("The text is too long: please keep it under {n} characters.").format(n=service.MAX_TEXT)
        )
        return
    draft["text"] = text
    if draft.get("step") == "edit":
        await _show_preview(message, session, state, draft, officer, settings, i18n.current_locale)
    elif attachment is not None:
        await _ask_articles(message, state, draft)
    else:
        await _ask_media(message, state, draft)


async def media_sent(
    message: Message, officer: Officer, state: FSMContext, session: AsyncSession, settings: Settings, i18n: I18n
) -> None:
    """Takes the attachment; a caption, if any, replaces nothing (the text was given already)."""
    draft = await _load(state)
    attachment = _photo_or_document(message)
    if attachment is None:
        await message.answer(_("Please send a photo or a document, or press “No attachment”."))
        return
    draft["media"] = attachment
    if draft.get("edit_return"):
        draft.pop("edit_return")
        await _show_preview(message, session, state, draft, officer, settings, i18n.current_locale)
        return
    await _ask_articles(message, state, draft)


async def media_not_given(message: Message) -> None:
    """Reminds the officer what the attachment step expects."""
    await message.answer(_("Please send a photo or a document, or press “No attachment”."))


async def articles_typed(message: Message, state: FSMContext, settings: Settings) -> None:
    """Looks the typed references up in the knowledge base and links the articles found."""
    draft = await _load(state)
    index = load_index(settings)
    found, missing = index.find(message.text or "")
    articles = [ArticleQuote.from_json(a) for a in draft.get("articles") or []]
    for quote in found:
        if quote not in articles:
            articles.append(quote)
    if len(articles) > 5:
        await message.answer(_("A tip links at most {n} articles.").format(n=5))
        articles = articles[:5]
    draft["articles"] = [a.to_json() for a in articles]
    if missing:
        await message.answer(
            _("Not found in the knowledge base: {refs}. Please check the law and the article number.").format(
                refs="、".join(missing)
            )
        )
    await _ask_articles(message, state, draft)


async def schedule_typed(
    message: Message, officer: Officer, state: FSMContext, session: AsyncSession, settings: Settings, i18n: I18n
) -> None:
    """Takes a typed send time; a bad or past one gets a polite hint."""
    draft = await _load(state)
    now = utcnow()
    when = parse_send_time(message.text or "", settings, now)
    if when is None:
        await message.answer(_("Please type a time like 2026-12-01 08:30 (or 08:30 for the next one), or /cancel."))
        return
    if when <= now:
        await message.answer(_("That time has passed. Please choose a time in the future."))
        return
    await _set_schedule(message, session, state, draft, officer, settings, i18n.current_locale, when)


async def _set_schedule(
    target: Message,
    session: AsyncSession,
    state: FSMContext,
    draft: dict[str, Any],
    officer: Officer,
    settings: Settings,
    language: str,
    when: datetime,
) -> None:
    draft["send_at"] = when.isoformat()
    if not draft.get("urgent") and quiet_until(when, settings.quiet_hours, settings.tz) is not None:
        await target.answer(
            _(
                "Note: {time} is within the quiet hours ({window}); officers get a tip that is not urgent "
                "when their quiet hours end."
            ).format(time=when.astimezone(settings.tz).strftime("%H:%M"), window=settings.quiet_hours)
        )
    await _show_preview(target, session, state, draft, officer, settings, language)


async def search_typed(
    message: Message, officer: Officer, state: FSMContext, session: AsyncSession, settings: Settings, i18n: I18n
) -> None:
    """Searches sent tips by words, a date or month, and a unit or role."""
    await state.set_state(None)
    words, since, until, audience = parse_search(message.text or "", settings)
    found = await service.search(
        session=session, text=" ".join(words) or None, since=since, until=until, audience=audience, limit=LIST_LIMIT
    )
    if not found:
        await message.answer(_("No tips found."))
        return
    await _list_answer(message, session, found, settings, i18n.current_locale, _("Tips found:"))


_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


def parse_search(text: str, settings: Settings) -> tuple[list[str], datetime | None, datetime | None, str | None]:
    """Splits a search into words, a day or month (since, until) and a unit: or role: filter."""
    words: list[str] = []
    since = until = None
    audience: str | None = None
    for token in text.split():
        month = _MONTH.match(token)
        if month:
            start = date(int(month.group(1)), int(month.group(2)), 1) if 1 <= int(month.group(2)) <= 12 else None
            if start is not None:
                end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
                since = datetime.combine(start, datetime.min.time(), tzinfo=settings.tz)
                until = datetime.combine(end, datetime.min.time(), tzinfo=settings.tz)
                continue
        with contextlib.suppress(ValueError):
            day = date.fromisoformat(token)
            since = datetime.combine(day, datetime.min.time(), tzinfo=settings.tz)
            until = since + timedelta(days=1)
            continue
        lowered = token.lower()
        if lowered.startswith(("unit:", "unit-only:", "单位:", "单位：")):
            audience = token.split(":", 1)[-1].split("：", 1)[-1]
            continue
        if lowered.startswith("role:"):
            audience = lowered
            continue
        words.append(token)
    return words, since, until, audience


async def _list_answer(
    target: Message, session: AsyncSession, found: list[Broadcast], settings: Settings, language: str, title: str
) -> None:
    lines = ["<b>" + esc(title) + "</b>"]
    rows = []
    states = {
        "scheduled": _("scheduled"),
        "sending": _("sending"),
        "sent": _("sent"),
        "cancelled": _("cancelled"),
        "failed": _("not sent"),
    }
    for number, broadcast in enumerate(found, start=1):
        counted = await figures(session=session, broadcast_id=broadcast.id)
        when = broadcast.send_at.astimezone(settings.tz).strftime("%m-%d %H:%M")
        lines.append(
            f"{number}. #{broadcast.id} {when} · {esc(states.get(broadcast.status, broadcast.status))} · "
            + esc(
                _("{sent}/{n} delivered, {pct}% acknowledged").format(
                    sent=counted.sent, n=counted.recipients, pct=counted.ack_percent
                )
            )
            + f"\n    <i>{esc(first_line(broadcast.text, 50))}</i>"
        )
        rows.append(
            [
                InlineKeyboardButton(
                    text=f"{number}. #{broadcast.id} {first_line(broadcast.text, 24)}",
                    callback_data=BroadcastAction(action="show", broadcast_id=broadcast.id).pack(),
                )
            ]
        )
    await target.answer("\n".join(lines), reply_markup=_markup(rows))


# --- the compose buttons ------------------------------------------------------------------------


async def compose_callback(
    query: CallbackQuery,
    callback_data: ComposeAction,
    officer: Officer,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    i18n: I18n,
) -> None:
    """Handles every button of the compose flow and the broadcast home."""
    if not service.may_broadcast(officer):
        await query.answer(_("Broadcasting is for the legal brigade only."), show_alert=True)
        return
    if not isinstance(query.message, Message):
        await query.answer()
        return
    target = query.message
    action, arg = callback_data.action, callback_data.arg
    language = i18n.current_locale
    draft = await _load(state)
    if action == "new":
        await query.answer()
        await _ask_text(target, state, _new_draft())
        return
    if action == "list":
        await query.answer()
        found = await service.search(session=session, limit=LIST_LIMIT)
        if not found:
            await target.answer(_("No tips have been sent yet."))
            return
        await _list_answer(target, session, found, settings, language, _("Recent tips:"))
        return
    if action == "search":
        await query.answer()
        await state.set_state(Compose.search)
        await target.answer(
            _(
                "Type words to look for. Add a day (2026-11-05) or a month (2026-11), and unit:NAME or "
                "role:ROLE, to narrow it down."
            )
        )
        return
    if not draft:
        await query.answer(_("This draft is no longer open. Start a new tip from the menu."), show_alert=True)
        return
    await query.answer()
    if action == "resume":
        await _resume(target, session, state, draft, officer, settings, language)
    elif action == "skip_media":
        if draft.pop("edit_return", None):
            await _show_preview(target, session, state, draft, officer, settings, language)
        else:
            await _ask_articles(target, state, draft)
    elif action == "drop_media":
        draft["media"] = None
        if draft.pop("edit_return", None):
            await _show_preview(target, session, state, draft, officer, settings, language)
        else:
            await _ask_articles(target, state, draft)
    elif action == "articles_clear":
        draft["articles"] = []
        await _ask_articles(target, state, draft)
    elif action == "articles_done":
        if draft.pop("edit_return", None):
            await _show_preview(target, session, state, draft, officer, settings, language)
        else:
            await _show_audience(target, session, state, draft, officer, language)
    elif action in ("everyone", "within", "units_done", "roles_done"):
        if action == "everyone":
            draft["everyone"] = not draft.get("everyone")
        elif action == "within":
            draft["within"] = not draft.get("within", True)
        await _save(state, draft)
        text, markup = await _audience_panel(session, draft, officer)
        await _edit_panel(query, text, markup)
    elif action in ("units", "page", "unit"):
        if action == "page" and arg.isdigit():
            draft["page"] = int(arg)
        if action == "unit" and arg.isdigit():
            await _cycle_unit(session, draft, int(arg))
        await _save(state, draft)
        text, markup = await _units_panel(session, draft)
        await _edit_panel(query, text, markup)
    elif action in ("roles", "role"):
        if action == "role" and arg in ROLES:
            roles = list(draft.get("roles") or [])
            draft["roles"] = [r for r in roles if r != arg] if arg in roles else [*roles, arg]
        await _save(state, draft)
        text, markup = _roles_panel(draft)
        await _edit_panel(query, text, markup)
    elif action == "to_preview":
        await _show_preview(target, session, state, draft, officer, settings, language)
    elif action == "urgent":
        draft["urgent"] = not draft.get("urgent")
        await _retire(target)
        await _show_preview(target, session, state, draft, officer, settings, language)
    elif action == "schedule":
        await _save(state, draft)
        await state.set_state(Compose.schedule)
        picks = _quick_times(settings, utcnow())
        rows = [[_btn(label, "when", str(int(when.timestamp())))] for label, when in picks]
        await target.answer(
            _("When should it go out? Type a date and time like 2026-12-01 08:30, or pick one:"),
            reply_markup=_markup(rows),
        )
    elif action == "when":
        if arg.isdigit():
            when = datetime.fromtimestamp(int(arg), tz=UTC)
            if when <= utcnow():
                await target.answer(_("That time has passed. Please choose a time in the future."))
                return
            await _set_schedule(target, session, state, draft, officer, settings, language, when)
    elif action == "now":
        draft["send_at"] = None
        await _retire(target)
        await _show_preview(target, session, state, draft, officer, settings, language)
    elif action == "edit":
        await _retire(target)
        await _edit_step(target, session, state, draft, officer, language, arg)
    elif action == "discard":
        await state.set_state(None)
        await state.update_data(bc=None)
        await _retire(target)
        await target.answer(_("The draft was discarded."))
    elif action == "send":
        await _send(query, target, session, state, draft, officer, settings, language)


async def _resume(
    target: Message,
    session: AsyncSession,
    state: FSMContext,
    draft: dict[str, Any],
    officer: Officer,
    settings: Settings,
    language: str,
) -> None:
    step = draft.get("step")
    if not draft.get("text"):
        await _ask_text(target, state, draft)
    elif step == "media":
        await _ask_media(target, state, draft)
    elif step == "articles":
        await _ask_articles(target, state, draft)
    elif step == "audience":
        await _show_audience(target, session, state, draft, officer, language)
    else:
        await _show_preview(target, session, state, draft, officer, settings, language)


async def _edit_step(
    target: Message,
    session: AsyncSession,
    state: FSMContext,
    draft: dict[str, Any],
    officer: Officer,
    language: str,
    which: str,
) -> None:
    draft["edit_return"] = True
    if which == "text":
        draft["step"] = "edit"
        await _save(state, draft)
        await state.set_state(Compose.text)
        await target.answer(_("Send the new text of the tip."))
    elif which == "media":
        await _ask_media(target, state, draft)
    elif which == "articles":
        await _ask_articles(target, state, draft)
    else:
        draft.pop("edit_return", None)
        await _show_audience(target, session, state, draft, officer, language)


async def _cycle_unit(session: AsyncSession, draft: dict[str, Any], unit_id: int) -> None:
    """Cycles a unit: not chosen -> with sub-units -> this unit only -> not chosen (no middle step for a leaf)."""
    tree = {unit.id: has_children for unit, _depth, has_children in await _unit_tree(session)}
    if unit_id not in tree:
        return
    chosen: dict[str, str] = dict(draft.get("units") or {})
    key = str(unit_id)
    mode = chosen.get(key)
    if mode is None:
        chosen[key] = "tree"
    elif mode == "tree" and tree[unit_id]:
        chosen[key] = "only"
    else:
        chosen.pop(key)
    draft["units"] = chosen
    if chosen:
        draft["everyone"] = False


async def _retire(message: Message) -> None:
    """Takes the buttons off a control message that a newer one replaces."""
    with contextlib.suppress(TelegramAPIError):
        await message.edit_reply_markup(reply_markup=None)


async def _send(
    query: CallbackQuery,
    target: Message,
    session: AsyncSession,
    state: FSMContext,
    draft: dict[str, Any],
    officer: Officer,
    settings: Settings,
    language: str,
) -> None:
    """Writes the broadcast (released at once unless scheduled) and turns the control message into its status."""
    chosen = await _audience(session, draft)
    if chosen is None:
        await target.answer(_("Choose who should get the tip first."))
        return
    try:
        broadcast = await service.create(
            session=session,
            sender=officer,
            text=draft.get("text") or "",
            audience=chosen.spec(),
            settings=settings,
            articles=[ArticleQuote.from_json(a) for a in draft.get("articles") or []],
            media=_media(draft),
            send_at=_send_at(draft),
            urgent=bool(draft.get("urgent")),
            status_message_id=target.message_id,
        )
    except BroadcastError as error:
        await target.answer(error_text(error))
        return
    await state.set_state(None)
    await state.update_data(bc=None)
    await show_status(target, session, broadcast, settings, language, edit=True)


async def show_status(
    target: Message, session: AsyncSession, broadcast: Broadcast, settings: Settings, language: str, *, edit: bool
) -> None:
    """Shows a broadcast's status message (editing ``target`` or as a new message); the loop keeps it live."""
    now = utcnow()
    view = await service.status_view(session=session, broadcast=broadcast, settings=settings)
    text = render_status(view, language, settings.tz, now)
    markup = keyboard(status_buttons(view, language))
    shown: Message | None = None
    if edit:
        try:
            edited = await target.edit_text(text, reply_markup=markup)
            shown = edited if isinstance(edited, Message) else target
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message.lower():
                raise
            shown = target
    else:
        shown = await target.answer(text, reply_markup=markup)
    broadcast.status_message_id = shown.message_id
    broadcast.status_shown = status_digest(view)
    broadcast.status_edited_at = now


# --- the sender's status buttons ----------------------------------------------------------------


async def status_callback(
    query: CallbackQuery,
    callback_data: BroadcastAction,
    officer: Officer,
    session: AsyncSession,
    settings: Settings,
    i18n: I18n,
) -> None:
    """Handles the status message's buttons: per unit, not acknowledged, remind, cancel, refresh."""
    if not service.may_broadcast(officer):
        await query.answer(_("Broadcasting is for the legal brigade only."), show_alert=True)
        return
    if not isinstance(query.message, Message):
        await query.answer()
        return
    target = query.message
    language = i18n.current_locale
    broadcast = await service.get(session=session, broadcast_id=callback_data.broadcast_id)
    if broadcast is None:
        await query.answer(_("This tip no longer exists."), show_alert=True)
        return
    action = callback_data.action
    try:
        if action == "units":
            await query.answer()
            parts = await unit_figures(session=session, broadcast_id=broadcast.id)
            await target.answer(render_units(broadcast.id, [(u.unit_name, u.figures) for u in parts], language))
        elif action == "unread":
            await query.answer()
            total = await count_unacknowledged(session=session, broadcast_id=broadcast.id)
            people = await unacknowledged(session=session, broadcast_id=broadcast.id, limit=UNREAD_SHOWN)
            await audit.record(
                session=session,
                actor=officer.badge,
                action="broadcast.view_unacknowledged",
                target_type="broadcast",
                target_id=broadcast.id,
                officer_id=officer.id,
                detail={"count": total},
            )
            await target.answer(
                render_unacknowledged(
                    broadcast.id, [(p.unit_name, p.badge, p.name, p.state) for p in people], total, language
                )
            )
        elif action == "refresh":
            await query.answer(_("Updated."))
            await show_status(target, session, broadcast, settings, language, edit=True)
        elif action == "show":
            await query.answer()
            await show_status(target, session, broadcast, settings, language, edit=False)
        elif action == "remind":
            targets = await count_reminder_targets(session=session, broadcast_id=broadcast.id)
            if targets == 0:
                raise BroadcastError("nobody_to_remind")
            await query.answer()
            await target.answer(
                _("Remind the {n} officers who got tip #{id} and have not acknowledged it? (round {r} of {max})").format(
                    n=targets, id=broadcast.id, r=broadcast.reminder_rounds + 1, max=settings.broadcast_max_reminders
                ),
                reply_markup=_confirm(broadcast.id, "remind_yes", "🔔 " + _("Yes, remind them")),
            )
        elif action == "remind_yes":
            count = await service.remind(
                session=session, broadcast_id=broadcast.id, actor=officer.badge, actor_id=officer.id, settings=settings
            )
            await query.answer(_("Reminder sent."))
            await _conclude(
                target,
                _("🔔 Reminder round {r} for tip #{id} is on its way to {n} officers.").format(
                    r=broadcast.reminder_rounds, id=broadcast.id, n=count
                ),
            )
        elif action == "cancel":
            counted = await figures(session=session, broadcast_id=broadcast.id)
            await query.answer()
            await target.answer(
                _("Withdraw the {n} tips of #{id} that are not sent yet? Tips already delivered stay.").format(
                    n=counted.pending, id=broadcast.id
                ),
                reply_markup=_confirm(broadcast.id, "cancel_yes", "✖ " + _("Yes, cancel")),
            )
        elif action == "cancel_yes":
            withdrawn = await service.cancel(
                session=session, broadcast_id=broadcast.id, actor=officer.badge, actor_id=officer.id
            )
            await query.answer(_("Cancelled."))
            await _conclude(
                target, _("✖ Tip #{id} cancelled: {n} tips withdrawn before sending.").format(id=broadcast.id, n=withdrawn)
            )
        elif action == "keep":
            await query.answer()
            await _conclude(target, _("Nothing was changed."))
        else:
            await query.answer()
    except BroadcastError as error:
        await query.answer(error_text(error), show_alert=True)


def _confirm(broadcast_id: int, action: str, label: str) -> InlineKeyboardMarkup:
    return _markup(
        [
            [
                InlineKeyboardButton(
                    text=label, callback_data=BroadcastAction(action=action, broadcast_id=broadcast_id).pack()
                ),
                InlineKeyboardButton(
                    text=_("No, leave it"), callback_data=BroadcastAction(action="keep", broadcast_id=broadcast_id).pack()
                ),
            ]
        ]
    )


async def _conclude(message: Message, text: str) -> None:
    with contextlib.suppress(TelegramAPIError):
        await message.edit_text(esc(text), reply_markup=None)


# --- uploading a tip's file once ------------------------------------------------------------------


class TelegramUploader:
    """Uploads a local photo or document once (the sender's own copy) and returns Telegram's file id."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def upload(self, *, chat_id: int, media: Media, caption: str) -> str:
        """Sends the file with its caption and returns the file id to reuse for every recipient."""
        if media.path is None:
            raise PermanentSendError("nothing to upload: the attachment has no local file")
        file = FSInputFile(media.path, filename=media.filename)
        try:
            if media.kind == "photo":
                sent = await self.bot.send_photo(chat_id, file, caption=caption, parse_mode="HTML")
                if sent.photo:
                    return sent.photo[-1].file_id
            else:
                sent = await self.bot.send_document(chat_id, file, caption=caption, parse_mode="HTML")
                if sent.document is not None:
                    return sent.document.file_id
        except TelegramRetryAfter as exc:
            raise RetryAfter(exc.retry_after, exc.message) from exc
        except (TelegramForbiddenError, TelegramNotFound) as exc:
            raise Unreachable(exc.message) from exc
        except TelegramBadRequest as exc:
            raise PermanentSendError(exc.message) from exc
        except (TelegramNetworkError, TelegramServerError) as exc:
            raise TransientSendError(exc.message) from exc
        raise TransientSendError("the Bot API answered without a file id")


@asynccontextmanager
async def broadcast_uploader(settings: Settings) -> AsyncIterator[TelegramUploader | None]:
    """Yields an uploader on the configured bot (None without a token: each tip then carries the file)."""
    if not settings.bot_token_value:
        yield None
        return
    bot = make_bot(settings)
    try:
        yield TelegramUploader(bot)
    finally:
        await bot.session.close()


def create_router() -> Router:
    """Builds the broadcasts router (a new one per application)."""
    router = Router(name="broadcasts")
    router.message.filter(Enrolled())
    router.callback_query.filter(Enrolled())
    not_menu = ~MenuLabel(*MENU_LABELS)
    router.message.register(broadcast_home, Command("broadcast"))
    router.message.register(broadcast_home, MenuLabel(BROADCAST))
    router.message.register(
        text_typed, Compose.text, F.text | F.photo | F.document, ~F.text.startswith("/"), not_menu
    )
    router.message.register(media_sent, Compose.media, F.photo | F.document)
    router.message.register(media_not_given, Compose.media, ~F.text.startswith("/"), not_menu)
    router.message.register(articles_typed, Compose.articles, F.text, ~F.text.startswith("/"), not_menu)
    router.message.register(schedule_typed, Compose.schedule, F.text, ~F.text.startswith("/"), not_menu)
    router.message.register(search_typed, Compose.search, F.text, ~F.text.startswith("/"), not_menu)
    router.callback_query.register(compose_callback, ComposeAction.filter())
    router.callback_query.register(status_callback, BroadcastAction.filter())
    return router
