"""我的任务: an officer's open tasks by due time, and the buttons under every task.

Under a task: ✅ 完成 (then done at once, or with a note or a photo), 稍后提醒 (in 1 or 3 hours,
or tomorrow 08:00). Only the officer the task is given to can complete it; everything goes
through tasks.service, which checks, records, audits and tells the creator.
"""

from __future__ import annotations

import contextlib

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.keyboards import ALL_MENU_LABELS, TASKS, MenuLabel, TaskAction, TaskManage, inline
from bot.middlewares import Enrolled
from bot.render import esc
from core.db import utcnow
from core.holidays import load_calendar
from core.identity import Officer
from core.settings import Settings
from tasks import service, texts
from tasks.service import TaskError

LIST_LIMIT = 10


class TaskDone(StatesGroup):
    """The officer is sending a note or a photo to go with a completion."""

    note = State()


def task_error_text(error: TaskError) -> str:
    """Says politely, in the officer's language, why a task action could not be taken."""
    messages = {
        "not_found": _("This task no longer exists."),
        "forbidden": _("Only the officer who gave this task, or an administrator, can do that."),
        "not_creator_role": _("Only supervisors and the legal brigade can assign tasks."),
        "not_assignee": _("Only an officer this task is given to can complete it."),
        "already_done": _("This task is already completed."),
        "not_done": _("This part is not completed, so there is nothing to send back."),
        "closed": _("This task has been cancelled or is no longer open."),
        "title_empty": _("Please type a title."),
        "title_long": _("The title is too long (at most 200 characters)."),
        "description_long": _("The description is too long (at most 2000 characters)."),
        "due_past": _("That time has already passed. Please give a later one."),
        "start_too_old": _("A repeating task cannot start more than 31 days ago."),
        "until_before_due": _("The end date is before the first due date."),
        "bad_count": _("Please give a number of times between 1 and 1000."),
        "no_occurrence": _("This rule gives no due date before the series ends."),
        "unknown_case": _("There is no case with this number."),
        "unknown_assignee": _("Not found: {names}. Use badge numbers, unit names or roles."),
        "outside": _("Outside the units you can assign tasks to: {names}."),
        "nobody": _("No active officer matches. Please check the names."),
        "reason_empty": _("Please give a reason."),
        "reason_long": _("The reason is too long (at most 500 characters)."),
        "note_long": _("The note is too long (at most 1000 characters)."),
        "bad_snooze": _("Please choose a later time."),
        "nothing_to_change": _("Nothing was changed."),
    }
    text = messages.get(error.code, _("This cannot be done now."))
    return text.format(names=esc(error.detail)) if "{names}" in text else text


def _button(text: str, action: str, assignment_id: int, arg: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=text, callback_data=TaskAction(action=action, assignment_id=assignment_id, arg=arg).pack()
    )


def main_buttons(assignment_id: int, language: str) -> InlineKeyboardMarkup | None:
    """完成 and 稍后提醒, exactly as pushes carry them."""
    return inline(texts.assignee_buttons(assignment_id, language))


def done_buttons(assignment_id: int) -> InlineKeyboardMarkup:
    """Done at once, or with a note or a photo."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(_("✅ Confirm: done"), "ok", assignment_id)],
            [_button(_("📝 Add a note or a photo"), "note", assignment_id)],
            [_button(_("« Back"), "back", assignment_id)],
        ]
    )


def snooze_buttons(assignment_id: int) -> InlineKeyboardMarkup:
    """In 1 hour, in 3 hours, tomorrow morning."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(_("In 1 hour"), "sz", assignment_id, "1h"),
                _button(_("In 3 hours"), "sz", assignment_id, "3h"),
            ],
            [_button(_("Tomorrow 08:00"), "sz", assignment_id, "tomorrow")],
            [_button(_("« Back"), "back", assignment_id)],
        ]
    )


async def tasks_handler(message: Message, officer: Officer, session: AsyncSession, settings: Settings) -> None:
    """Lists the officer's open tasks by due time, one button per task."""
    now = utcnow()
    items, total = await service.my_tasks(
        session=session, officer=officer, settings=settings, now=now, limit=LIST_LIMIT
    )
    creator_rows = _creator_buttons(officer)
    if not items:
        await message.answer(_("You have no open tasks."), reply_markup=_rows(creator_rows))
        return
    language = officer.language
    lines = [_("<b>Your tasks</b>, by due time:")]
    buttons = []
    for number, item in enumerate(items, start=1):
        facts = item.facts
        mark = "🔴" if item.state == "overdue" else ("❗" if facts.priority == "high" else "📋")
        due = texts.format_due(facts.due, language, settings.tz)
        left = texts.time_left(facts.due, now, language)
        lines.append(f"{number}. {mark} <b>{esc(facts.title)}</b>\n    {due} · {left}")
        buttons.append([_button(f"{number}. {texts.cut(facts.title, 40)}", "show", item.assignment_id)])
    if total > len(items):
        lines.append(_("…and {n} more.").format(n=total - len(items)))
    await message.answer("\n".join(lines), reply_markup=_rows([*buttons, *creator_rows]))


def _creator_buttons(officer: Officer) -> list[list[InlineKeyboardButton]]:
    """Those who give tasks reach the tasks they gave from 我的任务 too."""
    if not service.may_give_tasks(officer):
        return []
    target = TaskManage(action="l", target=0).pack()
    return [[InlineKeyboardButton(text=_("📋 Tasks I assigned"), callback_data=target)]]


def _rows(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


async def _replace_buttons(query: CallbackQuery, markup: InlineKeyboardMarkup | None) -> None:
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=markup)


