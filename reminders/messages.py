"""What reminders say: the texts and buttons of reminders, digests, reviews and case handovers.

Everything is rendered as Telegram HTML in the reader's language (gettext msgids in English,
Chinese in the catalogues); every text that comes from outside (titles, names) is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.i18n import gettext_for
from core.settings import Settings

REMINDER_KIND = "reminder"
MAX_TIPS = 3
MAX_TIP_CHARS = 400
CALLBACK_PREFIX = "rem"
DIGEST_LINES = 15

# gettext msgids; the catalogues carry the Chinese wording.
M_HEAD_OFFICER = "⏰ <b>Case deadline reminder</b>"
M_HEAD_SUPERVISOR = "🔔 <b>Case deadline for your supervision</b>"
M_HEAD_LEGAL = "⚠️ <b>Overdue case deadline (legal brigade)</b>"
M_HEAD_PAUSED = "⏸ <b>Case deadline paused</b>"
M_CASE_OWN = "Your case {title} ({case_number}): {measure} ends on {deadline}."
M_CASE_OTHER = "Case {title} ({case_number}) handled by {officer}: {measure} ends on {deadline}."
M_DAYS_LEFT = "{n} day(s) left."
M_DUE_TODAY = "It ends today."
M_OVERDUE_DAYS = "Overdue by {n} day(s)."
M_HOURS_LEFT = "{n} hour(s) left."
M_DUE_NOW = "It ends now."
M_OVERDUE_HOURS = "Overdue by {n} hour(s)."
M_ACT = "Please handle it in accordance with the law in good time."
M_BASIS = "Legal basis: {article}"
M_TIPS = "Risk tips for cases of this kind:"
M_COUNTED_FROM = "Counted from {start}."
M_EXCLUDED = "{n} day(s) of expert examination or hearing are not counted."
M_PROVISIONAL = (
    "⚠️ Provisional date: the holiday schedule for {year} is not entered yet, so the date was not "
    "moved past holidays (it is never later than the legal one)."
)
M_PAUSED = (
    "The clock has been paused since {since} (expert examination or hearing; these days do not count). "
    "When it ends, record it or press Resume: the deadline is then counted again."
)
M_REQUEST_BY = "To extend ({label}; needs {approval}), the request must be sent by {date} ({article})."
M_REQUEST_TODAY = "Today is the last day to send the extension request ({label}; needs {approval}) ({article})."
M_REQUEST_MISSED = "The extension request ({label}) had to be sent by {date}; that day has passed."
M_UNDER_REVIEW_REPEAT = "⚖️ {measure} was decided again; the period above still counts. The legal brigade is reviewing it."
M_UNDER_REVIEW_LIMIT = "⚖️ This happened more often than the law allows. The legal brigade is reviewing it."
M_DIGEST_SUPERVISOR = "🔔 <b>{n} case deadlines for your supervision</b>"
M_DIGEST_LEGAL = "⚠️ <b>{n} overdue case deadlines (legal brigade)</b>"
M_DIGEST_ACT = "Please make sure each is handled in accordance with the law."
M_PROVISIONAL_MARK = "(provisional)"
M_MORE = "…and {n} more."
M_REVIEW_HEAD = "⚖️ <b>A case deadline for the legal brigade to review</b>"
M_REVIEW_REPEAT = (
    "Case {title} ({case_number}) handled by {officer}: {measure} was decided again on {date}. "
    "Frontline did not restart the period: it still runs from {start} to {deadline} ({article}). "
    "A new period needs the measure lifted and decided anew. Please check the case."
)
M_REVIEW_LIMIT = (
    "Case {title} ({case_number}) handled by {officer}: {measure} for the {n}th time on {date}, "
    "more often than {article} allows. Please check the case."
)
M_HANDOVER_HEAD = "📋 <b>Case handed over to you</b>"
M_HANDOVER = "Case {title} ({case_number}) is now yours (before: {previous})."
M_HANDOVER_DEADLINES = "Its running deadlines:"
M_HANDOVER_NONE = "It has no running deadlines."
M_HANDOVER_MENU = "Open “My reminders” to answer them."
M_HANDED_AWAY = "📋 Case {title} ({case_number}) has been handed over to {officer}; its deadline reminders now go to them."
M_BTN_DONE = "✅ Handled"
M_BTN_EXTEND = "📅 Extended"
M_BTN_SNOOZE = "⏰ Remind me later"
M_BTN_PAUSE = "⏸ Pause the clock"
M_BTN_RESUME = "▶️ Resume the clock"
M_BTN_REVIEWED = "✅ Reviewed: the period stands"


def callback_data(action: str, deadline_id: int, arg: str = "") -> str:
    """Packs a reminder button exactly as the router's CallbackData factory does (prefix:action:id:arg)."""
    return f"{CALLBACK_PREFIX}:{action}:{deadline_id}:{arg}"


