"""Broadcast test helpers: a unit tree with officers, a recording Messenger and Uploader, row readers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import identity
from core.db import transaction
from core.identity import Officer
from core.outbox import Media, OutboxMessage, Outgoing, PermanentSendError, SendError

# badge: (name, unit, roles, enrolled chat id or None, active, language)
PEOPLE: dict[str, tuple[str, str, tuple[str, ...], int | None, bool, str]] = {
    "L1": ("李法制", "法制大队", ("officer", "legal"), 9001, True, "zh"),
    "L2": ("Lee Legal", "法制大队", ("officer", "legal"), 9002, True, "en"),
    "C1": ("陈分局", "城关分局", ("officer",), 9101, True, "zh"),
    "A1": ("王一", "城关派出所", ("officer",), 9201, True, "zh"),
    "A2": ("王二", "城关派出所", ("officer", "supervisor"), 9202, True, "zh"),
    "A3": ("王三", "社区警务队", ("officer",), 9203, True, "en"),
    "A4": ("王四", "城关派出所", ("officer",), None, True, "zh"),
    "A5": ("王五", "城关派出所", ("officer",), 9205, False, "zh"),
    "B1": ("赵一", "东关派出所", ("officer",), 9301, True, "zh"),
    "B2": ("赵二", "东关派出所", ("officer", "supervisor"), 9302, True, "zh"),
    "R1": ("孙维权", "县公安局", ("officer", "rights"), 9401, True, "zh"),
}
# unit: parent
UNITS: dict[str, str | None] = {
    "县公安局": None,
    "法制大队": "县公安局",
    "城关分局": "县公安局",
    "城关派出所": "城关分局",
    "社区警务队": "城关派出所",
    "东关派出所": "城关分局",
}


async def build_world(session: AsyncSession) -> dict[str, Officer]:
    """Creates the unit tree and the officers above; returns them by badge."""
    for name, parent in UNITS.items():
        await identity.add_unit(session=session, name=name, parent=parent)
    officers: dict[str, Officer] = {}
    for badge, (name, unit, roles, chat, active, language) in PEOPLE.items():
        officer = await identity.add_officer(
            session=session, badge=badge, name=name, unit=unit, roles=roles, language=language
        )
        officer.telegram_user_id = chat
        officer.active = active
        officers[badge] = officer
    await session.flush()
    return officers


def badges_of(officers: dict[str, Officer], ids: list[int]) -> set[str]:
    """Turns officer ids back into badges."""
    by_id = {o.id: badge for badge, o in officers.items()}
    return {by_id[i] for i in ids}


class FakeMessenger:
    """A Messenger that records every send and raises the errors it is told to, per chat."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, Outgoing]] = []
        self.script: dict[int, list[Exception]] = {}
        self._next_id = 5000

    def fail(self, chat_id: int, *errors: Exception) -> None:
        """Makes the next sends to a chat raise these errors, in order."""
        self.script.setdefault(chat_id, []).extend(errors)

    async def send(self, *, chat_id: int, message: Outgoing) -> int:
        queued = self.script.get(chat_id)
        if queued:
            raise queued.pop(0)
        self.sent.append((chat_id, message))
        if message.edit_message_id is not None:
            return message.edit_message_id
        self._next_id += 1
        return self._next_id

    def to(self, chat_id: int) -> list[Outgoing]:
        """Lists what a chat received (edits included), in order."""
        return [m for chat, m in self.sent if chat == chat_id]


@dataclass
class FakeUploader:
    """An Uploader that records uploads and answers with a file id (or the error it is given)."""

    error: SendError | None = None
    uploads: list[tuple[int, Media, str, float]] = field(default_factory=list)

    async def upload(self, *, chat_id: int, media: Media, caption: str) -> str:
        self.uploads.append((chat_id, media, caption, time.monotonic()))
        if self.error is not None:
            raise self.error
        return f"FILE-{len(self.uploads)}"


def permanent(reason: str) -> PermanentSendError:
    """A permanent send error (for scripting)."""
    return PermanentSendError(reason)


async def rows(sessions: async_sessionmaker[AsyncSession], topic: str | None = None) -> list[OutboxMessage]:
    """Reads outbox rows (of a topic), in id order."""
    async with transaction(sessions) as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if topic is not None:
            query = query.where(OutboxMessage.topic == topic)
        return list((await session.scalars(query)).all())
