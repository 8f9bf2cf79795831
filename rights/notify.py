"""Pushes about applications, queued through the outbox in the same transaction as the change.

The office gets new and transferred applications with their evidence sent again (photos and
videos as albums of up to ten, documents likewise, voice notes one by one), replies and
withdrawals; the applicant gets every change; handlers get time-limit reminders, and the office's
supervisor an escalation that names no facts (supervisors may not read applications).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox
from core.db import utcnow
from core.identity import Officer, Role, officers_with_role
from core.outbox import MAX_ALBUM, Media, OutboxItem
from core.settings import Settings
from rights.models import RightsApplication, RightsEvidence, Status
from rights.render import esc, fmt_due, next_step, office_card, outcome_lines
from rights.views import ApplicationView
from rights.vocab import LIMITS, N_, translator

KIND = "rights"
OFFICE_PREFIX = "wqo"
APPLICANT_PREFIX = "wqa"

M_NEW = N_("🆕 <b>New rights application</b>")
M_TRANSFERRED_IN = N_("↪️ <b>Rights application transferred to your office</b>")
M_EVIDENCE_PART = N_("{number}: evidence {first}–{last} of {total}")
M_EVIDENCE_ONE = N_("{number}: evidence {n} of {total}")


def office_callback(action: str, application_id: int, arg: str = "") -> str:
    """Packs an office button exactly as the office router's CallbackData does (wqo:action:id:arg)."""
    return f"{OFFICE_PREFIX}:{action}:{application_id}:{arg}"


def applicant_callback(action: str, application_id: int, arg: str = "") -> str:
    """Packs an applicant button exactly as the officer router's CallbackData does (wqa:action:id:arg)."""
    return f"{APPLICANT_PREFIX}:{action}:{application_id}:{arg}"


def topic(application: RightsApplication) -> str:
    """Returns the outbox topic of an application's pushes."""
    return f"rights:{application.id}"


def office_buttons(application: RightsApplication, language: str) -> list[list[dict[str, str]]]:
    """The buttons under an application pushed to the office."""
    _ = translator(language)
    rows = []
    if application.status == Status.SUBMITTED:
        rows.append([{"text": "✅ " + _("Accept application"), "callback_data": office_callback("accept", application.id)}])
    rows.append([{"text": "📂 " + _("Open application"), "callback_data": office_callback("open", application.id)}])
    return rows


def applicant_buttons(application: RightsApplication, language: str) -> list[list[dict[str, str]]]:
    """The buttons under a push to the applicant."""
    _ = translator(language)
    rows = []
    if application.status == Status.WAITING:
        rows.append([{"text": "✍️ " + _("Reply to the office"), "callback_data": applicant_callback("reply", application.id)}])
    rows.append([{"text": "📂 " + _("Open application"), "callback_data": applicant_callback("open", application.id)}])
    return rows


async def office_officers(*, session: AsyncSession, application: RightsApplication) -> list[Officer]:
    """Lists the active rights officers of the office handling an application (never its applicant)."""
    if application.office_unit_id is None:
        return []
    holders = await officers_with_role(session=session, role=Role.RIGHTS)
    return [
        o for o in holders if o.unit_id == application.office_unit_id and o.id != application.applicant_id
    ]


async def office_recipients(*, session: AsyncSession, view: ApplicationView) -> list[Officer]:
    """The handler if one is assigned and active, else the whole office."""
    if view.handler is not None and view.handler.active:
        return [view.handler]
    return await office_officers(session=session, application=view.application)


