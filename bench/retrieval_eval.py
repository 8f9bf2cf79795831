"""Retrieval quality on a question set: BM25 alone, dense alone and the hybrid product, side by side.

    .venv/bin/python bench/retrieval_eval.py [bench/data/police_dev.jsonl] [--data-dir DIR] [--verbose]

Each line of the set is {"q": question, "relevant": [[law, article], ...]}. Reports Recall@5,
Recall@10, MRR@10 and Precision@1 (the first hit is relevant) per mode.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.settings import load_settings
from knowledge.service import KnowledgeBase

MODES = ("lexical", "dense", "hybrid")


def evaluate(kb: KnowledgeBase, items: list[dict[str, object]], mode: str, verbose: bool) -> dict[str, float]:
    r5 = r10 = mrr = p1 = 0.0
    for item in items:
        relevant = {tuple(pair) for pair in item["relevant"]}  # type: ignore[attr-defined]
        hits = kb.hits(str(item["q"]), top_k=10, mode=mode)
        keys = [(h.record.law, h.record.article) for h in hits]
        found = [i for i, key in enumerate(keys) if key in relevant]
        r5 += len({keys[i] for i in found if i < 5}) / len(relevant)
        r10 += len({keys[i] for i in found}) / len(relevant)
        mrr += 1.0 / (found[0] + 1) if found else 0.0
        p1 += 1.0 if keys and keys[0] in relevant else 0.0
        if verbose:
            mark = "OK " if keys and keys[0] in relevant else ("r5 " if any(i < 5 for i in found) else "-- ")
            print(f"  [{mode:7}] {mark} {item['q']}  -> {keys[:3]}")
    n = len(items)
    return {"R@5": r5 / n, "R@10": r10 / n, "MRR@10": mrr / n, "P@1": p1 / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=str(Path(__file__).parent / "data" / "police_dev.jsonl"))
    parser.add_argument("--data-dir", default="/tmp/frontline-bench-data")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    items = [json.loads(line) for line in Path(args.path).read_text("utf-8").splitlines() if line.strip()]
    started = time.monotonic()
    kb = KnowledgeBase.open(load_settings(data_dir=Path(args.data_dir), _env_file=None))
    print(f"knowledge base open in {time.monotonic() - started:.1f}s; {len(items)} questions from {args.path}")
    print(f"{'mode':10} {'R@5':>6} {'R@10':>6} {'MRR@10':>7} {'P@1':>6}")
    for mode in MODES:
        m = evaluate(kb, items, mode, args.verbose)
        print(f"{mode:10} {m['R@5']:6.3f} {m['R@10']:6.3f} {m['MRR@10']:7.3f} {m['P@1']:6.3f}")


if __name__ == "__main__":
    main()
