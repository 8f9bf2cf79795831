"""Applications as an officer reads them on a phone (Telegram HTML), in the reader's language."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rights.evidence import EvidenceItem
from rights.models import EvidenceStatus, RightsApplication, RightsEvidence, RightsOutcome, Status
from rights.views import ApplicationView
from rights.vocab import (
    HELP,
    KINDS,
    LIMITS,
    N_,
    OFFICE_STATUSES,
    OUTCOMES,
    STATUS_ICONS,
    STATUSES,
    TYPES,
    translator,
)

Translate = Callable[[str], str]
ACCOUNT_SHOWN = 1500


def esc(text: str) -> str:
    """Escapes text for Telegram's HTML."""
    return html.escape(text, quote=False)


def fmt_time(moment: datetime, tz: ZoneInfo) -> str:
    """Writes a moment in local time: 2026-03-16 14:30."""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def fmt_due(due: datetime, tz: ZoneInfo) -> str:
    """Writes a time limit as the local day it ends on (a limit runs to the end of its day)."""
    return (due.astimezone(tz) - timedelta(microseconds=1)).strftime("%Y-%m-%d")


def occurred_text(occurred: datetime | None, precision: str, tz: ZoneInfo, _: Translate) -> str:
    """Says when it happened, as precisely as the applicant said."""
    if occurred is None:
        return _("not given")
    if precision == "day":
        return occurred.astimezone(tz).strftime("%Y-%m-%d")
    return fmt_time(occurred, tz)


def place_text(place: str | None, latitude: float | None, longitude: float | None, _: Translate) -> str:
    """Says where it happened: the words, and the shared location's coordinates."""
    parts = []
    if place:
        parts.append(place)
    if latitude is not None and longitude is not None:
        parts.append(f"📍 {latitude:.5f}, {longitude:.5f}")
    return " · ".join(parts) if parts else _("not given")


def labels(table: dict[str, str], codes: Iterable[str], _: Translate) -> str:
    """Joins the labels of several codes."""
    names = [_(table[c]) if c in table else c for c in codes]
    return "、".join(names) if names else _("none given")


def evidence_summary(kinds: Iterable[str], _: Translate, references: int = 0) -> str:
    """Counts evidence by kind: 3 photos, 1 voice note (1 kept as a reference only)."""
    counts = Counter(kinds)
    if not counts:
        return _("none given")
    text = ", ".join(f"{n} × {_(KINDS.get(kind, kind))}" for kind, n in counts.items())
    if references:
        text += " " + _("({n} kept as a reference only: too large to download)").format(n=references)
    return text


def status_line(app: RightsApplication, _: Translate, *, office: bool) -> str:
    """Returns the status with its icon."""
    table = OFFICE_STATUSES if office else STATUSES
    return f"{STATUS_ICONS.get(app.status, '')} {_(table.get(app.status, app.status))}"


def next_step(view: ApplicationView, language: str, tz: ZoneInfo) -> str:
    """Tells the applicant what happens next."""
    _ = translator(language)
    app = view.application
    if app.status == Status.SUBMITTED:
        if view.office_unit is None:
            return _("No rights office is set up above your unit yet; the administrators have been told.")
        if app.accept_due_at is not None:
            return _("The rights office of {unit} will accept it by {due}.").format(
                unit=esc(view.office_unit.name), due=fmt_due(app.accept_due_at, tz)
            )
        return _("The rights office of {unit} will accept it.").format(unit=esc(view.office_unit.name))
    if app.status in (Status.ACCEPTED, Status.INVESTIGATING):
        if app.decide_due_at is not None:
            return _("The office is looking into it and will decide by {due}.").format(
                due=fmt_due(app.decide_due_at, tz)
            )
        return _("The office is looking into it.")
    if app.status == Status.WAITING:
        return _("The office needs more information from you: press “Reply to the office” and send it.")
    if app.status == Status.DECIDED:
        return _("The office has decided; it will close the application.")
    return _("Nothing more to do.")


def outcome_lines(outcomes: Iterable[RightsOutcome], _: Translate) -> list[str]:
    """Lists the outcomes with their detail."""
    lines = []
    for outcome in outcomes:
        name = _(OUTCOMES.get(outcome.kind, outcome.kind))
        if outcome.detail:
            lines.append("• " + _("{outcome}: {detail}").format(outcome=f"<b>{esc(name)}</b>", detail=esc(outcome.detail)))
        else:
            lines.append(f"• <b>{esc(name)}</b>")
    return lines


def _evidence_rows(evidence: list[RightsEvidence]) -> tuple[list[str], int]:
    references = sum(1 for e in evidence if e.status == EvidenceStatus.REFERENCE)
    return [e.kind for e in evidence], references


def applicant_card(view: ApplicationView, language: str, tz: ZoneInfo) -> str:
    """Renders an application for its applicant: number, status, next step, outcomes."""
    _ = translator(language)
    app = view.application
    kinds, references = _evidence_rows(view.evidence)
    lines = [
        f"🛡 <b>{esc(app.number)}</b> · {esc(_(TYPES.get(app.type, app.type)))}",
        _("Status: {status}").format(status=status_line(app, _, office=False)),
        _("Submitted: {time}").format(time=fmt_time(app.submitted_at, tz)),
        _("Evidence: {summary}").format(summary=evidence_summary(kinds, _, references)),
    ]
    if view.handler is not None:
        lines.append(_("Handled by: {name}").format(name=esc(view.handler.name)))
    if app.status == Status.REJECTED and app.reject_reason:
        lines.append(_("Reason: {reason}").format(reason=esc(app.reject_reason)))
    if view.outcomes:
        lines.append(_("Decision:"))
        lines.extend(outcome_lines(view.outcomes, _))
    lines.append(_("Next: {step}").format(step=next_step(view, language, tz)))
    return "\n".join(lines)


