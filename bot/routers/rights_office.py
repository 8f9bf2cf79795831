"""维权受理: the rights office's side in the bot — the open applications, and acting on each one.

Every button goes through rights.service, which checks that the officer may act for the office
on that application, moves it, audits it and tells the applicant. Texts the office types (a
note, a request, a reason, a clearance notice) are FSM steps, so they survive a restart.
"""

from __future__ import annotations

from typing import TypedDict

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.keyboards import RIGHTS_OFFICE, MenuLabel
from bot.middlewares import Enrolled, HasRole
from core.db import utcnow
from core.identity import Officer, Role
from core.settings import Settings
from rights import access, service, sla
from rights.access import RightsError, RightsForbidden
from rights.law import render_law
from rights.models import OPEN_STATUSES, RightsApplication, Status
from rights.notify import OFFICE_PREFIX
from rights.render import EVENT_LABELS, esc, fmt_due, fmt_time, office_card, status_line
from rights.service import MAX_TEXT
from rights.views import load_view
from rights.vocab import OUTCOME_DETAIL_REQUIRED, OUTCOMES, TYPES

LIST_LIMIT = 15
TYPED = "rights_office"


class _Common(TypedDict):
    """What every office action of rights.service takes."""

    session: AsyncSession
    settings: Settings
    viewer: Officer
    application_id: int
    via: str


class OfficeAction(CallbackData, prefix=OFFICE_PREFIX):
    """A rights office button (rights.notify packs the same wqo:action:app:arg)."""

    action: str
    app: int
    arg: str = ""


class OfficeTyping(StatesGroup):
    """The office officer is typing a text for an application."""

    note = State()
    request = State()
    reject = State()
    outcome = State()
    transfer = State()


def _button(text: str, action: str, app_id: int, arg: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=OfficeAction(action=action, app=app_id, arg=arg).pack())


def action_buttons(application: RightsApplication) -> InlineKeyboardMarkup:
    """The actions that fit the application's status."""
    app_id = application.id
    status = Status(application.status)
    rows: list[list[InlineKeyboardButton]] = []
    if status == Status.SUBMITTED:
        rows.append([_button("✅ " + _("Accept application"), "accept", app_id), _button("⛔ " + _("Do not accept"), "reject", app_id)])
    if status == Status.ACCEPTED:
        rows.append([_button("🔎 " + _("Start checking the facts"), "investigate", app_id)])
    if status in (Status.SUBMITTED, Status.ACCEPTED, Status.INVESTIGATING):
        rows.append([_button("❓ " + _("Ask for more information"), "request", app_id)])
    if status == Status.WAITING:
        rows.append([_button("▶️ " + _("Stop waiting for the applicant"), "resume", app_id)])
    if status in (Status.ACCEPTED, Status.INVESTIGATING, Status.WAITING):
        rows.append([_button("⚖️ " + _("Make a decision"), "decide", app_id)])
    if status == Status.DECIDED:
        rows.append([_button("➕ " + _("Add an outcome"), "decide", app_id), _button("✅ " + _("Conclude"), "close", app_id)])
    if status in OPEN_STATUSES:
        rows.append([_button("📝 " + _("Progress note"), "note", app_id), _button("👤 " + _("Assign handler"), "assign", app_id)])
    if status in (Status.SUBMITTED, Status.ACCEPTED, Status.INVESTIGATING, Status.WAITING):
        rows.append([_button("↪️ " + _("Transfer to another office"), "transfer", app_id)])
    rows.append([
        _button("🖼 " + _("Show the evidence"), "evidence", app_id),
        _button("🕘 " + _("Timeline of steps"), "timeline", app_id),
        _button("📖 " + _("Applicable law"), "law", app_id),
    ])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def error_text(error: RightsError) -> str:
    """Says politely why an action could not be taken."""
    if isinstance(error, RightsForbidden):
        return _("You may not see or handle this application.")
    messages = {
        "not_found": _("This application no longer exists."),
        "bad_state": _("This cannot be done now: the application has moved on. Open it again."),
        "empty": _("Please type something first."),
        "too_long": _("That is too long. Please keep it under {max} characters.").format(max=MAX_TEXT),
        "outcome_conflict": _("“Not supported” cannot stand beside other outcomes."),
        "bad_outcome": _("That choice is no longer available."),
        "bad_handler": _("That choice is no longer available."),
        "bad_unit": _("That choice is no longer available."),
    }
    return messages.get(error.code, _("This cannot be done now."))