def reminder_buttons(
    deadline_id: int, language: str, *, pausable: bool = False, paused: bool = False
) -> list[list[dict[str, str]]]:
    """Builds the answer buttons under a reminder, in the officer's language."""
    _ = gettext_for(language)
    rows = [
        [
            {"text": _(M_BTN_DONE), "callback_data": callback_data("done", deadline_id)},
            {"text": _(M_BTN_EXTEND), "callback_data": callback_data("ext", deadline_id)},
        ],
        [{"text": _(M_BTN_SNOOZE), "callback_data": callback_data("snz", deadline_id)}],
    ]
    if paused:
        rows.append([{"text": _(M_BTN_RESUME), "callback_data": callback_data("res", deadline_id)}])
    elif pausable:
        rows.append([{"text": _(M_BTN_PAUSE), "callback_data": callback_data("pau", deadline_id)}])
    return rows


def review_buttons(deadline_id: int, language: str) -> list[list[dict[str, str]]]:
    """Builds the legal brigade's button under a review request."""
    _ = gettext_for(language)
    return [[{"text": _(M_BTN_REVIEWED), "callback_data": callback_data("rvk", deadline_id)}]]


def format_deadline(due: datetime, *, hourly: bool, settings: Settings) -> str:
    """Writes a due time as an officer reads it: the date, plus the time for hour limits."""
    local = due.astimezone(settings.tz)
    return local.strftime("%Y-%m-%d %H:%M") if hourly else local.strftime("%Y-%m-%d")


def time_left_text(left: int, *, hourly: bool, language: str) -> str:
    """Says how much time is left, or how long it is overdue, in a language."""
    _ = gettext_for(language)
    if hourly:
        if left > 0:
            return _(M_HOURS_LEFT).format(n=left)
        return _(M_DUE_NOW) if left == 0 else _(M_OVERDUE_HOURS).format(n=-left)
    if left > 0:
        return _(M_DAYS_LEFT).format(n=left)
    return _(M_DUE_TODAY) if left == 0 else _(M_OVERDUE_DAYS).format(n=-left)


def short_left(left: int, *, hourly: bool) -> str:
    """Writes time left compactly for tables: '5 h', '-2 h', '3 d'."""
    return f"{left} h" if hourly else f"{left} d"


class Audience:
    """Who a reminder is for; decides its heading."""

    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    LEGAL = "legal"


@dataclass(frozen=True)
class RequestFacts:
    """When the request for the next extension must reach the approving body."""

    label: str
    approval: str
    by: str
    article: str
    state: str
    """ahead | today | missed"""


@dataclass(frozen=True)
class ReminderFacts:
    """Everything a reminder text says."""

    case_number: str
    title: str
    measure: str
    deadline: str
    left: int
    hourly: bool
    article: str
    officer_name: str
    officer_badge: str
    start: str = ""
    note: str = ""
    provisional_year: int | None = None
    excluded_days: int = 0
    paused_since: str = ""
    request: RequestFacts | None = None
    review: str | None = None
    review_date: str = ""


def render_reminder(facts: ReminderFacts, *, audience: str, language: str, tips: Sequence[str]) -> str:
    """Renders a reminder as Telegram HTML in a language (every outside text escaped)."""
    _ = gettext_for(language)
    esc = html.escape
    if facts.paused_since:
        head = M_HEAD_PAUSED
    else:
        head = {Audience.OFFICER: M_HEAD_OFFICER, Audience.SUPERVISOR: M_HEAD_SUPERVISOR}.get(
            audience, M_HEAD_LEGAL
        )
    values = {
        "title": f"<b>{esc(facts.title)}</b>",
        "case_number": esc(facts.case_number),
        "measure": esc(facts.measure),
        "deadline": f"<b>{esc(facts.deadline)}</b>",
        "officer": esc(f"{facts.officer_name}（{facts.officer_badge}）"),
    }
    body = _(M_CASE_OWN if audience == Audience.OFFICER else M_CASE_OTHER).format(**values)
    lines = [_(head), body]
    if facts.paused_since:
        lines.append(_(M_PAUSED).format(since=esc(facts.paused_since)))
    else:
        lines.append(time_left_text(facts.left, hourly=facts.hourly, language=language))
    if facts.start:
        lines.append(_(M_COUNTED_FROM).format(start=esc(facts.start)))
    if facts.excluded_days:
        lines.append(_(M_EXCLUDED).format(n=facts.excluded_days))
    if facts.provisional_year is not None:
        lines.append(_(M_PROVISIONAL).format(year=facts.provisional_year))
    if facts.request is not None:
        lines.append(_request_line(facts.request, language))
    if facts.review is not None:
        template = M_UNDER_REVIEW_REPEAT if facts.review == "repeat" else M_UNDER_REVIEW_LIMIT
        lines.append(_(template).format(measure=esc(facts.measure)))
    if not facts.paused_since:
        lines.append(_(M_ACT))
    if facts.note:
        lines.append(esc(facts.note))
    lines.append(_(M_BASIS).format(article=esc(facts.article)))
    if tips:
        lines.append("")
        lines.append(_(M_TIPS))
        lines.extend(f"{i}. {esc(tip)}" for i, tip in enumerate(tips[:MAX_TIPS], start=1))
    return "\n".join(lines)


