"""What officers and the sender see: the tip, its buttons, the sender's live status message.

Texts are Telegram HTML built in the reader's language (gettext, English msgids). A tip is
checked against Telegram's limits when it is written (a caption holds 1,024 characters, a
message 4,096): long article quotes are shortened first, and a tip that still does not fit is
refused with the number of characters to cut, in every language and with a reminder heading.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from broadcasts.articles import ArticleQuote
from broadcasts.figures import Figures
from core.i18n import LANGUAGES, gettext_for
from core.outbox import MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH, visible_length

ACK_PREFIX = "bca"  # 已阅 under a tip: bca:{broadcast_id}
ACTION_PREFIX = "bcs"  # the sender's buttons: bcs:{action}:{broadcast_id}
PREVIEW_ID = 0  # the 已阅 button of a preview carries no broadcast

# Article quotes are shortened step by step until the tip fits: whole, then about these many
# characters, then the heading alone.
QUOTE_STEPS: tuple[int | None, ...] = (None, 600, 250, 100, 0)

M_HEAD = "📢 <b>Risk tip</b>"
M_HEAD_URGENT = "🚨 <b>Urgent risk tip</b>"
M_REMINDER = "🔔 <b>Reminder {n}: please read this tip and press Acknowledge.</b>"
M_FROM = "{name}, {unit} · {time}"
M_ACK = "✅ Acknowledge"
M_ARTICLE = "《{law}》{article} ({version} version)"
M_SUPERSEDED = "Superseded by {new}"


class TipTooLong(Exception):
    """A tip that does not fit in one Telegram message even with its quotes shortened."""

    def __init__(self, excess: int, limit: int) -> None:
        super().__init__(f"the tip is {excess} characters too long for one Telegram message (limit {limit})")
        self.excess = excess
        self.limit = limit


def esc(text: str) -> str:
    """Escapes text for Telegram's HTML parse mode."""
    return html.escape(text, quote=False)


@dataclass(frozen=True)
class Tip:
    """What an officer's copy of a broadcast is made of."""

    text: str
    sender_name: str
    sender_unit: str
    sent_at: datetime
    urgent: bool = False
    has_media: bool = False
    articles: tuple[ArticleQuote, ...] = field(default_factory=tuple)


def _shorten(text: str, at: int) -> str:
    if len(text) <= at:
        return text
    cut = text[:at]
    soft = max(cut.rfind(mark) for mark in "。；;\n")
    if soft >= at * 2 // 3:
        cut = cut[: soft + 1]
    return cut.rstrip() + "…"


def _article_html(quote: ArticleQuote, _: Callable[[str], str], at: int | None) -> str:
    heading = (
        _(M_ARTICLE).format(law=quote.law.strip("《》"), article=quote.article, version=quote.version)
        if quote.version
        else quote.label
    )
    parts = [f"📖 <b>{esc(heading)}</b>"]
    if quote.superseded_by:
        parts.append("⚠️ <i>" + esc(_(M_SUPERSEDED).format(new=quote.superseded_by)) + "</i>")
    if at != 0:
        body = quote.text.strip() if at is None else _shorten(quote.text.strip(), at)
        parts.append(f"<blockquote expandable>{esc(body)}</blockquote>")
    return "\n".join(parts)


def limit_for(tip: Tip) -> int:
    """Returns Telegram's limit for the tip: a caption's when it carries a photo or document."""
    return MAX_CAPTION_LENGTH if tip.has_media else MAX_TEXT_LENGTH


def _compose(tip: Tip, language: str, tz: ZoneInfo, reminder: int, at: int | None) -> str:
    _ = gettext_for(language)
    lines = []
    if reminder:
        lines.append(_(M_REMINDER).format(n=reminder))
    lines.append(_(M_HEAD_URGENT) if tip.urgent else _(M_HEAD))
    blocks = ["\n".join(lines), esc(tip.text.strip())]
    blocks.extend(_article_html(quote, _, at) for quote in tip.articles)
    when = tip.sent_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    footer = _(M_FROM).format(name=esc(tip.sender_name), unit=esc(tip.sender_unit), time=when)
    blocks.append(f"<i>— {footer}</i>")
    return "\n\n".join(blocks)


def render_tip(tip: Tip, language: str, tz: ZoneInfo, *, reminder: int = 0) -> str:
    """Renders an officer's copy of a tip (a reminder round's when ``reminder`` is set), within limits."""
    limit = limit_for(tip)
    text = ""
    for at in QUOTE_STEPS if tip.articles else (None,):
        text = _compose(tip, language, tz, reminder, at)
        if visible_length(text, "HTML") <= limit:
            return text
    raise TipTooLong(visible_length(text, "HTML") - limit, limit)


