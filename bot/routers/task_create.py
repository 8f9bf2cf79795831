"""布置任务: the short guided flow that gives a task, and the creator's side of it.

The flow asks, one step at a time and mostly by buttons: title (further lines are the
description), who (badges, units with their sub-units, roles), when it is due, how often it
repeats and until when, what kind of work it is (and the case, for a case follow-up), how
urgent; then shows a summary to confirm. The draft lives in the conversation state (the database
or Redis), so a restart in the middle loses nothing.

The creator's side: a progress card per occurrence (who has completed it, who has not, who is
overdue) kept up to date in place as assignees answer, the same for the whole series, a button
to remind those not done, sending a completion back with a reason, the photos sent with
completions, and changing or cancelling the task from an occurrence on.
"""

from __future__ import annotations

import contextlib
from datetime import date, datetime, timedelta
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.keyboards import ALL_MENU_LABELS, NEW_TASK, MenuLabel, TaskManage, TaskNew, inline
from bot.middlewares import Enrolled
from bot.render import esc
from bot.routers.tasks import task_error_text
from core.db import utcnow
from core.holidays import load_calendar
from core.identity import Officer
from core.settings import Settings
from tasks import assignees as people
from tasks import service, texts
from tasks.models import Priority, Source
from tasks.recurrence import Recurrence, Repeat, guessed
from tasks.service import Changes, TaskError, TaskSpec

DRAFT = "new_task"
LIST_LIMIT = 10
PHOTOS_SHOWN = 10
NOT_MENU = ~MenuLabel(*ALL_MENU_LABELS)


class NewTask(StatesGroup):
    """The steps of giving a task; a button is taken only at its own step."""

    title = State()
    assignees = State()
    due = State()
    repeat = State()
    ends = State()
    count = State()
    until = State()
    source = State()
    case = State()
    priority = State()
    confirm = State()


# The step each kind of button answers.
BUTTON_STEPS = {
    "who": NewTask.assignees,
    "due": NewTask.due,
    "rep": NewTask.repeat,
    "end": NewTask.ends,
    "src": NewTask.source,
    "case": NewTask.case,
    "pri": NewTask.priority,
    "go": NewTask.confirm,
}
BUTTON_ONLY = (NewTask.repeat, NewTask.ends, NewTask.source, NewTask.priority, NewTask.confirm)


class ManageTask(StatesGroup):
    """A creator typing: a reason to send a completion back, or a new value for a task."""

    reason = State()
    edit = State()


def _tn(step: str, value: str) -> str:
    return TaskNew(step=step, value=value).pack()


def _tm(action: str, target: int, arg: str = "") -> str:
    return TaskManage(action=action, target=target, arg=arg).pack()


def _markup(rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data) for text, data in row] for row in rows]
    )


async def _draft(state: FSMContext) -> dict[str, Any]:
    return dict((await state.get_data()).get(DRAFT) or {})


async def _save(state: FSMContext, draft: dict[str, Any]) -> None:
    await state.update_data({DRAFT: draft})


# --- the flow ----------------------------------------------------------------------------------


async def new_task_handler(message: Message, officer: Officer, state: FSMContext) -> None:
    """Starts giving a task (supervisors, the legal brigade, administrators)."""
    if not service.may_give_tasks(officer):
        await message.answer(_("Only supervisors and the legal brigade can assign tasks."))
        return
    await state.set_state(NewTask.title)
    await state.update_data({DRAFT: {}})
    await message.answer(
        _(
            "<b>Assign a task</b>\nType the task's title. Further lines, if any, become its description.\n"
            "Send /cancel to stop."
        ),
        reply_markup=_markup([[(_("📋 Tasks I assigned"), _tm("l", 0))]]),
    )


async def title_handler(message: Message, officer: Officer, session: AsyncSession, state: FSMContext) -> None:
    """Takes the title (first line) and the description (the rest)."""
    text = (message.text or "").strip()
    title, _sep, rest = text.partition("\n")
    title, description = title.strip(), rest.strip()
    if not title:
        await message.answer(task_error_text(TaskError("title_empty")))
        return
    if len(title) > service.MAX_TITLE:
        await message.answer(task_error_text(TaskError("title_long")))
        return
    if len(description) > service.MAX_DESCRIPTION:
        await message.answer(task_error_text(TaskError("description_long")))
        return
    draft = await _draft(state)
    draft.update(title=title, description=description or None)
    await _save(state, draft)
    await state.set_state(NewTask.assignees)
    await _ask_assignees(message, officer, session)