def evidence_items(
    view: ApplicationView, evidence: Sequence[RightsEvidence], language: str
) -> list[tuple[tuple[Media, ...], str]]:
    """Groups evidence the way Telegram sends it: albums of photos and videos, of documents, single voice notes."""
    _ = translator(language)
    total = len(view.evidence)
    visual = [e for e in evidence if e.kind in ("photo", "video")]
    documents = [e for e in evidence if e.kind == "document"]
    voices = [e for e in evidence if e.kind == "voice"]
    groups: list[list[RightsEvidence]] = []
    for items in (visual, documents):
        groups.extend(items[i : i + MAX_ALBUM] for i in range(0, len(items), MAX_ALBUM))
    groups.extend([v] for v in voices)
    parts = []
    for group in groups:
        media = tuple(Media(kind=e.kind, file_id=e.file_id, filename=e.filename) for e in group)
        if len(group) == 1:
            caption = _(M_EVIDENCE_ONE).format(number=view.number, n=group[0].ordinal, total=total)
        else:
            caption = _(M_EVIDENCE_PART).format(
                number=view.number, first=group[0].ordinal, last=group[-1].ordinal, total=total
            )
        parts.append((media, esc(caption)))
    return parts


def evidence_pushes(
    *,
    view: ApplicationView,
    evidence: Sequence[RightsEvidence],
    officer: Officer,
    key: str,
    urgent: bool,
    start: datetime | None = None,
) -> list[OutboxItem]:
    """Builds the pushes that send evidence to an officer (each one a second after the one before, so
    they arrive in order after the card)."""
    start = start or utcnow()
    items = []
    for index, (media, caption) in enumerate(evidence_items(view, evidence, officer.language), start=1):
        items.append(
            OutboxItem(
                officer_id=officer.id,
                text=caption,
                kind=KIND,
                dedupe_key=f"{key}:ev{index}",
                media=media,
                urgent=urgent,
                not_before=start + timedelta(seconds=index),
                topic=topic(view.application),
            )
        )
    return items


async def application_to_office(
    *, session: AsyncSession, settings: Settings, view: ApplicationView, recipients: Iterable[Officer],
    key: str, transferred: bool = False, note: str | None = None,
) -> int:
    """Pushes an application with its evidence to office officers; returns how many pushes were queued."""
    items: list[OutboxItem] = []
    now = utcnow()
    for officer in recipients:
        _ = translator(officer.language)
        head = _(M_TRANSFERRED_IN if transferred else M_NEW)
        text = f"{head}\n{office_card(view, officer.language, settings.tz, now)}"
        if note:
            text += "\n" + _("Reason for the transfer: {reason}").format(reason=esc(note))
        base = f"rights:{view.application.id}:{key}:{officer.id}"
        items.append(
            OutboxItem(
                officer_id=officer.id,
                text=text,
                kind=KIND,
                dedupe_key=base,
                buttons=office_buttons(view.application, officer.language),
                urgent=True,  # an officer was hurt or threatened: the office hears of it at any hour
                topic=topic(view.application),
                not_before=now,
            )
        )
        items.extend(evidence_pushes(view=view, evidence=view.evidence, officer=officer, key=base, urgent=True, start=now))
    return await outbox.enqueue_many(session=session, items=items)


async def to_applicant(
    *, session: AsyncSession, settings: Settings, view: ApplicationView, headline: str, key: str,
    text: str | None = None, with_outcomes: bool = False,
) -> None:
    """Tells the applicant about a change, with the next step and the buttons that fit it.

    ``headline`` is a msgid, translated in the applicant's language; ``text`` is shown as written.
    """
    applicant = view.applicant
    _ = translator(applicant.language)
    parts = [f"🛡 <b>{esc(view.number)}</b>: {_(headline)}"]
    if text:
        parts.append(f"<blockquote>{esc(text)}</blockquote>")
    if with_outcomes and view.outcomes:
        parts.extend(outcome_lines(view.outcomes, _))
    parts.append(_("Next: {step}").format(step=next_step(view, applicant.language, settings.tz)))
    await outbox.enqueue(
        session=session,
        officer_id=applicant.id,
        text="\n".join(parts),
        kind=KIND,
        dedupe_key=f"rights:{view.application.id}:{key}:applicant",
        buttons=applicant_buttons(view.application, applicant.language),
        topic=topic(view.application),
    )


