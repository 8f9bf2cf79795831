"""Start-up objects are moved out of the garbage collector's way."""

from __future__ import annotations

import gc

from core.heap import settle_heap


def test_settling_freezes_what_start_up_built() -> None:
    """After settle_heap the objects alive at that moment are in the permanent generation."""
    built = [{"record": i} for i in range(10_000)]
    gc.unfreeze()
    try:
        settle_heap()
        assert gc.get_freeze_count() >= len(built)
    finally:
        gc.unfreeze()
