"""Runs the outbox worker exactly as `frontline worker` does (a process the benchmarks can kill -9)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cli

if __name__ == "__main__":
    # Delivery only: the benchmark measures the outbox, not the reminder scan.
    cli.app(["worker", "--no-scan", *sys.argv[1:]])