def check_tip(tip: Tip, tz: ZoneInfo) -> None:
    """Checks that a tip fits in every language, even as a reminder; raises TipTooLong otherwise."""
    worst = 0
    for language in LANGUAGES:
        try:
            render_tip(tip, language, tz, reminder=9)
        except TipTooLong as exc:
            worst = max(worst, exc.excess)
    if worst:
        raise TipTooLong(worst, limit_for(tip))


def ack_callback(broadcast_id: int) -> str:
    """Packs the 已阅 button as the bot's CallbackData factory does (bca:{id})."""
    return f"{ACK_PREFIX}:{broadcast_id}"


def action_callback(action: str, broadcast_id: int) -> str:
    """Packs one of the sender's buttons as the bot's CallbackData factory does (bcs:{action}:{id})."""
    return f"{ACTION_PREFIX}:{action}:{broadcast_id}"


def ack_buttons(broadcast_id: int, language: str) -> list[list[dict[str, str]]]:
    """Builds the 已阅 button under a tip."""
    _ = gettext_for(language)
    return [[{"text": _(M_ACK), "callback_data": ack_callback(broadcast_id)}]]


# --- the sender's status message ---------------------------------------------------------------

M_STATUS_TITLE = "📣 <b>Tip #{id}</b> · {state}"
M_STATE_SCHEDULED = "scheduled for {time}"
M_STATE_SENDING = "sending"
M_STATE_SENT = "sent"
M_STATE_CANCELLED = "cancelled"
M_STATE_FAILED = "not sent: {reason}"
M_URGENT = "urgent (quiet hours do not hold it back)"
M_AUDIENCE = "Audience: {audience}"
M_RECIPIENTS = "Recipients: {n}"
M_SENT = "Delivered: {n}"
M_ACKED = "Acknowledged: {n} ({pct}% of delivered)"
M_UNREACHABLE = "Unreachable: {n}"
M_PENDING = "Pending: {n}"
M_AWAITING = "Pending: {n} (of whom {m} not yet enrolled: they get it when they enroll)"
M_CANCELLED = "Withdrawn before sending: {n}"
M_REMINDERS = "Reminder rounds: {n} of {max}"
M_UPDATED = "Updated {time}"
M_BTN_UNITS = "📊 By unit"
M_BTN_UNREAD = "📋 Not acknowledged"
M_BTN_REMIND = "🔔 Remind"
M_BTN_CANCEL = "✖ Cancel unsent"
M_BTN_CANCEL_SCHEDULED = "✖ Cancel this tip"
M_BTN_REFRESH = "🔄 Refresh"


@dataclass(frozen=True)
class StatusView:
    """What the sender's status message says about one broadcast."""

    broadcast_id: int
    status: str
    text: str
    audience: str
    urgent: bool
    send_at: datetime
    figures: Figures
    reminder_rounds: int
    max_reminders: int
    failure: str | None = None


def status_digest(view: StatusView) -> str:
    """Returns what a status message shows apart from its clock, to tell whether it needs an edit."""
    return f"{view.status}/{view.reminder_rounds}/{view.figures.digest()}"


def first_line(text: str, at: int = 60) -> str:
    """Returns the start of a tip, to name it in lists."""
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= at else line[: at - 1] + "…"