async def office_list_handler(
    message: Message, officer: Officer, session: AsyncSession, settings: Settings, command: CommandObject | None = None
) -> None:
    """Lists the open applications this officer's office handles, the most pressing first;
    ``/rightsoffice WQ-2026-000123`` opens one by its number (closed ones too)."""
    if command is not None and command.args:
        try:
            view = await service.open_application(
                session=session, viewer=officer, number=command.args.strip(), via="bot"
            )
        except RightsError as error:
            await message.answer(error_text(error))
            return
        await message.answer(
            office_card(view, officer.language, settings.tz, utcnow()), reply_markup=action_buttons(view.application)
        )
        return
    rows = await service.search(
        session=session, viewer=officer, via="bot", statuses=[s.value for s in OPEN_STATUSES]
    )
    if not rows:
        await message.answer(_("No open rights applications for your office."))
        return
    far = utcnow().replace(year=9999)
    rows.sort(key=lambda a: (sla.next_due(a) or far, a.submitted_at))
    shown = rows[:LIST_LIMIT]
    now = utcnow()
    lines = [_("<b>Open rights applications</b> ({n}), the most pressing first:").format(n=len(rows))]
    buttons = []
    for number, application in enumerate(shown, start=1):
        due = sla.next_due(application)
        due_text = ""
        if due is not None:
            due_text = " · ⏳ " + fmt_due(due, settings.tz) + (" ⚠️" if due <= now else "")
        lines.append(
            f"{number}. <b>{esc(application.number)}</b> · {esc(_(TYPES.get(application.type, application.type)))} · "
            f"{status_line(application, _, office=True)}{due_text}"
        )
        buttons.append([_button(f"📂 {number}. {application.number}", "open", application.id)])
    if len(rows) > len(shown):
        lines.append(_("…and {n} more.").format(n=len(rows) - len(shown)))
    lines.append(_("To open any application by its number: /rightsoffice WQ-2026-000123"))
    await message.answer("\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons))


async def not_rights_office(message: Message) -> None:
    """Tells officers outside the rights office that this is not theirs."""
    await message.answer(_("This is for the rights office only."))


async def _show(query: CallbackQuery, application: RightsApplication, officer: Officer, session: AsyncSession,
                settings: Settings, *, note: str | None = None, new_message: bool = False) -> None:
    """Shows the application card with its actions: in place of the pressed message, or as a new one."""
    view = await load_view(session=session, application=application)
    text = office_card(view, officer.language, settings.tz, utcnow())
    if note:
        text += f"\n\n<b>{esc(note)}</b>"
    markup = action_buttons(application)
    if not isinstance(query.message, Message):
        return
    if new_message:
        await query.message.answer(text, reply_markup=markup)
    else:
        await query.message.edit_text(text, reply_markup=markup)


async def office_callback(
    query: CallbackQuery,
    callback_data: OfficeAction,
    officer: Officer,
    session: AsyncSession,
    settings: Settings,
    state: FSMContext,
) -> None:
    """Handles every rights office button."""
    action, app_id, arg = callback_data.action, callback_data.app, callback_data.arg
    common: _Common = {
        "session": session, "settings": settings, "viewer": officer, "application_id": app_id, "via": "bot"
    }
    try:
        if action == "open":
            view = await service.open_application(session=session, viewer=officer, application_id=app_id, via="bot")
            await query.answer()
            await _show(query, view.application, officer, session, settings, new_message=True)
            return
        if action in ("accept", "investigate", "resume", "close"):
            if action == "accept":
                application = await service.accept(**common)
            elif action == "investigate":
                application = await service.start_investigation(**common)
            elif action == "resume":
                application = await service.resume(**common)
            else:
                application = await service.close(**common)
            notes = {
                "accept": _("Accepted; you are the handler unless someone else is assigned."),
                "investigate": _("Checking the facts."),
                "resume": _("No longer waiting for the applicant; the time limits run again."),
                "close": _("Concluded."),
            }
            await query.answer(notes[action])
            await _show(query, application, officer, session, settings, note=notes[action])
            return
        if action in ("note", "request", "reject"):
            await _require(session, officer, app_id, action)
            step = {"note": OfficeTyping.note, "request": OfficeTyping.request, "reject": OfficeTyping.reject}[action]
            prompts = {
                "note": _("Type the progress note (/cancel stops)."),
                "request": _("Type what the applicant should send or explain (/cancel stops)."),
                "reject": _("Type the reason for not accepting it; the applicant will read it (/cancel stops)."),
            }
            await state.set_state(step)
            await state.update_data({TYPED: {"app": app_id}})
            await query.answer()
            await _reply(query, prompts[action])
            return
        if action in ("notepub", "noteint"):
            data = (await state.get_data()).get(TYPED) or {}
            if data.get("app") != app_id or not data.get("text"):
                await query.answer(_("This note was already saved or dropped."), show_alert=True)
                return
            await state.update_data({TYPED: None})
            application = await service.add_note(**common, text=data["text"], to_applicant=action == "notepub")
            note = _("Note saved and sent to the applicant.") if action == "notepub" else _("Note saved (internal).")
            await query.answer(note)
            await _show(query, application, officer, session, settings, note=note)
            return
        if action == "decide":
            application = await _require(session, officer, app_id, "decide")
            await query.answer()
            rows = [[_button(_(label), "outcome", app_id, code)] for code, label in OUTCOMES.items()]
            await _reply(query, _("{number}: choose the outcome.").format(number=application.number),
                         InlineKeyboardMarkup(inline_keyboard=rows))
            return
        if action == "outcome" and arg in OUTCOMES:
            await _require(session, officer, app_id, "decide")
            await state.set_state(OfficeTyping.outcome)
            await state.update_data({TYPED: {"app": app_id, "outcome": arg}})
            await query.answer()
            if arg in OUTCOME_DETAIL_REQUIRED:
                await _reply(query, _("Type {what} (/cancel stops).").format(what=_(OUTCOME_DETAIL_REQUIRED[arg])))
            else:
                await _reply(query, _("Type a note for the applicant about this outcome, or skip."),
                             InlineKeyboardMarkup(inline_keyboard=[[_button("⏭ " + _("Skip"), "outskip", app_id, arg)]]))
            return
        if action == "outskip":
            data = (await state.get_data()).get(TYPED) or {}
            if data.get("app") != app_id or data.get("outcome") != arg:
                await query.answer(_("This choice was already used."), show_alert=True)
                return
            await state.set_state(None)
            await state.update_data({TYPED: None})
            application = await service.decide(**common, outcome=arg, detail=None)
            await query.answer(_("Decision recorded."))
            await _show(query, application, officer, session, settings, note=_("Decision recorded."), new_message=True)
            return
        if action == "assign":
            application = await _require(session, officer, app_id, "assign")
            handlers = await service.handlers_for(session=session, application=application)
            await query.answer()
            if not handlers:
                await _reply(query, _("Nobody in the office can be made handler."))
                return
            rows = [[_button(f"👤 {h.name} ({h.badge})", "handler", app_id, str(h.id))] for h in handlers]
            await _reply(query, _("{number}: who handles it?").format(number=application.number),
                         InlineKeyboardMarkup(inline_keyboard=rows))
            return
        if action == "handler" and arg.isdigit():
            application = await service.assign(**common, handler_id=int(arg))
            await query.answer(_("Handler assigned."))
            await _show(query, application, officer, session, settings, note=_("Handler assigned."), new_message=True)
            return
        if action == "transfer":
            application = await _require(session, officer, app_id, "transfer")
            targets = await service.transfer_targets(session=session, application=application)
            await query.answer()
            if not targets:
                await _reply(query, _("There is no other rights office to transfer it to."))
                return
            rows = [[_button(f"↪️ {unit.name}", "to", app_id, str(unit.id))] for unit in targets[:20]]
            await _reply(query, _("{number}: transfer to which office?").format(number=application.number),
                         InlineKeyboardMarkup(inline_keyboard=rows))
            return
        if action == "to" and arg.isdigit():
            await _require(session, officer, app_id, "transfer")
            await state.set_state(OfficeTyping.transfer)
            await state.update_data({TYPED: {"app": app_id, "unit": int(arg)}})
            await query.answer()
            await _reply(query, _("Type the reason for the transfer (/cancel stops)."))
            return
        if action == "evidence":
            view, shown = await service.show_evidence(
                session=session, viewer=officer, application_id=app_id, via="bot", send_to=officer
            )
            purged = len(view.evidence) - len(shown)
            text = _("Sending {n} item(s) of evidence of {number}.").format(n=len(shown), number=view.number)
            if purged:
                text += " " + _("{n} item(s) were deleted when the retention period ended.").format(n=purged)
            await query.answer(text if shown else _("There is no evidence to show."), show_alert=not shown)
            return
        if action == "timeline":
            view = await service.open_application(
                session=session, viewer=officer, application_id=app_id, via="bot", with_events=True
            )
            await query.answer()
            lines = [_("<b>Timeline of {number}</b>").format(number=view.number)]
            for event in view.events:
                label = _(EVENT_LABELS.get(event.kind, event.kind))
                line = f"{fmt_time(event.at, settings.tz)} · {esc(event.actor)} · {esc(label)}"
                if event.text:
                    line += f"\n    <i>{esc(event.text[:300])}</i>"
                lines.append(line)
            await _reply(query, "\n".join(lines)[:4000])
            return
        if action == "law":
            view = await service.open_application(session=session, viewer=officer, application_id=app_id, via="bot")
            await query.answer()
            await _reply(query, render_law(view.application.type, officer.language) or _("No law is on file for this type."))
            return
        await query.answer()
    except RightsError as error:
        await query.answer(error_text(error), show_alert=True)


async def _require(session: AsyncSession, officer: Officer, app_id: int, action: str) -> RightsApplication:
    """Checks, before asking for a text, that the officer may take this action on this application now."""
    application = await session.get(RightsApplication, app_id)
    if application is None:
        raise RightsError("not_found", str(app_id))
    await access.require_handle(session=session, viewer=officer, application=application, action=action, via="bot")
    if Status(application.status) not in service.ALLOWED[action]:
        raise RightsError("bad_state", application.status)
    return application


async def _reply(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=markup)


async def typed_handler(
    message: Message, officer: Officer, session: AsyncSession, settings: Settings, state: FSMContext
) -> None:
    """Takes the text an office officer typed for a note, request, rejection, outcome or transfer."""
    current = await state.get_state()
    data = (await state.get_data()).get(TYPED) or {}
    app_id = data.get("app")
    text = (message.text or "").strip()
    if not isinstance(app_id, int):
        await state.set_state(None)
        await message.answer(_("Please open the application again."))
        return
    if len(text) > MAX_TEXT:
        await message.answer(_("That is too long. Please keep it under {max} characters.").format(max=MAX_TEXT))
        return
    common: _Common = {
        "session": session, "settings": settings, "viewer": officer, "application_id": app_id, "via": "bot"
    }
    try:
        if current == OfficeTyping.note.state:
            await state.set_state(None)
            await state.update_data({TYPED: {"app": app_id, "text": text}})
            await message.answer(
                _("Should the applicant read this note?"),
                reply_markup=InlineKeyboardMarkup(inline_keyboard=[
                    [_button("📣 " + _("Yes, send it to the applicant"), "notepub", app_id)],
                    [_button("🔒 " + _("No, keep it internal"), "noteint", app_id)],
                ]),
            )
            return
        if current == OfficeTyping.request.state:
            application = await service.request_more(**common, text=text)
            note = _("Request sent; the time limits are paused until the applicant answers.")
        elif current == OfficeTyping.reject.state:
            application = await service.reject(**common, reason=text)
            note = _("Not accepted; the applicant has been told why.")
        elif current == OfficeTyping.outcome.state:
            application = await service.decide(**common, outcome=str(data.get("outcome")), detail=text)
            note = _("Decision recorded.")
        elif current == OfficeTyping.transfer.state:
            application = await service.transfer(**common, unit_id=int(data.get("unit") or 0), reason=text)
            note = _("Transferred; the other office has it now.")
        else:
            return
    except RightsError as error:
        # nothing was written: the officer can correct the text (or /cancel)
        await message.answer(error_text(error))
        if error.code not in ("empty", "too_long"):
            await state.set_state(None)
        return
    await state.set_state(None)
    await state.update_data({TYPED: None})
    view = await load_view(session=session, application=application)
    await message.answer(
        f"{office_card(view, officer.language, settings.tz, utcnow())}\n\n<b>{esc(note)}</b>",
        reply_markup=action_buttons(application),
    )


def create_router() -> Router:
    """Builds the rights office router (a new one per application)."""
    router = Router(name="rights_office")
    router.message.filter(Enrolled())
    router.callback_query.filter(Enrolled())
    router.message.register(not_rights_office, Command("rightsoffice"), ~HasRole(Role.RIGHTS))
    router.message.register(not_rights_office, MenuLabel(RIGHTS_OFFICE), ~HasRole(Role.RIGHTS))
    router.message.register(office_list_handler, Command("rightsoffice"))
    router.message.register(office_list_handler, MenuLabel(RIGHTS_OFFICE))
    router.callback_query.register(office_callback, OfficeAction.filter(), HasRole(Role.RIGHTS))
    typing = (OfficeTyping.note, OfficeTyping.request, OfficeTyping.reject, OfficeTyping.outcome, OfficeTyping.transfer)
    router.message.register(typed_handler, StateFilter(*typing), F.text, ~F.text.startswith("/"))
    return router