async def _ask_assignees(message: Message, officer: Officer, session: AsyncSession) -> None:
    rows: list[list[tuple[str, str]]] = []
    scope = await people.scope_unit(session=session, creator=officer)
    if scope is not None:
        names = await people.unit_names(session=session, unit_ids=[scope])
        if scope in names:
            rows.append([(_("Everyone in {unit}").format(unit=names[scope]), _tn("who", "scope"))])
    await message.answer(
        _(
            "<b>Who is it for?</b>\nType badge numbers, unit names (their sub-units included) or roles "
            "(role:officer), separated by spaces or commas. Example: <code>1001 1002</code> or <code>一中队</code>"
        ),
        reply_markup=_markup(rows) if rows else None,
    )


async def _take_assignees(
    message: Message,
    officer: Officer,
    session: AsyncSession,
    settings: Settings,
    state: FSMContext,
    tokens: list[str],
) -> None:
    scope = await people.scope_unit(session=session, creator=officer)
    resolution = await people.resolve(session=session, tokens=tokens, scope_unit_id=scope, creator_id=officer.id)
    if resolution.unknown:
        await message.answer(task_error_text(TaskError("unknown_assignee", ", ".join(resolution.unknown))))
        return
    if resolution.outside:
        await message.answer(task_error_text(TaskError("outside", ", ".join(resolution.outside))))
        return
    if not resolution.officers:
        await message.answer(task_error_text(TaskError("nobody")))
        return
    draft = await _draft(state)
    draft["assignees"] = resolution.tokens
    await _save(state, draft)
    names = texts.names_line([(o.name, o.badge) for o in resolution.officers], officer.language)
    await message.answer(_("→ {n} officer(s): {names}").format(n=len(resolution.officers), names=names))
    await state.set_state(NewTask.due)
    await _ask_due(message, officer, settings)


async def assignees_handler(
    message: Message, officer: Officer, session: AsyncSession, settings: Settings, state: FSMContext
) -> None:
    """Takes who the task is for."""
    tokens = people.split_tokens(message.text or "")
    if not tokens:
        await message.answer(task_error_text(TaskError("nobody")))
        return
    await _take_assignees(message, officer, session, settings, state, tokens)


def _quick_dues(now: datetime, settings: Settings, language: str) -> list[tuple[str, datetime]]:
    local = now.astimezone(settings.tz)
    at = service.DEFAULT_DUE_TIME
    today = datetime.combine(local.date(), at, tzinfo=settings.tz)
    choices: list[tuple[str, datetime]] = []
    if today > now + timedelta(minutes=30):
        choices.append((_("Today 18:00"), today))
    choices.append((_("Tomorrow 18:00"), today + timedelta(days=1)))
    # The coming Friday (a week on, if today is Friday), for a 周清-style end of the week.
    friday = datetime.combine(local.date() + timedelta(days=(4 - local.weekday()) % 7 or 7), at, tzinfo=settings.tz)
    if friday > today + timedelta(days=1):
        choices.append((texts.format_due(friday, language, settings.tz), friday))
    return choices


async def _ask_due(message: Message, officer: Officer, settings: Settings) -> None:
    choices = _quick_dues(utcnow(), settings, officer.language)
    await message.answer(
        _(
            "<b>When is it due?</b>\nType a date and time, e.g. <code>2026-12-03 18:00</code> "
            "(a date alone means 18:00), or pick one:"
        ),
        reply_markup=_markup([[(label, _tn("due", when.strftime("%Y%m%d%H%M")))] for label, when in choices]),
    )


async def _take_due(
    message: Message, officer: Officer, settings: Settings, state: FSMContext, due: datetime
) -> None:
    if due <= utcnow():
        await message.answer(task_error_text(TaskError("due_past")))
        return
    draft = await _draft(state)
    draft["due"] = due.isoformat()
    await _save(state, draft)
    await _ask_repeat(message, officer, settings, state, due)


