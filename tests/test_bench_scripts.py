"""Every benchmark script under bench/ still imports: a module it uses that moved or was renamed
breaks the figures in bench/README.md without any other test noticing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if p.stem != "__init__")

# Imports each script as a module (its main() runs only as __main__), the way it is run: from
# the repository root with bench/ first on the path.
PROBE = """
import importlib, sys
sys.path.insert(0, "bench")
failed = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as exc:  # report every broken script, not only the first
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_there_are_benchmarks() -> None:
    """The probe below has scripts to look at (a moved bench/ would make it pass on nothing)."""
    assert {"retrieval_eval", "answer_eval", "reminders_scan", "desk_overview", "tasks_scan"} <= set(SCRIPTS)


def test_every_benchmark_script_imports() -> None:
    """Each bench/*.py imports without error in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *SCRIPTS], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
