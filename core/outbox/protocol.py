"""What the outbox asks of a messenger, and what a messenger may answer: the one seam between the
outbox and any chat platform (Telegram today, in bot/messenger.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

MEDIA_KINDS = ("photo", "video", "voice", "document")


class OutboxError(Exception):
    """A push that cannot be queued as given."""


class MessengerUnavailable(Exception):
    """The messenger cannot start at all (no token, token refused); the worker should stop."""


# --- what a Messenger may raise ----------------------------------------------------------------


class SendError(Exception):
    """A message the messenger could not deliver."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryAfter(SendError):
    """The messenger asks us to wait before sending anything more (Telegram's 429)."""

    def __init__(self, seconds: float, reason: str = "") -> None:
        super().__init__(reason or f"flood control: retry after {seconds} s")
        self.seconds = float(seconds)


class Unreachable(SendError):
    """The recipient cannot be reached any more (bot blocked, chat gone)."""


class TransientSendError(SendError):
    """A failure that may go away by itself (network, server error)."""


class PermanentSendError(SendError):
    """A message that will never be accepted as it is (bad HTML, too long)."""


@dataclass(frozen=True)
class Media:
    """A photo, video, voice note or document to send: by the platform's file id, or a local file."""

    kind: str
    file_id: str | None = None
    path: str | None = None
    filename: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in MEDIA_KINDS:
            raise OutboxError(f"media kind must be one of {', '.join(MEDIA_KINDS)}, not {self.kind!r}")
        if (self.file_id is None) == (self.path is None):
            raise OutboxError("media needs exactly one of file_id or path")

    def to_json(self) -> dict[str, str]:
        """Returns the media as stored in a payload."""
        data = {"kind": self.kind}
        for key in ("file_id", "path", "filename"):
            value = getattr(self, key)
            if value:
                data[key] = value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Media:
        """Builds media from a stored payload entry."""
        return cls(
            kind=str(data["kind"]),
            file_id=data.get("file_id"),
            path=data.get("path"),
            filename=data.get("filename"),
        )


@dataclass(frozen=True)
class Outgoing:
    """One message as the messenger sends it.

    ``media`` empty: a text message. One item: that item with the text as its caption. Several
    (photos and videos, or documents): an album, the text as the first item's caption; an album
    carries no buttons. ``edit_message_id`` set: the earlier message is edited in place instead.
    """

    text: str
    parse_mode: str | None = "HTML"
    buttons: list[list[dict[str, str]]] | None = None
    media: tuple[Media, ...] = field(default_factory=tuple)
    edit_message_id: int | None = None


class Messenger(Protocol):
    """Sends one message to one chat; the Telegram adapter lives in bot/messenger.py."""

    async def send(self, *, chat_id: int, message: Outgoing) -> int:
        """Sends (or edits) a message and returns its message id, or raises a SendError subclass."""
        ...