def _request_line(request: RequestFacts, language: str) -> str:
    _ = gettext_for(language)
    esc = html.escape
    values = {
        "label": esc(request.label),
        "approval": esc(request.approval),
        "date": f"<b>{esc(request.by)}</b>",
        "article": esc(request.article),
    }
    template = {"today": M_REQUEST_TODAY, "missed": M_REQUEST_MISSED}.get(request.state, M_REQUEST_BY)
    line = _(template).format(**values)
    return f"<b>{line}</b>" if request.state == "today" else line


@dataclass(frozen=True)
class Escalation:
    """One deadline a supervisor or legal officer is to hear of in this scan."""

    audience: str
    facts: ReminderFacts
    tips: tuple[str, ...]
    dedupe_key: str
    urgent: bool


def render_digest(entries: Sequence[Escalation], *, language: str) -> str:
    """Renders many escalated deadlines as one message, most urgent first (at most DIGEST_LINES)."""
    _ = gettext_for(language)
    esc = html.escape
    ordered = sorted(entries, key=lambda e: e.facts.left if not e.facts.hourly else e.facts.left / 24)
    legal = all(e.audience == Audience.LEGAL for e in entries)
    lines = [_(M_DIGEST_LEGAL if legal else M_DIGEST_SUPERVISOR).format(n=len(entries))]
    for number, entry in enumerate(ordered[:DIGEST_LINES], start=1):
        f = entry.facts
        left = time_left_text(f.left, hourly=f.hourly, language=language)
        # Titles are cut so that fifteen lines stay well inside Telegram's 4096 characters.
        title = f.title if len(f.title) <= 40 else f.title[:39] + "…"
        deadline = esc(f.deadline)
        if f.provisional_year is not None:
            deadline += _(M_PROVISIONAL_MARK)
        lines.append(
            f"{number}. <b>{esc(title)}</b>（{esc(f.case_number)}）· {esc(f.measure)} · {deadline} · "
            f"{left} · {esc(f.officer_name)}（{esc(f.officer_badge)}）· {esc(f.article)}"
        )
    if len(ordered) > DIGEST_LINES:
        lines.append(_(M_MORE).format(n=len(ordered) - DIGEST_LINES))
    lines.append(_(M_DIGEST_ACT))
    return "\n".join(lines)


def render_review(
    facts: ReminderFacts, *, review: str, start: str, occurrences: int, language: str
) -> str:
    """Renders the legal brigade's review request for a deadline."""
    _ = gettext_for(language)
    esc = html.escape
    values = {
        "title": f"<b>{esc(facts.title)}</b>",
        "case_number": esc(facts.case_number),
        "officer": esc(f"{facts.officer_name}（{facts.officer_badge}）"),
        "measure": esc(facts.measure),
        "date": esc(facts.review_date),
        "start": esc(start),
        "deadline": f"<b>{esc(facts.deadline)}</b>",
        "article": esc(facts.article),
        "n": occurrences,
    }
    body = _(M_REVIEW_REPEAT if review == "repeat" else M_REVIEW_LIMIT).format(**values)
    return "\n".join([_(M_REVIEW_HEAD), body])


def render_handover(
    *,
    title: str,
    case_number: str,
    previous: str,
    deadlines: Sequence[tuple[str, str, str]],
    language: str,
) -> str:
    """Tells an officer a case is now theirs, with its running deadlines (measure, date, time left)."""
    _ = gettext_for(language)
    esc = html.escape
    lines = [
        _(M_HANDOVER_HEAD),
        _(M_HANDOVER).format(title=f"<b>{esc(title)}</b>", case_number=esc(case_number), previous=esc(previous)),
    ]
    if deadlines:
        lines.append(_(M_HANDOVER_DEADLINES))
        lines.extend(
            f"{i}. {esc(measure)} · <b>{esc(due)}</b> · {esc(left)}"
            for i, (measure, due, left) in enumerate(deadlines, start=1)
        )
        lines.append(_(M_HANDOVER_MENU))
    else:
        lines.append(_(M_HANDOVER_NONE))
    return "\n".join(lines)


def render_handed_away(*, title: str, case_number: str, officer: str, language: str) -> str:
    """Tells the former officer where a case went."""
    _ = gettext_for(language)
    esc = html.escape
    return _(M_HANDED_AWAY).format(title=f"<b>{esc(title)}</b>", case_number=esc(case_number), officer=esc(officer))
