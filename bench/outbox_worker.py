"""Runs the outbox worker exactly as `frontline worker` does (a process the benchmarks can kill -9)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import typer

from core.commands_outbox import worker

if __name__ == "__main__":
    typer.run(worker)
