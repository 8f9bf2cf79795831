"""我的提醒: the officer's running case deadlines, and the buttons under every reminder.

Buttons under a reminder: 已处理 (then the outcome), 已延长 (then the next allowed step of the
chain or a typed date; a step whose law names a condition or an approval is confirmed first),
稍后提醒 (4 hours, or tomorrow 08:00), and for a clock the law stops (治安案件: 鉴定, 听证) 暂停计时 /
恢复计时. The legal brigade confirms a flagged deadline with 已核查. Every answer goes through
reminders.service, which checks the rules, re-plans the reminders and audits the change.
"""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.keyboards import REMINDERS, MenuLabel
from bot.middlewares import Enrolled
from bot.render import esc
from core.db import utcnow
from core.identity import Officer, get_officer_by_id
from core.settings import Settings
from reminders import service
from reminders.messages import (
    CALLBACK_PREFIX,
    M_BTN_DONE,
    M_BTN_EXTEND,
    M_BTN_PAUSE,
    M_BTN_RESUME,
    M_BTN_SNOOZE,
    format_deadline,
    render_reminder,
    time_left_text,
)
from reminders.models import Case, Deadline
from reminders.planning import time_left
from reminders.rules import Extension, Rule, load_rules
from reminders.schedule import reminder_facts
from reminders.service import OUTCOMES, ReminderError

LIST_LIMIT = 10


class ReminderAction(CallbackData, prefix=CALLBACK_PREFIX):
    """A reminder button; packs as rem:{action}:{deadline_id}:{arg}, as reminders.messages writes it."""

    action: str  # show | done | out | ext | xt | xc | xd | xdc | snz | sz | pau | pz | res | rvk | back
    deadline_id: int
    arg: str = ""


class ReminderStates(StatesGroup):
    """The officer is typing a new deadline date."""

    typing_date = State()


def _button(text: str, action: str, deadline_id: int, arg: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=text, callback_data=ReminderAction(action=action, deadline_id=deadline_id, arg=arg).pack()
    )


def main_buttons(deadline: Deadline, rule: Rule | None) -> InlineKeyboardMarkup:
    """The answers under a reminder (with pause or resume when the rule's clock can stop)."""
    rows = [
        [_button(_(M_BTN_DONE), "done", deadline.id), _button(_(M_BTN_EXTEND), "ext", deadline.id)],
        [_button(_(M_BTN_SNOOZE), "snz", deadline.id)],
    ]
    if deadline.paused:
        rows.append([_button(_(M_BTN_RESUME), "res", deadline.id)])
    elif rule is not None and rule.pause_on:
        rows.append([_button(_(M_BTN_PAUSE), "pau", deadline.id)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _back(deadline_id: int) -> list[InlineKeyboardButton]:
    return [_button(_("« Back"), "back", deadline_id)]


def outcome_buttons(deadline_id: int, rule: Rule, language: str) -> InlineKeyboardMarkup:
    """The outcomes that make sense for the deadline's rule."""
    rows = [
        [_button(OUTCOMES[code].get(language), "out", deadline_id, code)] for code in service.outcomes_for(rule)
    ]
    return InlineKeyboardMarkup(inline_keyboard=[*rows, _back(deadline_id)])


def extension_buttons(
    deadline: Deadline, rule: Rule, case: Case, language: str, settings: Settings
) -> InlineKeyboardMarkup:
    """The next steps the case may take, and typing a date."""
    rows = [
        [_button(ext.label.get(language), "xt", deadline.id, str(ext.total))]
        for ext in service.extension_choices(rule, case, deadline, settings)
    ]
    rows.append([_button(_("⌨️ Type a date"), "xd", deadline.id)])
    return InlineKeyboardMarkup(inline_keyboard=[*rows, _back(deadline.id)])


def confirmation_text(ext: Extension, due: str, language: str) -> str:
    """Asks the officer to confirm the law's condition and the approval of an extension step."""
    lines = [_("To extend to {deadline} ({label}), please confirm:").format(deadline=due, label=ext.label.get(language))]
    if ext.condition is not None:
        lines.append(_("• the condition is met: {condition}").format(condition=ext.condition.get(language)))
    if ext.approval is not None:
        lines.append(_("• it has been approved: {approval}").format(approval=ext.approval.get(language)))
    return "\n".join(esc(line) for line in lines)


def confirm_buttons(deadline_id: int, action: str, arg: str) -> InlineKeyboardMarkup:
    """Confirm (condition met and approved) or go back."""
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(_("✅ Confirmed: extend"), action, deadline_id, arg)], _back(deadline_id)]
    )