async def due_handler(message: Message, officer: Officer, settings: Settings, state: FSMContext) -> None:
    """Takes a typed due date and time."""
    due = service.parse_due(message.text or "", settings)
    if due is None:
        await message.answer(_("Please type a date and time like 2026-12-03 18:00, or /cancel."))
        return
    await _take_due(message, officer, settings, state, due)


async def _ask_repeat(
    message: Message, officer: Officer, settings: Settings, state: FSMContext, due: datetime
) -> None:
    await state.set_state(NewTask.repeat)
    language = officer.language
    options: list[list[tuple[str, str]]] = []
    for repeat in Repeat:
        rule = Recurrence.starting(repeat, due, settings.tz)
        label = texts.repeat_text(rule, language)
        options.append([(label, _tn("rep", repeat.value))])
    await message.answer(_("<b>How often?</b>"), reply_markup=_markup(options))


async def _ask_end(message: Message, state: FSMContext) -> None:
    await state.set_state(NewTask.ends)
    await message.answer(
        _("<b>Until when?</b>"),
        reply_markup=_markup(
            [
                [(_("No end"), _tn("end", "never"))],
                [(_("A number of times…"), _tn("end", "count"))],
                [(_("Until a date…"), _tn("end", "until"))],
            ]
        ),
    )


async def _ask_source(message: Message, officer: Officer, state: FSMContext) -> None:
    await state.set_state(NewTask.source)
    language = officer.language
    await message.answer(
        _("<b>What kind of work is it?</b>"),
        reply_markup=_markup([[(texts.source_name(s.value, language), _tn("src", s.value))] for s in Source]),
    )


async def _ask_priority(message: Message, officer: Officer, state: FSMContext) -> None:
    await state.set_state(NewTask.priority)
    language = officer.language
    order = (Priority.NORMAL, Priority.HIGH, Priority.LOW)
    await message.answer(
        _("<b>How urgent?</b> Urgent tasks are pushed even during quiet hours."),
        reply_markup=_markup([[(texts.priority_name(p.value, language), _tn("pri", p.value))] for p in order]),
    )


def _spec(draft: dict[str, Any]) -> TaskSpec:
    return TaskSpec(
        title=str(draft["title"]),
        assignees=list(draft["assignees"]),
        due=datetime.fromisoformat(str(draft["due"])),
        repeat=Repeat(draft.get("repeat", Repeat.NONE.value)),
        priority=Priority(draft.get("priority", Priority.NORMAL.value)),
        source=Source(draft.get("source", Source.OTHER.value)),
        description=draft.get("description"),
        until=date.fromisoformat(draft["until"]) if draft.get("until") else None,
        count=int(draft["count"]) if draft.get("count") else None,
        case_number=draft.get("case"),
    )


async def _ask_confirm(
    message: Message, officer: Officer, session: AsyncSession, settings: Settings, state: FSMContext
) -> None:
    draft = await _draft(state)
    spec = _spec(draft)
    checked = await service.preview(
        session=session, spec=spec, settings=settings, calendar=load_calendar(settings), creator=officer, now=utcnow()
    )
    if checked.problems:
        await message.answer(task_error_text(checked.problems[0]))
        await message.answer(_("Let us start again from the due time."))
        await state.set_state(NewTask.due)
        await _ask_due(message, officer, settings)
        return
    language = officer.language
    tz = settings.tz
    rule = Recurrence.starting(spec.repeat, spec.due, tz, until=spec.until, count=spec.count)
    lines = ["<b>" + esc(_("Please check the task:")) + "</b>", f"📋 <b>{esc(spec.title)}</b>"]
    if spec.description:
        lines.append(esc(texts.cut(spec.description, 500)))
    officers = checked.resolution.officers
    lines.append(
        _("For {n} officer(s): {names}").format(
            n=len(officers), names=texts.names_line([(o.name, o.badge) for o in officers], language)
        )
    )
    lines.append(esc(_("Due: {due}").format(due=texts.format_due(checked.dues[0], language, tz))))
    if spec.repeat is not Repeat.NONE:
        lines.append(esc(_("Repeats: {rule}").format(rule=texts.repeat_text(rule, language))))
        following = ", ".join(texts.format_due(d, language, tz) for d in checked.dues[1:])
        if following:
            lines.append(esc(_("Then: {dues}").format(dues=following)))
        calendar = load_calendar(settings)
        if spec.repeat in (Repeat.WORKDAYS, Repeat.MONTHLY_LAST_WORKDAY) and guessed(
            [d.astimezone(tz).date() for d in checked.dues], calendar
        ):
            lines.append(
                esc(
                    _(
                        "No official holiday schedule yet for some of these dates: Monday to Friday are "
                        "assumed, and the schedule is used once it is published."
                    )
                )
            )
    about = [texts.source_name(spec.source.value, language), texts.priority_name(spec.priority.value, language)]
    if spec.case_number:
        about.append(_("case {number}").format(number=spec.case_number))
    lines.append(esc(" · ".join(about)))
    await state.set_state(NewTask.confirm)
    await message.answer(
        "\n".join(lines),
        reply_markup=_markup([[(_("✅ Assign"), _tn("go", "yes")), (_("✖ Discard"), _tn("go", "no"))]]),
    )


