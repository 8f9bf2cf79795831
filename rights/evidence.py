"""The evidence store: files under the data dir, content-addressed by SHA-256, fetched through a protocol.

The messenger adapter (the Telegram bot) implements :class:`EvidenceFetcher`; the domain never
talks to the Bot API itself. A file is written to a temporary name, hashed, and moved to
``<data dir>/rights/evidence/<aa>/<sha256>`` (a rename, so a half-written file never carries a
hash name). The same content sent twice is stored once. A file the messenger will not hand over
(Telegram's Bot API refuses downloads over 20 MB) is kept as a reference: its file id still lets
the office see it in the chat, but Frontline holds no copy and no hash of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from core.settings import Settings

CHUNK = 1024 * 1024
TOO_BIG = "too_big"
UNAVAILABLE = "unavailable"
MISSING = "missing"


class FileTooBig(Exception):
    """The messenger will not hand this file over (over its download limit)."""


class FileUnavailable(Exception):
    """The file could not be fetched now (network, expired id …)."""


class EvidenceFetcher(Protocol):
    """Fetches a file the applicant sent, by the messenger's file id."""

    async def download(self, *, file_id: str, destination: Path) -> None:
        """Writes the file to ``destination``; raises FileTooBig or FileUnavailable."""
        ...


@dataclass
class EvidenceItem:
    """One file an officer sent: what the messenger said about it, and what the store holds of it."""

    kind: str  # photo | video | voice | document
    file_id: str
    file_unique_id: str | None = None
    filename: str | None = None
    mime_type: str | None = None
    declared_size: int | None = None
    sha256: str | None = None  # set once stored
    size: int | None = None
    reference_reason: str | None = None  # too_big | unavailable | missing: kept as a reference only
    purpose: str = "evidence"  # evidence | account (a voice note telling what happened)
    received_at: str | None = None  # ISO time the officer sent it

    def to_json(self) -> dict[str, Any]:
        """Returns the item as plain JSON (conversation state keeps drafts this way)."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvidenceItem:
        """Builds an item from :meth:`to_json` output."""
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        return cls(**known)

    @property
    def stored(self) -> bool:
        """Tells whether the store holds the file."""
        return self.sha256 is not None


def store_root(settings: Settings) -> Path:
    """Returns the folder of the evidence store."""
    return settings.data_dir / "rights" / "evidence"


def path_for(settings: Settings, sha256: str) -> Path:
    """Returns where the file with this SHA-256 lives."""
    if len(sha256) != 64 or any(ch not in "0123456789abcdef" for ch in sha256):
        raise ValueError(f"not a SHA-256: {sha256!r}")
    return store_root(settings) / sha256[:2] / sha256


def file_sha256(path: Path) -> str:
    """Hashes a file in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def has_file(settings: Settings, sha256: str) -> bool:
    """Tells whether the store holds a file with this hash."""
    return path_for(settings, sha256).is_file()


def _settle(tmp: Path, root: Path) -> tuple[str, int]:
    """Hashes a downloaded file and moves it to its content address; returns (sha256, size)."""
    sha = file_sha256(tmp)
    size = tmp.stat().st_size
    final = root / sha[:2] / sha
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        tmp.unlink()  # the same content is already there
    else:
        os.chmod(tmp, 0o440)  # evidence is never rewritten in place
        os.replace(tmp, final)
    return sha, size


async def fetch_into_store(*, settings: Settings, fetcher: EvidenceFetcher, item: EvidenceItem) -> EvidenceItem:
    """Downloads an item's file into the store; on refusal keeps it as a reference and says why."""
    root = store_root(settings)
    tmp_dir = root / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"{uuid.uuid4().hex}.part"
    try:
        await fetcher.download(file_id=item.file_id, destination=tmp)
        sha, size = await asyncio.to_thread(_settle, tmp, root)
    except FileTooBig:
        item.sha256, item.size, item.reference_reason = None, None, TOO_BIG
        return item
    except FileUnavailable:
        item.sha256, item.size, item.reference_reason = None, None, UNAVAILABLE
        return item
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    item.sha256, item.size, item.reference_reason = sha, size, None
    return item


async def ensure_stored(
    *, settings: Settings, fetcher: EvidenceFetcher | None, item: EvidenceItem
) -> EvidenceItem:
    """Makes sure a stored item's file is still there, fetching it again (or once more) when it can."""
    if item.sha256 is not None and has_file(settings, item.sha256):
        return item
    if item.reference_reason == TOO_BIG:
        return item  # asking again will not change the messenger's mind
    if fetcher is not None:
        return await fetch_into_store(settings=settings, fetcher=fetcher, item=item)
    if item.sha256 is not None:
        item.sha256, item.size, item.reference_reason = None, None, MISSING
    return item


def remove_file(settings: Settings, sha256: str) -> bool:
    """Deletes a stored file (retention); tells whether there was one."""
    path = path_for(settings, sha256)
    try:
        os.chmod(path, 0o640)
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def sweep_orphans(settings: Settings, referenced: Iterable[str], *, older_than_seconds: float) -> list[str]:
    """Deletes stored files no evidence row refers to (drafts never submitted), and stale partial
    downloads, once they are older than the given age; returns the hashes removed."""
    root = store_root(settings)
    if not root.exists():
        return []
    keep = set(referenced)
    cutoff = time.time() - older_than_seconds
    removed: list[str] = []
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            try:
                if path.stat().st_mtime > cutoff:
                    continue
            except FileNotFoundError:
                continue
            if folder.name == "tmp":
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            elif path.name not in keep:
                with contextlib.suppress(FileNotFoundError):
                    os.chmod(path, 0o640)
                    path.unlink()
                    removed.append(path.name)
    return removed


def iso(moment: datetime) -> str:
    """Writes a moment as ISO 8601."""
    return moment.isoformat()
