"""A tip's photo or document: kept in the data dir, uploaded to Telegram once, then sent by file id.

A photo or document sent to the bot already has a Telegram file id. A file given on the command
line is copied into the data dir (the command's own path may be gone by the time the tip is
released) and uploaded once, with the sender's own copy of the tip, when the broadcast is
released; every recipient's tip then carries the file id Telegram returned, so a broadcast to
10,000 officers uploads the file once, not 10,000 times.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Protocol

from core.outbox import Media
from core.settings import Settings

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # Telegram's limit on an uploaded photo
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024  # Telegram's limit on an uploaded document


class MediaError(Exception):
    """A file that cannot be attached to a tip."""


class Uploader(Protocol):
    """Sends a photo or document from a local file once and returns the platform's id for it."""

    async def upload(self, *, chat_id: int, media: Media, caption: str) -> str:
        """Sends the media with a caption to a chat and returns its file id (or raises a SendError)."""
        ...


def media_kind(path: Path) -> str:
    """Returns how a file is sent: a photo for common image types (within the photo size limit), else a document."""
    if path.suffix.lower() in PHOTO_SUFFIXES and path.stat().st_size <= MAX_PHOTO_BYTES:
        return "photo"
    return "document"


def store_file(settings: Settings, source: Path) -> tuple[str, Path]:
    """Checks a file and copies it into the data dir; returns its kind and the copy's path."""
    if not source.is_file():
        raise MediaError(f"no such file: {source}")
    size = source.stat().st_size
    if size == 0:
        raise MediaError(f"the file is empty: {source}")
    if size > MAX_DOCUMENT_BYTES:
        raise MediaError(f"the file is larger than Telegram's {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB: {source}")
    kind = media_kind(source)
    folder = settings.data_dir / "broadcasts" / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    shutil.copyfile(source, target)
    return kind, target.resolve()