async def new_task_choice(
    query: CallbackQuery,
    callback_data: TaskNew,
    officer: Officer,
    session: AsyncSession,
    settings: Settings,
    state: FSMContext,
) -> None:
    """Handles every button of the flow, each only at its own step (a stale button is refused)."""
    message = query.message if isinstance(query.message, Message) else None
    current = await state.get_state()
    step, value = callback_data.step, callback_data.value
    expected = BUTTON_STEPS.get(step)
    if message is None or expected is None or current != expected.state:
        await query.answer(_("This step is no longer open. Please use the latest message."), show_alert=True)
        return
    if not service.may_give_tasks(officer):
        await query.answer(_("Only supervisors and the legal brigade can assign tasks."), show_alert=True)
        return
    draft = await _draft(state)
    await query.answer()
    with contextlib.suppress(TelegramBadRequest):
        await message.edit_reply_markup(reply_markup=None)  # a step is answered once
    if step == "who":
        scope = await people.scope_unit(session=session, creator=officer)
        names = await people.unit_names(session=session, unit_ids=[scope] if scope is not None else [])
        if scope is None or scope not in names:
            await message.answer(task_error_text(TaskError("nobody")))
            return
        await _take_assignees(message, officer, session, settings, state, [people.UNIT_PREFIX + names[scope]])
    elif step == "due":
        try:
            due = datetime.strptime(value, "%Y%m%d%H%M").replace(tzinfo=settings.tz)
        except ValueError:
            return
        await _take_due(message, officer, settings, state, due)
    elif step == "rep":
        draft["repeat"] = Repeat(value).value
        draft.pop("until", None)
        draft.pop("count", None)
        await _save(state, draft)
        if value == Repeat.NONE.value:
            await _ask_source(message, officer, state)
        else:
            await _ask_end(message, state)
    elif step == "end":
        if value == "count":
            await state.set_state(NewTask.count)
            await message.answer(_("How many times in all? Type a number, e.g. 12."))
        elif value == "until":
            await state.set_state(NewTask.until)
            await message.answer(_("Until which day? Type a date like 2027-06-30 (that day included)."))
        else:
            await _ask_source(message, officer, state)
    elif step == "src":
        draft["source"] = Source(value).value
        await _save(state, draft)
        if value == Source.CASE.value:
            await state.set_state(NewTask.case)
            await message.answer(
                _("Which case? Type its case number, or skip."),
                reply_markup=_markup([[(_("Skip"), _tn("case", "skip"))]]),
            )
        else:
            await _ask_priority(message, officer, state)
    elif step == "case":
        draft.pop("case", None)
        await _save(state, draft)
        await _ask_priority(message, officer, state)
    elif step == "pri":
        draft["priority"] = Priority(value).value
        await _save(state, draft)
        await _ask_confirm(message, officer, session, settings, state)
    elif step == "go":
        if value != "yes":
            await state.set_state(None)
            await state.update_data({DRAFT: {}})
            await message.answer(_("Discarded. Nothing was assigned."))
            return
        await _give(message, officer, session, settings, state, draft)