def pause_buttons(deadline_id: int) -> InlineKeyboardMarkup:
    """Why the clock stops: an expert examination or a hearing."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(_("Expert examination"), "pz", deadline_id, "鉴定"),
                _button(_("Hearing"), "pz", deadline_id, "听证"),
            ],
            _back(deadline_id),
        ]
    )


def snooze_buttons(deadline_id: int) -> InlineKeyboardMarkup:
    """Four hours, or tomorrow morning."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(_("In 4 hours"), "sz", deadline_id, "4h"),
                _button(_("Tomorrow 08:00"), "sz", deadline_id, "tomorrow"),
            ],
            _back(deadline_id),
        ]
    )


def error_text(error: ReminderError, settings: Settings) -> str:
    """Says politely, in the officer's language, why an answer could not be taken."""
    if error.code == "not_found":
        return _("This deadline no longer exists.")
    if error.code == "forbidden":
        return _("Only the case officer, their supervisor or the legal brigade can answer this deadline.")
    if error.code == "not_extendable":
        return _("This time limit cannot be extended under the rules.")
    if error.code in ("bad_extension", "needs_confirmation"):
        return _("That extension is not allowed for this case.")
    if error.code == "paused":
        return _("The clock of this deadline is paused.")
    if error.code in ("not_paused", "not_pausable"):
        return _("This deadline's clock is not paused.")
    if error.code in ("not_under_review", "already_reviewed"):
        return _("This deadline has already been reviewed.")
    if error.code in ("not_later", "beyond_limit"):
        when = datetime.fromisoformat(error.detail).astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
        if error.code == "not_later":
            return _("The new deadline must be later than the current one ({deadline}).").format(
                deadline=when
            )
        return _("The law allows at most {deadline}.").format(deadline=when)
    return _("This deadline is already closed.")


async def deadline_card(
    session: AsyncSession, deadline: Deadline, case: Case, rule: Rule | None, officer: Officer, settings: Settings
) -> str:
    """Renders one deadline like its reminder (naming the case officer), for the list and after an answer."""
    audience = "officer" if case.officer_id == officer.id else "supervisor"
    owner = officer if audience == "officer" else await get_officer_by_id(session=session, officer_id=case.officer_id)
    if rule is None:
        return esc(f"{case.title}（{case.case_number}）{deadline.measure} {deadline.effective_due:%Y-%m-%d}")
    facts = reminder_facts(
        rule=rule,
        case_number=case.case_number,
        title=case.title,
        flags=list(case.flags or []),
        starts_at=deadline.starts_at,
        due=deadline.effective_due,
        current_total=service.current_total(rule, deadline, settings),
        provisional=deadline.provisional,
        excluded_days=deadline.excluded_days,
        paused_since=deadline.paused_since,
        review=deadline.review_code if deadline.under_review else None,
        article=deadline.article,
        officer_name=owner.name if owner else "",
        officer_badge=owner.badge if owner else "",
        now=utcnow(),
        settings=settings,
        language=officer.language,
    )
    return render_reminder(facts, audience=audience, language=officer.language, tips=())


