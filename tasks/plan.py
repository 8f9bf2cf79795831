"""When an assignee is reminded: pure functions over a due time, the reminder leads and a clock.

Reminders go out at each lead before the due time (``FRONTLINE_TASK_REMIND_BEFORE``, 24 h and
2 h by default) and on the due time itself. A lead is used only when it falls after the
occurrence's window opened (the previous occurrence's due time, or the task's creation), so a
daily task is not reminded a day ahead and a task given two hours before it is due gets no
24-hour reminder. "Remind me later" skips the leads before the chosen time, never the due time.
Only the latest reminder that has fired is sent, so a scan that was down does not flood anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# A lead falling this close after the window opened would repeat the assignment notice.
MIN_GAP = timedelta(minutes=10)


@dataclass(frozen=True)
class Slot:
    """One reminder moment: ``b<minutes>`` before the due time, ``due``, or ``s<epoch>`` (snoozed)."""

    label: str
    at: datetime

    @property
    def kind(self) -> str:
        """Returns "before", "due" or "snooze"."""
        return {"b": "before", "d": "due", "s": "snooze"}[self.label[0]]


def slots(due: datetime, opens_at: datetime, leads: Sequence[timedelta]) -> list[Slot]:
    """Lists an occurrence's reminder moments, earliest first."""
    found = [
        Slot(f"b{int(lead.total_seconds() // 60)}", due - lead)
        for lead in leads
        if due - lead > opens_at + MIN_GAP
    ]
    found.append(Slot("due", due))
    return sorted(found, key=lambda slot: slot.at)


def _live(plan: Sequence[Slot], snoozed_until: datetime | None) -> list[Slot]:
    """Drops the leads a snooze covers; the due-time reminder always stays."""
    kept = [s for s in plan if s.kind == "due" or snoozed_until is None or s.at >= snoozed_until]
    if snoozed_until is not None:
        kept.append(Slot(f"s{int(snoozed_until.timestamp())}", snoozed_until))
    return sorted(kept, key=lambda slot: slot.at)


def fired(
    plan: Sequence[Slot], *, now: datetime, snoozed_until: datetime | None, last_at: datetime | None
) -> Slot | None:
    """Returns the latest reminder due by ``now`` that is newer than the last one sent, if any."""
    due = [s for s in _live(plan, snoozed_until) if s.at <= now and (last_at is None or s.at > last_at)]
    return due[-1] if due else None


def next_check(plan: Sequence[Slot], *, now: datetime, snoozed_until: datetime | None) -> datetime | None:
    """Returns when the next reminder after ``now`` fires (None when none is left)."""
    ahead = [s.at for s in _live(plan, snoozed_until) if s.at > now]
    return min(ahead, default=None)