def render_status(view: StatusView, language: str, tz: ZoneInfo, now: datetime) -> str:
    """Renders the sender's live status message."""
    _ = gettext_for(language)
    f = view.figures
    if view.status == "scheduled":
        state = _(M_STATE_SCHEDULED).format(time=view.send_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"))
    elif view.status == "failed":
        state = _(M_STATE_FAILED).format(reason=view.failure or "")
    else:
        state = _({"sending": M_STATE_SENDING, "sent": M_STATE_SENT, "cancelled": M_STATE_CANCELLED}[view.status])
    lines = [_(M_STATUS_TITLE).format(id=view.broadcast_id, state=esc(state))]
    lines.append(f"<i>{esc(first_line(view.text))}</i>")
    if view.urgent:
        lines.append("🚨 " + esc(_(M_URGENT)))
    lines.append(esc(_(M_AUDIENCE).format(audience=view.audience)))
    lines.append("")
    lines.append("👥 " + _(M_RECIPIENTS).format(n=f.recipients))
    lines.append("📨 " + _(M_SENT).format(n=f.sent))
    lines.append("✅ " + _(M_ACKED).format(n=f.acknowledged, pct=f.ack_percent))
    lines.append("🚫 " + _(M_UNREACHABLE).format(n=f.unreachable))
    if f.awaiting_enrollment:
        lines.append("⏳ " + _(M_AWAITING).format(n=f.pending, m=f.awaiting_enrollment))
    else:
        lines.append("⏳ " + _(M_PENDING).format(n=f.pending))
    if f.cancelled:
        lines.append("✖ " + _(M_CANCELLED).format(n=f.cancelled))
    if view.reminder_rounds:
        lines.append("🔔 " + _(M_REMINDERS).format(n=view.reminder_rounds, max=view.max_reminders))
    lines.append("")
    lines.append("<i>" + esc(_(M_UPDATED).format(time=now.astimezone(tz).strftime("%H:%M:%S"))) + "</i>")
    return "\n".join(lines)


def status_buttons(view: StatusView, language: str) -> list[list[dict[str, str]]]:
    """Builds the sender's buttons for the state the broadcast is in."""
    _ = gettext_for(language)
    bid = view.broadcast_id

    def button(label: str, action: str) -> dict[str, str]:
        return {"text": _(label), "callback_data": action_callback(action, bid)}

    if view.status == "scheduled":
        return [[button(M_BTN_CANCEL_SCHEDULED, "cancel")]]
    if view.status == "failed":
        return []
    rows = [[button(M_BTN_UNITS, "units"), button(M_BTN_UNREAD, "unread")]]
    actions = []
    f = view.figures
    if view.reminder_rounds < view.max_reminders and f.sent > f.acknowledged:
        actions.append(button(M_BTN_REMIND, "remind"))
    if view.status != "cancelled" and f.pending > 0:
        actions.append(button(M_BTN_CANCEL, "cancel"))
    if actions:
        rows.append(actions)
    rows.append([button(M_BTN_REFRESH, "refresh")])
    return rows


# --- per unit and the unacknowledged -----------------------------------------------------------

M_UNITS_TITLE = "📊 <b>Tip #{id} by unit</b>"
M_UNIT_LINE = "<b>{unit}</b>: {recipients} · delivered {sent} · acknowledged {acked} · unreachable {unreachable} · pending {pending}"
M_UNIT_CANCELLED = " · withdrawn {n}"
M_UNREAD_TITLE = "📋 <b>Tip #{id}: not acknowledged ({n})</b>"
M_UNREAD_NONE = "Everyone has acknowledged tip #{id}."
M_MORE = "…and {n} more."
STATE_WORDS = {
    "delivered": "delivered",
    "pending": "not yet sent",
    "not_enrolled": "not enrolled",
    "unreachable": "unreachable",
}


def render_units(broadcast_id: int, units: Sequence[tuple[str, Figures]], language: str) -> str:
    """Renders the per-unit breakdown."""
    _ = gettext_for(language)
    lines = [_(M_UNITS_TITLE).format(id=broadcast_id)]
    for name, f in units:
        line = _(M_UNIT_LINE).format(
            unit=esc(name),
            recipients=f.recipients,
            sent=f.sent,
            acked=f"{f.acknowledged} ({f.ack_percent}%)",
            unreachable=f.unreachable,
            pending=f.pending,
        )
        if f.cancelled:
            line += _(M_UNIT_CANCELLED).format(n=f.cancelled)
        lines.append(line)
    return "\n".join(lines)


def render_unacknowledged(
    broadcast_id: int,
    people: Sequence[tuple[str, str, str, str]],
    total_count: int,
    language: str,
) -> str:
    """Renders who has not acknowledged, by unit: (unit, badge, name, state) in unit order."""
    _ = gettext_for(language)
    if total_count == 0:
        return esc(_(M_UNREAD_NONE).format(id=broadcast_id))
    lines = [_(M_UNREAD_TITLE).format(id=broadcast_id, n=total_count)]
    current = None
    for unit, badge, name, state in people:
        if unit != current:
            lines.append(f"\n<b>{esc(unit)}</b>")
            current = unit
        note = "" if state == "delivered" else f" <i>({esc(_(STATE_WORDS[state]))})</i>"
        lines.append(f"• {esc(name)} {esc(badge)}{note}")
    if total_count > len(people):
        lines.append("\n" + esc(_(M_MORE).format(n=total_count - len(people))))
    return "\n".join(lines)
