"""Retrieval quality on a question set: BM25 alone, dense alone and the hybrid product, side by side.

    .venv/bin/python bench/retrieval_eval.py [SET ...] [--data-dir DIR] [--verbose] [--as-of YYYY-MM-DD]

SET is a path or a name under bench/data (default: police_dev). Each line of a set is
{"q": question, "relevant": [[law, article(, version)], ...]}; a third element is the version the
answer must come from ("2025": the 治安管理处罚法 in force, not the 2012 text), so a hit from
another text of the same article number does not count. Searches are for the texts in force on
the day (today by default), as answers are. Reports Recall@5, Recall@10, MRR@10 and Precision@1
(the first hit is relevant) per mode; lines with "no_basis" are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.settings import load_settings
from ingest.statutes import Record
from knowledge.service import KnowledgeBase

MODES = ("lexical", "dense", "hybrid")
DATA = Path(__file__).parent / "data"


def matches(record: Record, wanted: list[str]) -> bool:
    """Tells whether a record is the wanted [law, article(, version)]."""
    if (record.law, record.article) != (wanted[0], wanted[1]):
        return False
    return len(wanted) < 3 or record.version.startswith(wanted[2])


def evaluate(
    kb: KnowledgeBase, items: list[dict[str, Any]], mode: str, verbose: bool, as_of: date | None
) -> dict[str, float]:
    r5 = r10 = mrr = p1 = 0.0
    for item in items:
        wanted: list[list[str]] = item["relevant"]
        hits = kb.hits(str(item["q"]), top_k=10, mode=mode, current_only=True, as_of=as_of)
        found = [i for i, hit in enumerate(hits) if any(matches(hit.record, w) for w in wanted)]
        r5 += sum(1 for w in wanted if any(matches(h.record, w) for h in hits[:5])) / len(wanted)
        r10 += sum(1 for w in wanted if any(matches(h.record, w) for h in hits)) / len(wanted)
        mrr += 1.0 / (found[0] + 1) if found else 0.0
        p1 += 1.0 if found and found[0] == 0 else 0.0
        if verbose:
            mark = "OK " if found and found[0] == 0 else ("r5 " if any(i < 5 for i in found) else "-- ")
            top = [(h.record.law, h.record.article, h.record.version[:4]) for h in hits[:3]]
            print(f"  [{mode:7}] {mark} {item['q']}  -> {top}")
    n = len(items)
    return {"R@5": r5 / n, "R@10": r10 / n, "MRR@10": mrr / n, "P@1": p1 / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", default=["police_dev"])
    parser.add_argument("--data-dir", default="/tmp/frontline-bench-data")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--as-of", type=date.fromisoformat, default=None, help="the day whose law is in force")
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    started = time.monotonic()
    kb = KnowledgeBase.open(load_settings(data_dir=Path(args.data_dir), _env_file=None))
    print(f"knowledge base open in {time.monotonic() - started:.1f}s")
    for name in args.sets:
        path = Path(name) if name.endswith(".jsonl") else DATA / f"{name}.jsonl"
        lines = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
        items = [item for item in lines if not item.get("no_basis")]
        print(f"\n{len(items)} questions from {path}")
        print(f"{'mode':10} {'R@5':>6} {'R@10':>6} {'MRR@10':>7} {'P@1':>6}")
        for mode in args.modes.split(","):
            m = evaluate(kb, items, mode, args.verbose, args.as_of)
            print(f"{mode:10} {m['R@5']:6.3f} {m['R@10']:6.3f} {m['MRR@10']:7.3f} {m['P@1']:6.3f}")


if __name__ == "__main__":
    main()