def done_note(now_text: str) -> str:
    """The line that closes a task's card once it is done."""
    return "<b>" + esc(_("✅ Marked as done at {time}.").format(time=now_text)) + "</b>"


async def task_callback(
    query: CallbackQuery,
    callback_data: TaskAction,
    officer: Officer,
    session: AsyncSession,
    settings: Settings,
    state: FSMContext,
) -> None:
    """Handles every button under a task."""
    assignment_id, action, arg = callback_data.assignment_id, callback_data.action, callback_data.arg
    now = utcnow()
    language = officer.language
    try:
        view = await service.assignment_view(
            session=session, assignment_id=assignment_id, officer=officer, settings=settings, now=now
        )
        if action == "show":
            await query.answer()
            if isinstance(query.message, Message):
                markup = main_buttons(assignment_id, language) if view.state in ("open", "overdue") else None
                await query.message.answer(
                    texts.card_text_for_assignee(view.facts, view.state, language, settings.tz, now),
                    reply_markup=markup,
                )
            return
        if view.state == "done":
            raise TaskError("already_done")
        if view.state not in ("open", "overdue"):
            raise TaskError("closed")
        if action == "done":
            await query.answer()
            await _replace_buttons(query, done_buttons(assignment_id))
        elif action == "ok":
            await service.complete(
                session=session,
                assignment_id=assignment_id,
                officer=officer,
                settings=settings,
                calendar=load_calendar(settings),
                now=now,
            )
            stamp = now.astimezone(settings.tz).strftime("%H:%M")
            await query.answer(_("Done. Thank you."))
            if isinstance(query.message, Message):
                card = texts.card_text_for_assignee(view.facts, "done", language, settings.tz, now)
                await query.message.edit_text(f"{card}\n\n{done_note(stamp)}", reply_markup=None)
        elif action == "note":
            await state.set_state(TaskDone.note)
            message_id = query.message.message_id if isinstance(query.message, Message) else None
            await state.update_data(task_assignment_id=assignment_id, task_message_id=message_id)
            await query.answer()
            if isinstance(query.message, Message):
                await query.message.answer(
                    _(
                        "Send a note, or a photo (its caption becomes the note), to go with the completion. "
                        "Send /cancel to stop."
                    )
                )
        elif action == "snz":
            await query.answer()
            await _replace_buttons(query, snooze_buttons(assignment_id))
        elif action == "sz":
            until = service.snooze_until(arg, now=now, settings=settings)
            await service.snooze(
                session=session, assignment_id=assignment_id, officer=officer, until=until, settings=settings, now=now
            )
            when = until.astimezone(settings.tz).strftime("%m-%d %H:%M")
            await query.answer(_("I will remind you again at {time}.").format(time=when))
            await _replace_buttons(query, main_buttons(assignment_id, language))
        elif action == "back":
            await query.answer()
            await _replace_buttons(query, main_buttons(assignment_id, language))
        else:
            await query.answer()
    except TaskError as error:
        await query.answer(task_error_text(error), show_alert=True)


async def note_handler(
    message: Message, officer: Officer, session: AsyncSession, settings: Settings, state: FSMContext, bot: Bot
) -> None:
    """Completes the task with the note or photo just sent."""
    data = await state.get_data()
    assignment_id = data.get("task_assignment_id")
    if not isinstance(assignment_id, int):
        await state.set_state(None)
        await message.answer(_("This task no longer exists."))
        return
    note = message.caption if message.photo else message.text
    photo = message.photo[-1].file_id if message.photo else None
    if note is not None and len(note) > service.MAX_NOTE:
        await message.answer(task_error_text(TaskError("note_long")))
        return
    now = utcnow()
    await state.set_state(None)
    try:
        await service.complete(
            session=session,
            assignment_id=assignment_id,
            officer=officer,
            settings=settings,
            calendar=load_calendar(settings),
            now=now,
            note=note,
            photo_file_id=photo,
        )
    except TaskError as error:
        await message.answer(task_error_text(error))
        return
    stamp = now.astimezone(settings.tz).strftime("%H:%M")
    if photo:
        thanks = _("✅ Done at {time}, with your photo. Thank you.")
    else:
        thanks = _("✅ Done at {time}, with your note. Thank you.")
    await message.answer(thanks.format(time=stamp))
    task_message = data.get("task_message_id")
    if isinstance(task_message, int):
        view = await service.assignment_view(
            session=session, assignment_id=assignment_id, officer=officer, settings=settings, now=now
        )
        card = texts.card_text_for_assignee(view.facts, "done", officer.language, settings.tz, now)
        # The task's message may be gone or too old to edit; the completion stands either way.
        with contextlib.suppress(TelegramAPIError):
            await bot.edit_message_text(
                f"{card}\n\n{done_note(stamp)}",
                chat_id=message.chat.id,
                message_id=task_message,
                reply_markup=None,
            )


async def other_content_handler(message: Message) -> None:
    """Asks for text or a photo when something else arrives while a note is expected."""
    await message.answer(_("Please send a note as text, or a photo. Send /cancel to stop."))


def create_router() -> Router:
    """Builds the tasks router (a new one per application)."""
    router = Router(name="tasks")
    router.message.filter(Enrolled())
    router.callback_query.filter(Enrolled())
    router.message.register(tasks_handler, Command("tasks"))
    router.message.register(tasks_handler, MenuLabel(TASKS))
    router.callback_query.register(task_callback, TaskAction.filter())
    router.message.register(
        note_handler, TaskDone.note, F.text, ~F.text.startswith("/"), ~MenuLabel(*ALL_MENU_LABELS)
    )
    router.message.register(note_handler, TaskDone.note, F.photo)
    router.message.register(other_content_handler, TaskDone.note, ~F.text)
    return router