async def reminders_handler(
    message: Message, officer: Officer, session: AsyncSession, settings: Settings
) -> None:
    """Lists the officer's running deadlines, most urgent first, with a button per deadline."""
    views = await service.open_deadlines_for(
        session=session, officer=officer, settings=settings, limit=LIST_LIMIT
    )
    if not views:
        await message.answer(_("You have no running case deadlines."))
        return
    total = await service.count_open_for(session=session, officer=officer)
    now = utcnow()
    lines = [_("Your case deadlines, most urgent first:")]
    buttons = []
    for number, view in enumerate(views, start=1):
        hourly = view.rule.hourly if view.rule else False
        due = view.deadline.effective_due
        measure = view.rule.measure.get(officer.language) if view.rule else view.deadline.measure
        if view.deadline.paused:
            left = _("paused")
        else:
            left = time_left_text(
                time_left(due, now, hourly=hourly, tz=settings.tz), hourly=hourly, language=officer.language
            )
        mark = _(" (provisional)") if view.deadline.provisional else ""
        lines.append(
            f"{number}. <b>{esc(view.case.title)}</b>（{esc(view.case.case_number)}）\n"
            f"    {esc(measure)} · {format_deadline(due, hourly=hourly, settings=settings)}{esc(mark)} · {left}"
        )
        label = f"{number}. {view.case.title} · {measure}"
        buttons.append([_button(label[:60], "show", view.deadline.id)])
    if total > len(views):
        lines.append(_("…and {n} more.").format(n=total - len(views)))
    await message.answer("\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons))


async def _load(
    query: CallbackQuery, deadline_id: int, officer: Officer, session: AsyncSession, settings: Settings
) -> tuple[Deadline, Case, Rule] | None:
    found = await service.get_deadline(session=session, deadline_id=deadline_id)
    if found is None:
        await query.answer(_("This deadline no longer exists."), show_alert=True)
        return None
    deadline, case = found
    if not service.may_act(officer, case):
        await query.answer(error_text(ReminderError("forbidden"), settings), show_alert=True)
        return None
    if not deadline.active:
        await query.answer(_("This deadline is already closed."), show_alert=True)
        return None
    rule = load_rules(settings).get(deadline.rule_id)
    if rule is None:
        await query.answer(_("This deadline is already closed."), show_alert=True)
        return None
    return deadline, case, rule


async def _replace_buttons(query: CallbackQuery, markup: InlineKeyboardMarkup | None) -> None:
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=markup)


