"""Calibrates the "no basis" threshold: confidence of clearly off-topic vs real police questions.

    .venv/bin/python bench/retrieval_calibrate.py [--data-dir DIR]

Prints each question's confidence, the lowest real and highest off-topic scores, and how many of
each side the current threshold (knowledge.service.GROUNDED_THRESHOLD) puts right.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from retrieval_questions import OFF_TOPIC, REAL, REAL_EN  # the lists sit next to this script

from core.settings import load_settings
from knowledge.service import KnowledgeBase


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="/tmp/frontline-bench-data")
    args = parser.parse_args()
    kb = KnowledgeBase.open(load_settings(data_dir=Path(args.data_dir), _env_file=None))
    dev = [json.loads(line)["q"] for line in (Path(__file__).parent / "data" / "police_dev.jsonl").read_text("utf-8").splitlines() if line.strip()]
    real = REAL + REAL_EN + dev
    scores: dict[str, list[tuple[float, str]]] = {"real": [], "off-topic": []}
    for side, questions in (("real", real), ("off-topic", OFF_TOPIC)):
        for q in questions:
            answer = kb.ask(q)
            scores[side].append((answer.confidence, q))
    for side, items in scores.items():
        print(f"== {side}")
        for confidence, q in sorted(items):
            print(f"  {confidence:.3f}  {q}")
    threshold = kb.grounded_threshold
    real_ok = sum(1 for c, _q in scores["real"] if c >= threshold)
    off_ok = sum(1 for c, _q in scores["off-topic"] if c < threshold)
    print(f"lowest real {min(scores['real'])[0]:.3f}; highest off-topic {max(scores['off-topic'])[0]:.3f}")
    print(f"threshold {threshold}: real answered {real_ok}/{len(real)}, off-topic refused {off_ok}/{len(OFF_TOPIC)}")


if __name__ == "__main__":
    main()