async def _give(
    message: Message,
    officer: Officer,
    session: AsyncSession,
    settings: Settings,
    state: FSMContext,
    draft: dict[str, Any],
) -> None:
    now = utcnow()
    calendar = load_calendar(settings)
    try:
        created = await service.create_task(
            session=session,
            spec=_spec(draft),
            settings=settings,
            calendar=calendar,
            creator=officer,
            actor=officer.badge,
            now=now,
        )
    except TaskError as error:
        await message.answer(task_error_text(error))
        if error.code == "due_past":
            await state.set_state(NewTask.due)
            await _ask_due(message, officer, settings)
        return
    await state.set_state(None)
    await state.update_data({DRAFT: {}})
    await message.answer(
        _("Assigned to {n} officer(s); they are being notified. This card shows who has completed it.").format(
            n=len(created.assignees)
        )
    )
    await _send_card(message, officer, session, settings, created.occurrence.id, now)


async def not_text(message: Message) -> None:
    """Answers a photo, sticker or file sent where the flow expects text or a button."""
    await message.answer(_("Please answer with text or the buttons above, or send /cancel to stop."))


async def choose_with_buttons(message: Message) -> None:
    """Points at the buttons when text arrives at a step answered by a button."""
    await message.answer(_("Please choose with the buttons above, or send /cancel to stop."))


async def count_handler(message: Message, officer: Officer, state: FSMContext) -> None:
    """Takes how many times a series runs."""
    text = (message.text or "").strip()
    if not text.isdigit() or not 1 <= int(text) <= service.MAX_COUNT:
        await message.answer(task_error_text(TaskError("bad_count")))
        return
    draft = await _draft(state)
    draft["count"] = int(text)
    await _save(state, draft)
    await _ask_source(message, officer, state)


async def until_handler(message: Message, officer: Officer, settings: Settings, state: FSMContext) -> None:
    """Takes the last day a series runs."""
    parsed = service.parse_due(message.text or "", settings)
    draft = await _draft(state)
    if parsed is None:
        await message.answer(_("Please type a date like 2027-06-30, or /cancel."))
        return
    until = parsed.astimezone(settings.tz).date()
    if until < datetime.fromisoformat(str(draft["due"])).astimezone(settings.tz).date():
        await message.answer(task_error_text(TaskError("until_before_due")))
        return
    draft["until"] = until.isoformat()
    await _save(state, draft)
    await _ask_source(message, officer, state)


async def case_handler(message: Message, officer: Officer, state: FSMContext) -> None:
    """Takes the case number of a case follow-up (checked at the summary)."""
    number = (message.text or "").strip()
    if not number or len(number) > 64:
        await message.answer(_("Please type the case number, or press Skip."))
        return
    draft = await _draft(state)
    draft["case"] = number
    await _save(state, draft)
    await _ask_priority(message, officer, state)


# --- the creator's side ------------------------------------------------------------------------


async def _send_card(
    message: Message, officer: Officer, session: AsyncSession, settings: Settings, occurrence_id: int, now: datetime
) -> None:
    """Sends an occurrence's progress card as a new message and keeps it up to date from now on."""
    progress = await service.occurrence_progress(
        session=session, occurrence_id=occurrence_id, settings=settings, now=now, officer=officer
    )
    sent = await message.answer(
        texts.progress_text(progress, officer.language, settings.tz),
        reply_markup=inline(texts.progress_buttons(progress, officer.language)),
    )
    await service.remember_card(
        session=session, officer=officer, scope="occurrence", target_id=occurrence_id, message_id=sent.message_id, now=now
    )


async def _show_in_place(
    query: CallbackQuery,
    officer: Officer,
    session: AsyncSession,
    settings: Settings,
    *,
    occurrence_id: int | None = None,
    series_id: int | None = None,
) -> None:
    """Turns the pressed message into an occurrence's or a series' card, kept up to date from now on."""
    now = utcnow()
    language = officer.language
    if occurrence_id is not None:
        progress = await service.occurrence_progress(
            session=session, occurrence_id=occurrence_id, settings=settings, now=now, officer=officer
        )
        text = texts.progress_text(progress, language, settings.tz)
        buttons = texts.progress_buttons(progress, language)
        scope, target = "occurrence", occurrence_id
    else:
        assert series_id is not None
        series_view = await service.series_progress(
            session=session, series_id=series_id, settings=settings, calendar=load_calendar(settings), now=now,
            officer=officer,
        )
        text = texts.series_text(series_view, language, settings.tz)
        buttons = texts.series_buttons(series_view, language)
        scope, target = "series", series_id
    if not isinstance(query.message, Message):
        return
    with contextlib.suppress(TelegramBadRequest):  # "message is not modified": it was up to date
        await query.message.edit_text(text, reply_markup=inline(buttons))
    await service.remember_card(
        session=session, officer=officer, scope=scope, target_id=target, message_id=query.message.message_id, now=now
    )