async def _conclude(query: CallbackQuery, card: str, note: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Shows the result under the deadline (buttons removed unless given), so it cannot be pressed twice."""
    await query.answer(note)
    if isinstance(query.message, Message):
        # Re-rendered from the database rather than echoed: the message may be days old.
        await query.message.edit_text(f"{card}\n\n<b>{esc(note)}</b>", reply_markup=markup)


async def review_callback(query: CallbackQuery, deadline_id: int, officer: Officer, session: AsyncSession) -> None:
    """The legal brigade confirms, after review, that a flagged deadline's period stands."""
    try:
        await service.acknowledge_review(session=session, deadline_id=deadline_id, officer=officer, now=utcnow())
    except ReminderError as error:
        if error.code == "forbidden":
            await query.answer(_("Only the legal brigade can confirm a review."), show_alert=True)
        else:
            await query.answer(_("This deadline has already been reviewed."), show_alert=True)
        return
    note = _("Reviewed: the period stands.")
    await query.answer(note)
    if isinstance(query.message, Message):
        await query.message.edit_text(f"{query.message.html_text}\n\n<b>{esc(note)}</b>", reply_markup=None)


async def reminder_callback(
    query: CallbackQuery,
    callback_data: ReminderAction,
    officer: Officer,
    session: AsyncSession,
    settings: Settings,
    state: FSMContext,
) -> None:
    """Handles every reminder button."""
    deadline_id, action, arg = callback_data.deadline_id, callback_data.action, callback_data.arg
    if action == "rvk":
        await review_callback(query, deadline_id, officer, session)
        return
    loaded = await _load(query, deadline_id, officer, session, settings)
    if loaded is None:
        return
    deadline, case, rule = loaded
    language = officer.language
    now = utcnow()
    try:
        if action == "show":
            await query.answer()
            if isinstance(query.message, Message):
                await query.message.answer(
                    await deadline_card(session, deadline, case, rule, officer, settings),
                    reply_markup=main_buttons(deadline, rule),
                )
        elif action == "back":
            await query.answer()
            await _replace_buttons(query, main_buttons(deadline, rule))
        elif action == "done":
            await query.answer()
            await _replace_buttons(query, outcome_buttons(deadline.id, rule, language))
        elif action == "out":
            await service.mark_done(
                session=session,
                deadline_id=deadline.id,
                officer=officer,
                outcome=arg,
                now=now,
                settings=settings,
            )
            outcome = OUTCOMES[arg].get(language)
            note = _("Marked as handled: {outcome}.").format(outcome=outcome)
            await _conclude(query, await deadline_card(session, deadline, case, rule, officer, settings), note)
        elif action == "ext":
            if not service.extension_choices(rule, case, deadline, settings):
                await query.answer(_("This time limit cannot be extended under the rules."), show_alert=True)
                return
            await query.answer()
            await _replace_buttons(query, extension_buttons(deadline, rule, case, language, settings))
        elif action in ("xt", "xc"):
            if not arg.isdigit():
                raise ReminderError("bad_extension", arg)
            total = int(arg)
            step = next((e for e in service.extension_choices(rule, case, deadline, settings) if e.total == total), None)
            if step is None:
                raise ReminderError("bad_extension", arg)
            if action == "xt" and step.needs_confirmation:
                due = format_deadline(service.extension_due(rule, deadline, total, settings), hourly=rule.hourly, settings=settings)
                await query.answer()
                if isinstance(query.message, Message):
                    await query.message.edit_text(
                        f"{await deadline_card(session, deadline, case, rule, officer, settings)}\n\n"
                        f"{confirmation_text(step, due, language)}",
                        reply_markup=confirm_buttons(deadline.id, "xc", arg),
                    )
                return
            updated = await service.extend(
                session=session,
                deadline_id=deadline.id,
                officer=officer,
                now=now,
                settings=settings,
                total=total,
                confirmed=action == "xc",
            )
            when = format_deadline(updated.effective_due, hourly=rule.hourly, settings=settings)
            note = _("Extended: now ends on {deadline}.").format(deadline=when)
            await _conclude(query, await deadline_card(session, updated, case, rule, officer, settings), note)
        elif action == "xd":
            await state.set_state(ReminderStates.typing_date)
            await state.update_data(reminder_deadline_id=deadline.id)
            await query.answer()
            if isinstance(query.message, Message):
                await query.message.answer(
                    _(
                        "Type the new deadline as YYYY-MM-DD (or YYYY-MM-DD HH:MM for hour limits). Send /cancel to stop."
                    )
                )
        elif action == "xdc":
            typed = datetime.fromisoformat(arg.replace("_", ":")) if arg else None
            if typed is None:
                raise ReminderError("bad_extension", arg)
            updated = await service.extend(
                session=session,
                deadline_id=deadline.id,
                officer=officer,
                now=now,
                settings=settings,
                new_due=typed,
                confirmed=True,
            )
            when = format_deadline(updated.effective_due, hourly=rule.hourly, settings=settings)
            note = _("Extended: now ends on {deadline}.").format(deadline=when)
            await _conclude(query, await deadline_card(session, updated, case, rule, officer, settings), note)
        elif action == "snz":
            await query.answer()
            await _replace_buttons(query, snooze_buttons(deadline.id))
        elif action == "sz":
            until = service.snooze_until(arg, now=now, settings=settings)
            updated = await service.snooze(
                session=session,
                deadline_id=deadline.id,
                officer=officer,
                until=until,
                now=now,
                settings=settings,
            )
            assert updated.next_remind_at is not None  # a snoozed running deadline always has a next check
            when = updated.next_remind_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
            await query.answer(_("I will remind you again at {time}.").format(time=when))
            await _replace_buttons(query, main_buttons(deadline, rule))
        elif action == "pau":
            await query.answer()
            await _replace_buttons(query, pause_buttons(deadline.id))
        elif action == "pz":
            updated = await service.pause(
                session=session, deadline_id=deadline.id, officer=officer, reason=arg, now=now, settings=settings
            )
            note = _("Clock paused: these days do not count until you resume it.")
            await _conclude(
                query, await deadline_card(session, updated, case, rule, officer, settings), note, main_buttons(updated, rule)
            )
        elif action == "res":
            updated = await service.resume(
                session=session, deadline_id=deadline.id, officer=officer, now=now, settings=settings
            )
            when = format_deadline(updated.effective_due, hourly=rule.hourly, settings=settings)
            note = _("Clock running again: now ends on {deadline}.").format(deadline=when)
            await _conclude(
                query, await deadline_card(session, updated, case, rule, officer, settings), note, main_buttons(updated, rule)
            )
        else:
            await query.answer()
    except ReminderError as error:
        await query.answer(error_text(error, settings), show_alert=True)


async def typed_date_handler(
    message: Message, officer: Officer, session: AsyncSession, settings: Settings, state: FSMContext
) -> None:
    """Takes a typed new deadline; a bad date gets a polite hint and the officer can try again."""
    deadline_id = (await state.get_data()).get("reminder_deadline_id")
    found = await service.get_deadline(session=session, deadline_id=int(deadline_id)) if deadline_id else None
    rule = load_rules(settings).get(found[0].rule_id) if found else None
    if found is None or rule is None:
        await state.set_state(None)
        await message.answer(_("This deadline no longer exists."))
        return
    deadline, case = found
    new_due = service.typed_due(message.text or "", rule=rule, settings=settings)
    if new_due is None:
        await message.answer(
            _("Please type a date like 2026-03-15 (or 2026-03-15 18:00 for hour limits), or /cancel.")
        )
        return
    # The FSM storage may write through its own database connection; on SQLite it would wait for
    # this update's write lock until the busy timeout, so the state changes before the deadline does.
    await state.set_state(None)
    allowed = service.extension_choices(rule, case, deadline, settings) if deadline.active else []
    step = service.covering_extension(rule, deadline, allowed, new_due, settings) if allowed else None
    try:
        if step is not None and step.needs_confirmation:
            if new_due <= deadline.effective_due:
                raise ReminderError("not_later", deadline.effective_due.isoformat())
            due = format_deadline(new_due, hourly=rule.hourly, settings=settings)
            await message.answer(
                confirmation_text(step, due, officer.language),
                reply_markup=confirm_buttons(deadline.id, "xdc", new_due.isoformat(timespec="minutes").replace(":", "_")),
            )
            return
        updated = await service.extend(
            session=session,
            deadline_id=deadline.id,
            officer=officer,
            now=utcnow(),
            settings=settings,
            new_due=new_due,
        )
    except ReminderError as error:
        # Nothing was written (the service checks before it changes anything), so the officer can be
        # put back in the typing step to correct the date at once.
        await state.set_state(ReminderStates.typing_date)
        await message.answer(error_text(error, settings))
        return
    when = format_deadline(updated.effective_due, hourly=rule.hourly, settings=settings)
    await message.answer(_("Extended: now ends on {deadline}.").format(deadline=when))


def create_router() -> Router:
    """Builds the reminders router (a new one per application)."""
    router = Router(name="reminders")
    router.message.filter(Enrolled())
    router.callback_query.filter(Enrolled())
    router.message.register(reminders_handler, Command("reminders"))
    router.message.register(reminders_handler, MenuLabel(REMINDERS))
    router.callback_query.register(reminder_callback, ReminderAction.filter())
    router.message.register(typed_date_handler, ReminderStates.typing_date, F.text, ~F.text.startswith("/"))
    return router


router = create_router()
