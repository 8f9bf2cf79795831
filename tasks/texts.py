"""What officers read about tasks, in their language, and the buttons under it.

Pushes (assignment notices, reminders, escalations, live progress cards) are rendered here for
the outbox; the bot renders its own screens with the same functions, so a card pushed as an edit
and a card shown on a button press read the same. Text is Telegram HTML; everything a person
typed is escaped. Callback data is packed here exactly as the bot's CallbackData factories do
(``tk:<action>:<assignment>:<arg>`` for an assignee, ``tm:<action>:<id>:<arg>`` for a creator).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.i18n import gettext_for
from tasks.models import Priority, Source
from tasks.progress import OccurrenceProgress, SeriesProgress, TaskFacts
from tasks.recurrence import Recurrence, Repeat

ASSIGNEE_PREFIX = "tk"
MANAGE_PREFIX = "tm"
MAX_CARD_ROWS = 40
MAX_NAMES = 12


def N_(message: str) -> str:
    """Marks a msgid for extraction without translating it (it is translated where it is shown)."""
    return message


# gettext msgids; tasks.po carries the Chinese wording.
M_BTN_DONE = N_("✅ Done")
M_BTN_SNOOZE = N_("⏰ Remind me later")
M_BTN_VIEW = N_("📋 View progress")
M_BTN_NUDGE = N_("🔔 Remind those not done")
M_BTN_REFRESH = N_("🔄 Refresh")
M_BTN_SERIES = N_("📊 Whole series")
M_BTN_THIS = N_("📋 This time")
M_BTN_REOPEN = N_("↩️ Send back")
M_BTN_CHANGE = N_("✏️ Change")
M_BTN_CANCEL = N_("🚫 Cancel")
M_BTN_PHOTOS = N_("📷 Photos")

PRIORITY_NAMES = {
    Priority.HIGH.value: N_("Urgent"),
    Priority.NORMAL.value: N_("Normal priority"),
    Priority.LOW.value: N_("Low priority"),
}
SOURCE_NAMES = {
    Source.RECTIFICATION.value: N_("Rectifying an enforcement problem"),
    Source.CASE.value: N_("Case follow-up"),
    Source.TRAINING.value: N_("Training"),
    Source.OTHER.value: N_("Other work"),
}
WEEKDAYS = (
    N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"), N_("Sunday")
)
WEEKDAYS_SHORT = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))


def esc(text: str) -> str:
    """Escapes text for Telegram's HTML parse mode."""
    return html.escape(text, quote=False)


def cut(text: str, limit: int) -> str:
    """Shortens text to a number of characters, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def assignee_callback(action: str, assignment_id: int, arg: str = "") -> str:
    """Packs an assignee's button as the bot's TaskAction factory does."""
    return f"{ASSIGNEE_PREFIX}:{action}:{assignment_id}:{arg}"


def manage_callback(action: str, target_id: int, arg: str = "") -> str:
    """Packs a creator's button as the bot's TaskManage factory does."""
    return f"{MANAGE_PREFIX}:{action}:{target_id}:{arg}"


def assignee_buttons(assignment_id: int, language: str) -> list[list[dict[str, str]]]:
    """The two answers under a task: done, and remind me later."""
    _ = gettext_for(language)
    return [
        [
            {"text": _(M_BTN_DONE), "callback_data": assignee_callback("done", assignment_id)},
            {"text": _(M_BTN_SNOOZE), "callback_data": assignee_callback("snz", assignment_id)},
        ]
    ]


def escalation_buttons(occurrence_id: int, language: str) -> list[list[dict[str, str]]]:
    """The creator's buttons under an overdue notice: see who is behind, remind them."""
    _ = gettext_for(language)
    return [
        [
            {"text": _(M_BTN_VIEW), "callback_data": manage_callback("v", occurrence_id)},
            {"text": _(M_BTN_NUDGE), "callback_data": manage_callback("n", occurrence_id)},
        ]
    ]


def view_buttons(occurrence_id: int, language: str) -> list[list[dict[str, str]]]:
    """The creator's button that opens an occurrence's progress card."""
    _ = gettext_for(language)
    return [[{"text": _(M_BTN_VIEW), "callback_data": manage_callback("v", occurrence_id)}]]


# --- dates and names ---------------------------------------------------------------------------


def format_due(when: datetime, language: str, tz: ZoneInfo) -> str:
    """Writes a due time as "2026-03-15 Sun 18:00" (周日 in Chinese)."""
    _ = gettext_for(language)
    local = when.astimezone(tz)
    return f"{local:%Y-%m-%d} {_(WEEKDAYS_SHORT[local.weekday()])} {local:%H:%M}"


