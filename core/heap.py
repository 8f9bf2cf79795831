"""Keeps the garbage collector from pausing a long-running process for hundreds of milliseconds.

A bot or worker process builds a large, long-lived heap at start-up (the knowledge base's
records and indexes, the ORM's and aiogram's models). CPython's full collections walk all of
it: measured 100–265 ms per pause with 20 officers asking at once (bench/README.bot.md), on
the event loop, delaying every reply in flight. ``settle_heap`` moves what exists at the end of
start-up into the collector's permanent generation, so later collections only walk objects
made since.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def settle_heap() -> None:
    """Collects once, then freezes everything alive so later collections skip it."""
    gc.collect()
    gc.freeze()
    log.debug("heap settled: %d objects frozen", gc.get_freeze_count())
