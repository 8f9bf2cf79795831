"""Liveness heartbeats: long-running processes touch a file; `frontline health` checks its age."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path


def heartbeat_path(data_dir: Path, name: str) -> Path:
    """Returns the heartbeat file of a process kind (bot, worker)."""
    return data_dir / f"heartbeat-{name}"


def beat(data_dir: Path, name: str) -> None:
    """Records that a process is alive now."""
    data_dir.mkdir(parents=True, exist_ok=True)
    heartbeat_path(data_dir, name).write_text(f"{time.time():.0f}\n", encoding="ascii")


def age_seconds(data_dir: Path, name: str) -> float | None:
    """Returns how long ago a process last beat, or None if it never did."""
    path = heartbeat_path(data_dir, name)
    try:
        return time.time() - float(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


async def heartbeat_loop(data_dir: Path, name: str, stop: asyncio.Event, every: float = 30.0) -> None:
    """Beats every few seconds until stopped."""
    while not stop.is_set():
        beat(data_dir, name)
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            continue