async def _list_created(
    message: Message, officer: Officer, session: AsyncSession, settings: Settings
) -> None:
    now = utcnow()
    items, total = await service.created_tasks(
        session=session, officer=officer, settings=settings, now=now, limit=LIST_LIMIT
    )
    if not items:
        await message.answer(_("No open tasks that you assigned."))
        return
    language = officer.language
    lines = [_("<b>Tasks you assigned</b>, by due time:")]
    rows: list[list[tuple[str, str]]] = []
    for number, item in enumerate(items, start=1):
        facts = item.facts
        due = texts.format_due(facts.due, language, settings.tz)
        state = _("done {done}/{total}").format(done=item.done, total=item.total)
        if item.overdue:
            state += " · 🔴 " + _("{n} overdue").format(n=item.overdue)
        lines.append(f"{number}. <b>{esc(facts.title)}</b>\n    {due} · {esc(state)}")
        rows.append([(f"{number}. {texts.cut(facts.title, 40)}", _tm("v", facts.occurrence_id))])
    if total > len(items):
        lines.append(_("…and {n} more.").format(n=total - len(items)))
    await message.answer("\n".join(lines), reply_markup=_markup(rows))


async def manage_callback(
    query: CallbackQuery,
    callback_data: TaskManage,
    officer: Officer,
    session: AsyncSession,
    settings: Settings,
    state: FSMContext,
) -> None:
    """Handles every button of a creator's card."""
    action, target, arg = callback_data.action, callback_data.target, callback_data.arg
    message = query.message if isinstance(query.message, Message) else None
    now = utcnow()
    calendar = load_calendar(settings)
    try:
        if message is None:
            await query.answer()
            return
        if action == "l":
            await query.answer()
            await _list_created(message, officer, session, settings)
        elif action == "v":
            await query.answer()
            await _send_card(message, officer, session, settings, target, now)
        elif action == "r":
            await _show_in_place(query, officer, session, settings, occurrence_id=target)
            await query.answer(_("Up to date."))
        elif action == "s":
            await _show_in_place(query, officer, session, settings, series_id=target)
            await query.answer()
        elif action == "sr":
            await _show_in_place(query, officer, session, settings, series_id=target)
            await query.answer(_("Up to date."))
        elif action == "n":
            reminded = await service.nudge(
                session=session, occurrence_id=target, officer=officer, settings=settings, now=now
            )
            await query.answer(_("Reminded {n} officer(s).").format(n=reminded), show_alert=True)
        elif action == "ro":
            progress = await service.occurrence_progress(
                session=session, occurrence_id=target, settings=settings, now=now, officer=officer
            )
            rows = [
                [("↩️ " + f"{row.name}（{row.badge}）", _tm("rp", row.assignment_id, str(target)))]
                for row in progress.rows
                if row.state == "done"
            ][:20]
            rows.append([(_("« Back"), _tm("r", target))])
            await query.answer(_("Whose completion should be sent back?"))
            await message.edit_reply_markup(reply_markup=_markup(rows))
        elif action == "rp":
            sent_back = await service.get_assignment(session=session, assignment_id=target)
            if sent_back is None:
                raise TaskError("not_found")
            if not service.may_manage(officer, sent_back[2]):
                raise TaskError("forbidden")
            if sent_back[0].status != "done":
                raise TaskError("not_done")
            await state.set_state(ManageTask.reason)
            await state.update_data(task_reopen_assignment=target)
            await query.answer()
            await message.answer(_("Why is it sent back? Type the reason; the officer will read it. Send /cancel to stop."))
        elif action == "ph":
            await query.answer()
            progress = await service.occurrence_progress(
                session=session, occurrence_id=target, settings=settings, now=now, officer=officer
            )
            shown = 0
            for row in progress.rows:
                if row.state == "done" and row.photo_file_id and shown < PHOTOS_SHOWN:
                    caption = f"{row.name}（{row.badge}）" + (f" · {row.note}" if row.note else "")
                    await message.answer_photo(row.photo_file_id, caption=esc(texts.cut(caption, 900)))
                    shown += 1
            if not shown:
                await message.answer(_("No photos yet."))
        elif action == "e":
            await service.occurrence_progress(
                session=session, occurrence_id=target, settings=settings, now=now, officer=officer
            )
            await query.answer()
            await message.edit_reply_markup(reply_markup=_edit_buttons(target))
        elif action == "ef":
            await _edit_field(query, message, officer, session, settings, state, target, arg)
        elif action == "ep":
            await service.change(
                session=session, occurrence_id=target, officer=officer, changes=Changes(priority=Priority(arg)),
                settings=settings, calendar=calendar, now=now,
            )
            await _show_in_place(query, officer, session, settings, occurrence_id=target)
            await query.answer(_("Changed."))
        elif action == "x":
            found = await service.get_occurrence(session=session, occurrence_id=target)
            if found is None:
                raise TaskError("not_found")
            _occurrence, series = found
            if not service.may_manage(officer, series):
                raise TaskError("forbidden")
            await query.answer()
            if Repeat(series.repeat) is Repeat.NONE:
                rows = [[(_("Yes, cancel this task"), _tm("xo", target))]]
            else:
                rows = [
                    [(_("Only this time"), _tm("xo", target))],
                    [(_("This and later times"), _tm("xf", target))],
                ]
            rows.append([(_("« Back"), _tm("r", target))])
            await message.edit_reply_markup(reply_markup=_markup(rows))
        elif action in ("xo", "xf"):
            await service.cancel(
                session=session, occurrence_id=target, officer=officer, following=action == "xf",
                settings=settings, calendar=calendar, now=now,
            )
            await _show_in_place(query, officer, session, settings, occurrence_id=target)
            await query.answer(_("Cancelled; those not done are told."), show_alert=True)
        else:
            await query.answer()
    except TaskError as error:
        await query.answer(task_error_text(error), show_alert=True)


