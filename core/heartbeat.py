"""Liveness heartbeats: long-running processes touch a file; `frontline health` checks its age."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)


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
    """Beats every few seconds until stopped, then removes the heartbeat: a stopped process is not alive."""
    try:
        while not stop.is_set():
            try:
                beat(data_dir, name)
            except OSError as exc:
                log.warning("could not write the %s heartbeat: %s", name, exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                continue
    finally:
        heartbeat_path(data_dir, name).unlink(missing_ok=True)
