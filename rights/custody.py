"""The custody log of an application's evidence: every event hash-chained to the one before.

Each entry's hash covers its own fields and the previous entry's hash; the first entry chains
to a hash of the application number. The application row holds the log's length and head, and
an entry is appended by first advancing that row (``UPDATE … RETURNING``), which serialises
concurrent appends to the same log (a row lock on PostgreSQL, the write lock on SQLite).
:func:`verify` recomputes the chain and re-hashes every stored file against it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from core.db import utcnow
from core.settings import Settings
from rights.evidence import file_sha256, path_for
from rights.models import EvidenceStatus, RightsApplication, RightsCustodyEvent, RightsEvidence

RECEIVED = "received"  # the applicant sent it (the messenger's file id)
STORED = "stored"  # the file went into the store, with its SHA-256
REFERENCE = "reference"  # the messenger would not hand it over: kept as a reference
VIEWED = "viewed"  # shown to someone (sent again in a chat)
DOWNLOADED = "downloaded"  # someone took a copy of the file
EXPORTED = "exported"  # listed in a dossier
PURGED = "purged"  # deleted at the end of the retention period


def genesis(number: str) -> str:
    """Returns the hash the first entry of an application's log chains to."""
    return hashlib.sha256(f"frontline-rights-custody:{number}".encode()).hexdigest()


def entry_hash(
    *,
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    evidence_id: int | None,
    sha256: str | None,
    detail: dict[str, Any],
) -> str:
    """Hashes one entry together with the hash of the entry before it."""
    body = json.dumps(
        {
            "seq": seq,
            "at": at.isoformat(),
            "actor": actor,
            "action": action,
            "evidence_id": evidence_id,
            "sha256": sha256,
            "detail": detail,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


async def append(
    *,
    session: AsyncSession,
    application: RightsApplication,
    actor: str,
    action: str,
    evidence_id: int | None = None,
    sha256: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> RightsCustodyEvent:
    """Appends an entry to an application's custody log."""
    # stored in UTC and hashed as read back, so the hash can be recomputed from the row
    at = (at or utcnow()).astimezone(UTC)
    detail = detail or {}
    reserved = await session.execute(
        update(RightsApplication)
        .where(RightsApplication.id == application.id)
        .values(custody_seq=RightsApplication.custody_seq + 1)
        .returning(RightsApplication.custody_seq, RightsApplication.custody_head)
        .execution_options(synchronize_session=False)
    )
    seq, head = reserved.one()
    prev = head or genesis(application.number)
    digest = entry_hash(
        prev_hash=prev, seq=seq, at=at, actor=actor, action=action, evidence_id=evidence_id, sha256=sha256,
        detail=detail,
    )
    await session.execute(
        update(RightsApplication)
        .where(RightsApplication.id == application.id)
        .values(custody_head=digest)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(application, "custody_seq", seq)
    set_committed_value(application, "custody_head", digest)
    entry = RightsCustodyEvent(
        application_id=application.id,
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        evidence_id=evidence_id,
        sha256=sha256,
        detail=detail,
        prev_hash=prev,
        hash=digest,
    )
    session.add(entry)
    await session.flush()
    return entry


async def entries(*, session: AsyncSession, application_id: int) -> list[RightsCustodyEvent]:
    """Lists an application's custody log, oldest first."""
    rows = await session.scalars(
        select(RightsCustodyEvent)
        .where(RightsCustodyEvent.application_id == application_id)
        .order_by(RightsCustodyEvent.seq)
    )
    return list(rows)


@dataclass
class VerifyReport:
    """What a verification found: ok when the chain holds and every stored file matches its hash."""

    number: str
    entries: int = 0
    files_checked: int = 0
    purged: int = 0
    references: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Tells whether nothing was wrong."""
        return not self.problems


async def verify(*, session: AsyncSession, settings: Settings, application: RightsApplication) -> VerifyReport:
    """Re-checks the hash chain of an application's custody log and every stored file against it."""
    report = VerifyReport(number=application.number)
    log = await entries(session=session, application_id=application.id)
    report.entries = len(log)
    prev = genesis(application.number)
    stored_hash: dict[int, str] = {}
    for expected_seq, entry in enumerate(log, start=1):
        if entry.seq != expected_seq:
            report.problems.append(f"custody entry {expected_seq} is missing (found {entry.seq})")
        if entry.prev_hash != prev:
            report.problems.append(f"custody entry {entry.seq} does not chain to the entry before it")
        recomputed = entry_hash(
            prev_hash=entry.prev_hash, seq=entry.seq, at=entry.at, actor=entry.actor, action=entry.action,
            evidence_id=entry.evidence_id, sha256=entry.sha256, detail=entry.detail,
        )
        if recomputed != entry.hash:
            report.problems.append(f"custody entry {entry.seq} ({entry.action}) was altered: its hash does not match")
        if entry.action == STORED and entry.evidence_id is not None and entry.sha256:
            stored_hash[entry.evidence_id] = entry.sha256
        prev = entry.hash
    if log and application.custody_head != prev:
        report.problems.append("the application's custody head does not match the last entry (entries removed?)")
    if len(log) != application.custody_seq:
        report.problems.append(
            f"the custody log has {len(log)} entries but the application counts {application.custody_seq}"
        )
    evidence = await session.scalars(
        select(RightsEvidence).where(RightsEvidence.application_id == application.id).order_by(RightsEvidence.ordinal)
    )
    for item in evidence:
        label = f"evidence #{item.ordinal}"
        if item.status == EvidenceStatus.REFERENCE:
            report.references += 1
            continue
        logged = stored_hash.get(item.id)
        if logged is None:
            report.problems.append(f"{label}: no stored entry in the custody log")
            continue
        if item.sha256 != logged:
            report.problems.append(f"{label}: its recorded SHA-256 differs from the custody log")
        if item.status == EvidenceStatus.PURGED:
            report.purged += 1
            continue
        path = path_for(settings, logged)
        if not path.is_file():
            report.problems.append(f"{label}: the file is missing from the evidence store ({path})")
            continue
        report.files_checked += 1
        actual = file_sha256(path)
        if actual != logged:
            report.problems.append(f"{label}: the file was changed (SHA-256 {actual[:12]}… ≠ {logged[:12]}…)")
    return report