def time_left(due: datetime, now: datetime, language: str) -> str:
    """Says how long is left before a due time, or how long it is overdue."""
    _ = gettext_for(language)
    delta = due - now
    overdue = delta < timedelta(0)
    seconds = abs(delta.total_seconds())
    if seconds < 3600:
        n = max(1, int(seconds // 60))
        return (_("overdue by {n} min") if overdue else _("{n} min left")).format(n=n)
    if seconds < 2 * 86400:
        n = int(seconds // 3600)
        return (_("overdue by {n} h") if overdue else _("{n} h left")).format(n=n)
    n = int(seconds // 86400)
    return (_("overdue by {n} days") if overdue else _("{n} days left")).format(n=n)


def priority_name(priority: str, language: str) -> str:
    """Names a priority."""
    return gettext_for(language)(PRIORITY_NAMES.get(priority, PRIORITY_NAMES[Priority.NORMAL.value]))


def source_name(source: str, language: str) -> str:
    """Names where a task comes from."""
    return gettext_for(language)(SOURCE_NAMES.get(source, SOURCE_NAMES[Source.OTHER.value]))


def repeat_text(rec: Recurrence, language: str) -> str:
    """Describes a rule: "Every working day at 18:00 (daily check), 20 times in all"."""
    _ = gettext_for(language)
    at = rec.at.strftime("%H:%M")
    if rec.repeat is Repeat.NONE:
        return _("One-off")
    if rec.repeat is Repeat.DAILY:
        text = _("Every day at {time}").format(time=at)
    elif rec.repeat is Repeat.WORKDAYS:
        text = _("Every working day at {time} (daily check)").format(time=at)
    elif rec.repeat is Repeat.WEEKLY:
        weekday = rec.start.weekday() if rec.weekday is None else rec.weekday
        text = _("Every {weekday} at {time} (weekly check)").format(weekday=_(WEEKDAYS[weekday]), time=at)
    elif rec.repeat is Repeat.MONTHLY:
        day = rec.start.day if rec.month_day is None else rec.month_day
        text = _("Monthly on day {day} at {time} (monthly check)").format(day=day, time=at)
        if day > 28:
            text += _(", on the last day in shorter months")
    else:
        text = _("Last working day of each month at {time} (monthly check)").format(time=at)
    if rec.count is not None:
        text += _(", {n} times in all").format(n=rec.count)
    if rec.until is not None:
        text += _(", until {date}").format(date=rec.until.isoformat())
    return text


def person(name: str, badge: str) -> str:
    """Writes an officer as 张三（1001）."""
    return f"{esc(name)}（{esc(badge)}）"


def names_line(people: Sequence[tuple[str, str]], language: str) -> str:
    """Lists officers, at most MAX_NAMES of them."""
    _ = gettext_for(language)
    shown = "、".join(person(name, badge) for name, badge in people[:MAX_NAMES])
    if len(people) > MAX_NAMES:
        shown += _(" and {n} more").format(n=len(people) - MAX_NAMES)
    return shown


# --- messages ----------------------------------------------------------------------------------


def _details(facts: TaskFacts, language: str, tz: ZoneInfo, now: datetime, *, full: bool) -> list[str]:
    _ = gettext_for(language)
    lines = [f"<b>{esc(facts.title)}</b>"]
    if full and facts.description:
        lines.append(esc(cut(facts.description, 1500)))
    due = format_due(facts.due, language, tz)
    lines.append(_("Due: {due} ({left})").format(due=due, left=time_left(facts.due, now, language)))
    if full:
        if facts.repeats:
            lines.append(_("Repeats: {rule}").format(rule=esc(repeat_text(facts.rule, language))))
        about = [source_name(facts.source, language), priority_name(facts.priority, language)]
        if facts.case_number:
            about.append(_("case {number}").format(number=esc(facts.case_number)))
        lines.append(" · ".join(about))
        if facts.creator_name and facts.creator_badge:
            lines.append(_("Given by {person}").format(person=person(facts.creator_name, facts.creator_badge)))
    elif facts.priority == Priority.HIGH.value:
        lines.append("🔴 " + priority_name(facts.priority, language))
    return lines


def notice_text(facts: TaskFacts, language: str, tz: ZoneInfo, now: datetime) -> str:
    """The message an assignee gets when a task is given to them."""
    _ = gettext_for(language)
    head = "📋 <b>" + esc(_("New task")) + "</b>"
    tail = _("Press ✅ Done when it is finished (you may add a note or a photo).")
    return "\n".join([head, *_details(facts, language, tz, now, full=True), "", esc(tail)])


def card_text_for_assignee(facts: TaskFacts, state: str, language: str, tz: ZoneInfo, now: datetime) -> str:
    """One task as an officer sees it from their list."""
    _ = gettext_for(language)
    marks = {"overdue": "🔴 ", "done": "✅ ", "open": "📋 "}
    lines = [marks.get(state, "📋 ") + line if i == 0 else line for i, line in enumerate(
        _details(facts, language, tz, now, full=True)
    )]
    if state == "done":
        lines.append(esc(_("You have completed this task.")))
    return "\n".join(lines)


def reminder_text(facts: TaskFacts, kind: str, language: str, tz: ZoneInfo, now: datetime) -> str:
    """A reminder before the due time ("before"), on it ("due") or after "remind me later" ("snooze")."""
    _ = gettext_for(language)
    if kind == "due":
        head = "⏰ <b>" + esc(_("Task due now")) + "</b>"
        ask = _("Please finish it and press ✅ Done.")
    else:
        head = "⏰ <b>" + esc(_("Task reminder")) + "</b>"
        ask = _("Press ✅ Done when it is finished.")
    return "\n".join([head, *_details(facts, language, tz, now, full=False), esc(ask)])


def nudge_text(facts: TaskFacts, language: str, tz: ZoneInfo, now: datetime) -> str:
    """The reminder a creator sends by hand to those who have not completed a task."""
    _ = gettext_for(language)
    who = person(facts.creator_name, facts.creator_badge) if facts.creator_name and facts.creator_badge else ""
    head = "🔔 <b>" + (_("{person} reminds you of a task").format(person=who) if who else _("Task reminder")) + "</b>"
    return "\n".join([head, *_details(facts, language, tz, now, full=False), esc(_("Press ✅ Done when it is finished."))])


def changed_text(facts: TaskFacts, language: str, tz: ZoneInfo, now: datetime, *, following: bool) -> str:
    """Tells an assignee that a task was changed (this time, or this and later times)."""
    _ = gettext_for(language)
    head = "✏️ <b>" + esc(_("Task changed") + (_(" (this and later times)") if following else "")) + "</b>"
    return "\n".join([head, *_details(facts, language, tz, now, full=True)])


def cancelled_text(facts: TaskFacts, language: str, tz: ZoneInfo, *, following: bool) -> str:
    """Tells an assignee that a task was cancelled."""
    _ = gettext_for(language)
    due = format_due(facts.due, language, tz)
    what = _("This and later times are cancelled.") if following else _("This time is cancelled.")
    if not facts.repeats:
        what = _("The task is cancelled.")
    return "\n".join(
        ["🚫 <b>" + esc(_("Task cancelled")) + "</b>", f"<b>{esc(facts.title)}</b>", esc(_("Due: {due}").format(due=due)), esc(what)]
    )


def removed_text(facts: TaskFacts, language: str, tz: ZoneInfo) -> str:
    """Tells an officer they were taken off a task."""
    _ = gettext_for(language)
    return "\n".join(
        [
            "➖ <b>" + esc(_("Task no longer yours")) + "</b>",
            f"<b>{esc(facts.title)}</b>",
            esc(_("You have been taken off this task; nothing more is needed from you.")),
        ]
    )


def reopened_text(facts: TaskFacts, reason: str, language: str, tz: ZoneInfo, now: datetime) -> str:
    """Tells an assignee their completion was sent back, and why."""
    _ = gettext_for(language)
    who = person(facts.creator_name, facts.creator_badge) if facts.creator_name and facts.creator_badge else ""
    head = "↩️ <b>" + esc(_("Task sent back")) + "</b>"
    lines = [head, *_details(facts, language, tz, now, full=False)]
    lines.append(_("Reason from {person}: {reason}").format(person=who or "—", reason=esc(reason)))
    lines.append(esc(_("Please complete it again and press ✅ Done.")))
    return "\n".join(lines)


def all_done_text(progress: OccurrenceProgress, language: str, tz: ZoneInfo) -> str:
    """Tells a creator that everyone has completed an occurrence."""
    _ = gettext_for(language)
    facts = progress.facts
    return "\n".join(
        [
            "✅ <b>" + esc(_("Task completed by everyone")) + "</b>",
            f"<b>{esc(facts.title)}</b>",
            esc(
                _("Due {due}: {done}/{total} done.").format(
                    due=format_due(facts.due, language, tz), done=progress.done, total=progress.total
                )
            ),
        ]
    )


def overdue_text(progress: OccurrenceProgress, language: str, tz: ZoneInfo, *, supervisor: bool) -> str:
    """Tells a creator (or, later, their supervisor) who has not completed an overdue occurrence."""
    _ = gettext_for(language)
    facts = progress.facts
    waiting = progress.waiting
    if supervisor:
        head = "🔴 <b>" + esc(_("Overdue task for your supervision")) + "</b>"
    else:
        head = "🔴 <b>" + esc(_("Task overdue")) + "</b>"
    lines = [head, f"<b>{esc(facts.title)}</b>"]
    due = format_due(facts.due, language, tz)
    lines.append(esc(_("Due: {due} ({left})").format(due=due, left=time_left(facts.due, progress.now, language))))
    if supervisor and facts.creator_name and facts.creator_badge:
        lines.append(_("Given by {person}").format(person=person(facts.creator_name, facts.creator_badge)))
    names = names_line([(row.name, row.badge) for row in waiting], language)
    lines.append(_("Not done {n}/{total}: {names}").format(n=len(waiting), total=progress.total, names=names))
    return "\n".join(lines)


def overdue_digest(items: Sequence[OccurrenceProgress], language: str, tz: ZoneInfo, *, supervisor: bool) -> str:
    """Many overdue occurrences for one person, in one message, most overdue first."""
    _ = gettext_for(language)
    ordered = sorted(items, key=lambda p: p.facts.due)
    head = _("{n} overdue tasks for your supervision") if supervisor else _("{n} of your tasks are overdue")
    lines = ["🔴 <b>" + esc(head.format(n=len(items))) + "</b>"]
    for number, item in enumerate(ordered[:15], start=1):
        facts = item.facts
        lines.append(
            f"{number}. <b>{esc(cut(facts.title, 40))}</b> · {format_due(facts.due, language, tz)} · "
            + esc(_("not done {n}/{total}").format(n=len(item.waiting), total=item.total))
        )
    if len(ordered) > 15:
        lines.append(esc(_("…and {n} more.").format(n=len(ordered) - 15)))
    return "\n".join(lines)


# --- the creator's progress card --------------------------------------------------------------


_STATE_MARKS = {"done": "✅", "open": "⏳", "overdue": "🔴", "cancelled": "🚫", "removed": "➖"}


def progress_text(progress: OccurrenceProgress, language: str, tz: ZoneInfo) -> str:
    """The creator's card for one occurrence: who has completed it, who has not."""
    _ = gettext_for(language)
    facts = progress.facts
    now = progress.now
    lines = [f"📋 <b>{esc(facts.title)}</b>"]
    if facts.repeats:
        lines.append(esc(repeat_text(facts.rule, language)))
        lines.append(esc(_("This time (no. {seq}):").format(seq=facts.seq)))
    due = format_due(facts.due, language, tz)
    if facts.status == "cancelled":
        lines.append(esc(_("Due: {due} · cancelled").format(due=due)))
    else:
        lines.append(esc(_("Due: {due} ({left})").format(due=due, left=time_left(facts.due, now, language))))
    summary = _("Done {done}/{total}").format(done=progress.done, total=progress.total)
    overdue = progress.count("overdue")
    if overdue:
        summary += " · " + _("{n} overdue").format(n=overdue)
    lines.append(f"<b>{esc(summary)}</b>")
    ordered = sorted(
        progress.rows,
        key=lambda r: ({"overdue": 0, "open": 1, "done": 2}.get(r.state, 3), r.badge),
    )
    for row in ordered[:MAX_CARD_ROWS]:
        line = f"{_STATE_MARKS.get(row.state, '·')} {person(row.name, row.badge)}"
        if row.state == "done" and row.completed_at is not None:
            line += " " + row.completed_at.astimezone(tz).strftime("%m-%d %H:%M")
            if row.late:
                line += " " + esc(_("(late)"))
            if row.on_behalf:
                line += " " + esc(_("(by an administrator)"))
            if row.photo_file_id:
                line += " 📷"
            if row.note:
                line += " · 📝 " + esc(cut(row.note, 60))
        elif row.state in ("open", "overdue"):
            if row.reopened:
                line += " " + esc(_("(sent back)"))
            if not row.enrolled:
                line += " " + esc(_("(not enrolled yet)"))
        line_state = {"cancelled": _("cancelled"), "removed": _("taken off")}.get(row.state)
        if line_state:
            line += " " + esc(line_state)
        lines.append(line)
    if len(ordered) > MAX_CARD_ROWS:
        lines.append(esc(_("…and {n} more.").format(n=len(ordered) - MAX_CARD_ROWS)))
    lines.append("<i>" + esc(_("Updated {time}").format(time=now.astimezone(tz).strftime("%H:%M"))) + "</i>")
    return "\n".join(lines)


def progress_buttons(progress: OccurrenceProgress, language: str) -> list[list[dict[str, str]]]:
    """The creator's buttons under an occurrence's card."""
    _ = gettext_for(language)
    facts = progress.facts
    occurrence = facts.occurrence_id
    rows: list[list[dict[str, str]]] = []
    first = [{"text": _(M_BTN_REFRESH), "callback_data": manage_callback("r", occurrence)}]
    waiting = len(progress.waiting)
    if waiting and facts.status == "open":
        first.append({"text": f"{_(M_BTN_NUDGE)} ({waiting})", "callback_data": manage_callback("n", occurrence)})
    rows.append(first)
    second = []
    if facts.repeats:
        second.append({"text": _(M_BTN_SERIES), "callback_data": manage_callback("s", facts.series_id)})
    if progress.done and facts.status != "cancelled":
        second.append({"text": _(M_BTN_REOPEN), "callback_data": manage_callback("ro", occurrence)})
    if any(row.photo_file_id for row in progress.rows if row.state == "done"):
        second.append({"text": _(M_BTN_PHOTOS), "callback_data": manage_callback("ph", occurrence)})
    if second:
        rows.append(second)
    if facts.status != "cancelled" and (facts.status == "open" or facts.series_status == "active"):
        rows.append(
            [
                {"text": _(M_BTN_CHANGE), "callback_data": manage_callback("e", occurrence)},
                {"text": _(M_BTN_CANCEL), "callback_data": manage_callback("x", occurrence)},
            ]
        )
    return rows


def series_text(progress: SeriesProgress, language: str, tz: ZoneInfo) -> str:
    """The creator's card for a whole series: each officer's record and the recent occurrences."""
    _ = gettext_for(language)
    facts = progress.facts
    lines = [f"📊 <b>{esc(facts.title)}</b> · " + esc(_("whole series"))]
    lines.append(esc(repeat_text(facts.rule, language)))
    status = {"ended": _("the series has ended"), "cancelled": _("the series is cancelled")}.get(facts.series_status)
    made = _("{n} times so far").format(n=progress.made)
    if progress.next_due is not None and facts.series_status == "active":
        made += " · " + _("next due {due}").format(due=format_due(progress.next_due, language, tz))
    if status:
        made += " · " + status
    lines.append(esc(made))
    lines.append("<b>" + esc(_("Per officer (done · late · open · overdue):")) + "</b>")
    for tally in progress.officers[:MAX_CARD_ROWS]:
        parts = [f"✅{tally.done}"]
        if tally.late:
            parts.append(f"⌛{tally.late}")
        if tally.open:
            parts.append(f"⏳{tally.open}")
        if tally.overdue:
            parts.append(f"🔴{tally.overdue}")
        lines.append(f"{person(tally.name, tally.badge)} " + " ".join(parts))
    if len(progress.officers) > MAX_CARD_ROWS:
        lines.append(esc(_("…and {n} more.").format(n=len(progress.officers) - MAX_CARD_ROWS)))
    if progress.recent:
        lines.append("<b>" + esc(_("Recent times:")) + "</b>")
        for recent in progress.recent:
            local = recent.due.astimezone(tz).strftime("%m-%d %H:%M")
            mark = {"done": " ✅", "cancelled": " 🚫"}.get(recent.status, "")
            lines.append(f"#{recent.seq} {local} {recent.done}/{recent.total}{mark}")
    lines.append("<i>" + esc(_("Updated {time}").format(time=progress.now.astimezone(tz).strftime("%H:%M"))) + "</i>")
    return "\n".join(lines)


def series_buttons(progress: SeriesProgress, language: str) -> list[list[dict[str, str]]]:
    """The creator's buttons under a series' card."""
    _ = gettext_for(language)
    series = progress.facts.series_id
    row = [{"text": _(M_BTN_REFRESH), "callback_data": manage_callback("sr", series)}]
    if progress.current_occurrence_id:
        row.append({"text": _(M_BTN_THIS), "callback_data": manage_callback("r", progress.current_occurrence_id)})
    return [row]