def _edit_buttons(occurrence_id: int) -> InlineKeyboardMarkup:
    return _markup(
        [
            [(_("Title"), _tm("ef", occurrence_id, "title")), (_("Description"), _tm("ef", occurrence_id, "desc"))],
            [(_("Due time"), _tm("ef", occurrence_id, "due")), (_("Who"), _tm("ef", occurrence_id, "who"))],
            [(_("Urgency"), _tm("ef", occurrence_id, "pri"))],
            [(_("« Back"), _tm("r", occurrence_id))],
        ]
    )


async def _edit_field(
    query: CallbackQuery,
    message: Message,
    officer: Officer,
    session: AsyncSession,
    settings: Settings,
    state: FSMContext,
    occurrence_id: int,
    field: str,
) -> None:
    found = await service.get_occurrence(session=session, occurrence_id=occurrence_id)
    if found is None:
        raise TaskError("not_found")
    _occurrence, series = found
    if not service.may_manage(officer, series):
        raise TaskError("forbidden")
    repeating = Repeat(series.repeat) is not Repeat.NONE
    if field == "pri":
        await query.answer()
        language = officer.language
        rows = [
            [(texts.priority_name(p.value, language), _tm("ep", occurrence_id, p.value))]
            for p in (Priority.NORMAL, Priority.HIGH, Priority.LOW)
        ]
        rows.append([(_("« Back"), _tm("r", occurrence_id))])
        await message.edit_reply_markup(reply_markup=_markup(rows))
        return
    prompts = {
        "title": _("Type the new title."),
        "desc": _("Type the new description (send - to clear it)."),
        "due": (
            _("Type the new time of day, like 17:30 (for this and later times).")
            if repeating
            else _("Type the new due date and time, like 2026-12-03 18:00.")
        ),
        "who": _(
            "Type who it is for from now on (replaces the list, for this and later times): "
            "badge numbers, unit names or roles."
        ),
    }
    if field not in prompts:
        await query.answer()
        return
    await state.set_state(ManageTask.edit)
    await state.update_data(task_edit_occurrence=occurrence_id, task_edit_field=field)
    await query.answer()
    await message.answer(prompts[field] + "\n" + _("Send /cancel to stop."))