async def to_office(
    *, session: AsyncSession, settings: Settings, view: ApplicationView, headline: str, key: str,
    text: str | None = None, evidence: Sequence[RightsEvidence] = (), recipients: Sequence[Officer] | None = None,
) -> None:
    """Tells the handler (or the whole office) about something the applicant did, with any new evidence."""
    if recipients is None:
        recipients = await office_recipients(session=session, view=view)
    items: list[OutboxItem] = []
    now = utcnow()
    for officer in recipients:
        _ = translator(officer.language)
        parts = [f"🛡 <b>{esc(view.number)}</b>: {_(headline)}"]
        if text:
            parts.append(f"<blockquote>{esc(text)}</blockquote>")
        base = f"rights:{view.application.id}:{key}:{officer.id}"
        items.append(
            OutboxItem(
                officer_id=officer.id,
                text="\n".join(parts),
                kind=KIND,
                dedupe_key=base,
                buttons=office_buttons(view.application, officer.language),
                topic=topic(view.application),
                not_before=now,
            )
        )
        if evidence:
            items.extend(evidence_pushes(view=view, evidence=evidence, officer=officer, key=base, urgent=False, start=now))
    await outbox.enqueue_many(session=session, items=items)


async def evidence_to_viewer(
    *, session: AsyncSession, view: ApplicationView, evidence: Sequence[RightsEvidence], officer: Officer
) -> int:
    """Sends evidence to an officer who asked to see it (at once: they are waiting for it)."""
    key = f"rights:{view.application.id}:view:{officer.id}:{secrets.token_hex(4)}"
    items = evidence_pushes(view=view, evidence=evidence, officer=officer, key=key, urgent=True)
    return await outbox.enqueue_many(session=session, items=items)


def limit_text(application: RightsApplication, key: str, due: datetime, settings: Settings, language: str,
               *, overdue: bool) -> str:
    """Says which time limit of an application ends (or ended) when."""
    _ = translator(language)
    values = {"number": application.number, "limit": _(LIMITS[key]), "due": fmt_due(due, settings.tz)}
    if overdue:
        return "⚠️ " + _("{number}: the time limit for {limit} ended on {due}.").format(**values)
    return "⏳ " + _("{number}: the time limit for {limit} ends on {due}.").format(**values)


def reminder_items(
    *, settings: Settings, application: RightsApplication, key: str, due: datetime, overdue: bool,
    recipients: Sequence[Officer],
) -> list[OutboxItem]:
    """Builds the reminders of a time limit that is about to end (or has ended) for the handler or the office."""
    return [
        OutboxItem(
            officer_id=officer.id,
            text=limit_text(application, key, due, settings, officer.language, overdue=overdue),
            kind=KIND,
            dedupe_key=f"rights:{application.id}:{'late' if overdue else 'rem'}:{key}:{due.isoformat()}:{officer.id}",
            buttons=office_buttons(application, officer.language),
            topic=topic(application),
        )
        for officer in recipients
    ]


def escalation_items(
    *, settings: Settings, application: RightsApplication, key: str, due: datetime, office: str | None,
    handler: str | None, recipients: Sequence[Officer],
) -> list[OutboxItem]:
    """Builds the escalations of a passed time limit for the office's supervisors, naming no facts."""
    items = []
    for officer in recipients:
        _ = translator(officer.language)
        text = "\n".join(
            [
                _("⚠️ <b>A rights office time limit has passed</b>"),
                _("{number} at the rights office of {unit}: the time limit for {limit} ended on {due}.").format(
                    number=esc(application.number), unit=esc(office or _("none given")), limit=_(LIMITS[key]),
                    due=fmt_due(due, settings.tz),
                ),
                _("Handler: {name}").format(name=esc(handler or _("not assigned"))),
                _("Please make sure the office acts on it."),
            ]
        )
        items.append(
            OutboxItem(
                officer_id=officer.id,
                text=text,
                kind=KIND,
                dedupe_key=f"rights:{application.id}:esc:{key}:{due.isoformat()}:{officer.id}",
                topic=topic(application),
            )
        )
    return items