def due_lines(app: RightsApplication, _: Translate, tz: ZoneInfo, now: datetime | None = None) -> list[str]:
    """Lists the running time limits, marking overdue and paused ones."""
    lines = []
    for key in ("accept", "feedback", "decide"):
        due: datetime | None = getattr(app, f"{key}_due_at")
        if due is None:
            continue
        name = _(LIMITS[key])
        if app.status == Status.WAITING:
            state = _("paused while waiting for the applicant")
        elif now is not None and now >= due:
            state = "⚠️ " + _("overdue")
        else:
            state = ""
        text = _("Time limit for {limit}: {due}").format(limit=name, due=fmt_due(due, tz))
        lines.append("⏳ " + (_("{limit} ({state})").format(limit=text, state=state) if state else text))
    return lines


def office_card(view: ApplicationView, language: str, tz: ZoneInfo, now: datetime | None = None) -> str:
    """Renders an application for the rights office: every fact, the evidence, limits and outcomes."""
    _ = translator(language)
    app = view.application
    kinds, references = _evidence_rows(view.evidence)
    applicant = view.applicant
    account = app.account or ""
    if len(account) > ACCOUNT_SHOWN:
        account = account[:ACCOUNT_SHOWN] + " …"
    lines = [
        f"🛡 <b>{esc(app.number)}</b> · <b>{esc(_(TYPES.get(app.type, app.type)))}</b>",
        _("Status: {status}").format(status=status_line(app, _, office=True)),
        _("Applicant: {name} ({badge}), {unit}").format(
            name=esc(applicant.name), badge=esc(applicant.badge), unit=esc(view.applicant_unit.name)
        ),
        _("When: {when}").format(when=occurred_text(app.occurred_at, app.occurred_precision, tz, _)),
        _("Where: {where}").format(where=esc(place_text(app.place, app.latitude, app.longitude, _))),
        _("What happened: {account}").format(account=esc(account) if account else _("see the voice note")),
    ]
    if app.people:
        lines.append(_("People involved: {people}").format(people=esc(app.people)))
    lines.append(_("Help wanted: {help}").format(help=esc(labels(HELP, app.help_wanted, _))))
    lines.append(_("Evidence: {summary}").format(summary=evidence_summary(kinds, _, references)))
    lines.append(_("Submitted: {time}").format(time=fmt_time(app.submitted_at, tz)))
    office = view.office_unit.name if view.office_unit else _("none given")
    lines.append(_("Office: {unit}").format(unit=esc(office)))
    lines.append(
        _("Handler: {name}").format(name=esc(view.handler.name) if view.handler else _("not assigned"))
    )
    lines.extend(due_lines(app, _, tz, now))
    if app.status == Status.REJECTED and app.reject_reason:
        lines.append(_("Reason: {reason}").format(reason=esc(app.reject_reason)))
    if view.outcomes:
        lines.append(_("Decision:"))
        lines.extend(outcome_lines(view.outcomes, _))
    return "\n".join(lines)


def draft_summary(
    *,
    type_code: str | None,
    occurred: datetime | None,
    precision: str,
    place: str | None,
    latitude: float | None,
    longitude: float | None,
    account: str | None,
    people: str | None,
    help_wanted: list[str],
    evidence: list[EvidenceItem],
    language: str,
    tz: ZoneInfo,
) -> str:
    """Renders a draft application for the applicant to check before submitting."""
    _ = translator(language)
    voice = any(item.purpose == "account" for item in evidence)
    files = [item for item in evidence if item.purpose != "account"]
    references = sum(1 for item in files if item.reference_reason)
    if account:
        told = esc(account if len(account) <= ACCOUNT_SHOWN else account[:ACCOUNT_SHOWN] + " …")
    elif voice:
        told = _("(voice note)")
    else:
        told = _("not given")
    lines = [
        _("<b>Please check your application</b>"),
        _("Type: {type}").format(type=esc(_(TYPES[type_code])) if type_code in TYPES else _("not given")),
        _("When: {when}").format(when=occurred_text(occurred, precision, tz, _)),
        _("Where: {where}").format(where=esc(place_text(place, latitude, longitude, _))),
        _("What happened: {account}").format(account=told),
        _("People involved: {people}").format(people=esc(people) if people else _("none given")),
        _("Evidence: {summary}").format(summary=evidence_summary([i.kind for i in files], _, references)),
        _("Help wanted: {help}").format(help=esc(labels(HELP, help_wanted, _))),
    ]
    return "\n".join(lines)


# the timeline, as it reads in the office's card and the dossier
EVENT_LABELS: dict[str, str] = {
    "submitted": N_("application submitted"),
    "accepted": N_("application accepted"),
    "investigating": N_("investigation started"),
    "assigned": N_("handler assigned"),
    "note": N_("progress note"),
    "request": N_("more information requested"),
    "reply": N_("the applicant replied"),
    "resumed": N_("stopped waiting for the applicant"),
    "decided": N_("decision recorded"),
    "closed": N_("application concluded"),
    "rejected": N_("application not accepted"),
    "withdrawn": N_("withdrawn by the applicant"),
    "transferred": N_("transferred to another office"),
    "reminded": N_("time limit reminder sent"),
    "escalated": N_("time limit passed: reported to the supervisor"),
}