async def reason_handler(
    message: Message, officer: Officer, session: AsyncSession, settings: Settings, state: FSMContext
) -> None:
    """Sends a completion back with the reason just typed."""
    data = await state.get_data()
    assignment_id = data.get("task_reopen_assignment")
    if not isinstance(assignment_id, int):
        await state.set_state(None)
        await message.answer(_("This task no longer exists."))
        return
    try:
        assignment = await service.reopen(
            session=session,
            assignment_id=assignment_id,
            officer=officer,
            reason=message.text or "",
            settings=settings,
            calendar=load_calendar(settings),
            now=utcnow(),
        )
    except TaskError as error:
        await message.answer(task_error_text(error))
        if error.code not in ("reason_empty", "reason_long"):
            await state.set_state(None)
        return
    await state.set_state(None)
    assignee = await session.get(Officer, assignment.officer_id)
    who = f"{assignee.name}（{assignee.badge}）" if assignee is not None else ""
    await message.answer(_("Sent back to {person}; they are told why.").format(person=esc(who)))


async def edit_handler(
    message: Message, officer: Officer, session: AsyncSession, settings: Settings, state: FSMContext
) -> None:
    """Applies a typed change to this and later times of a task."""
    data = await state.get_data()
    occurrence_id, field = data.get("task_edit_occurrence"), data.get("task_edit_field")
    if not isinstance(occurrence_id, int) or not isinstance(field, str):
        await state.set_state(None)
        await message.answer(_("This task no longer exists."))
        return
    text = (message.text or "").strip()
    changes: Changes | None = None
    if field == "title":
        changes = Changes(title=text)
    elif field == "desc":
        changes = Changes(description="" if text == "-" else text)
    elif field == "who":
        changes = Changes(assignees=people.split_tokens(text))
    elif field == "due":
        due = _typed_time(text, settings) or service.parse_due(text, settings)
        if due is None:
            await message.answer(_("Please type a time like 17:30, or a date and time like 2026-12-03 18:00."))
            return
        changes = Changes(due=due)
    if changes is None:
        await state.set_state(None)
        return
    try:
        await service.change(
            session=session, occurrence_id=occurrence_id, officer=officer, changes=changes, settings=settings,
            calendar=load_calendar(settings), now=utcnow(),
        )
    except TaskError as error:
        await message.answer(task_error_text(error))
        if error.code in ("forbidden", "not_found", "closed"):
            await state.set_state(None)
        return
    await state.set_state(None)
    await message.answer(_("Changed; the officers concerned are told."))
    await _send_card(message, officer, session, settings, occurrence_id, utcnow())


def _typed_time(text: str, settings: Settings) -> datetime | None:
    """Reads a time of day alone ("17:30"), as today at that time."""
    text = text.strip().replace("：", ":")
    try:
        clock = datetime.strptime(text, "%H:%M").time()
    except ValueError:
        return None
    today = utcnow().astimezone(settings.tz).date()
    return datetime.combine(today, clock, tzinfo=settings.tz)


def create_router() -> Router:
    """Builds the router of giving tasks and of the creator's side (a new one per application)."""
    router = Router(name="task_create")
    router.message.filter(Enrolled())
    router.callback_query.filter(Enrolled())
    router.message.register(new_task_handler, Command("newtask"))
    router.message.register(new_task_handler, MenuLabel(NEW_TASK))
    router.callback_query.register(new_task_choice, TaskNew.filter())
    router.callback_query.register(manage_callback, TaskManage.filter())
    typed = (F.text, ~F.text.startswith("/"), NOT_MENU)
    router.message.register(title_handler, NewTask.title, *typed)
    router.message.register(assignees_handler, NewTask.assignees, *typed)
    router.message.register(due_handler, NewTask.due, *typed)
    router.message.register(count_handler, NewTask.count, *typed)
    router.message.register(until_handler, NewTask.until, *typed)
    router.message.register(case_handler, NewTask.case, *typed)
    router.message.register(choose_with_buttons, StateFilter(*BUTTON_ONLY), *typed)
    router.message.register(reason_handler, ManageTask.reason, *typed)
    router.message.register(edit_handler, ManageTask.edit, *typed)
    router.message.register(not_text, StateFilter(NewTask, ManageTask), ~F.text)
    return router
