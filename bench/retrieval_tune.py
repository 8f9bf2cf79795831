"""Compares fusion settings on several question sets at once (one knowledge base, many settings).

    .venv/bin/python bench/retrieval_tune.py [--data-dir DIR] [--verbose NAME] [--only "A;B"] [--no-bigrams]

Prints R@5 / P@1 per set for each named setting in SETTINGS, so a choice can be checked on
question sets it was not made on (bench/README.knowledge.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.retrieval_eval import evaluate
from core.settings import load_settings
from knowledge.retrieve import FusionWeights
from knowledge.service import KnowledgeBase

SETS = (
    "police_dev.jsonl", "retrieval_extra.jsonl", "retrieval_extra2.jsonl", "retrieval_extra3.jsonl", "layperson_dev.jsonl",
)
BASE = FusionWeights()
SETTINGS: dict[str, tuple[str, FusionWeights]] = {
    "lexical": ("lexical", BASE),
    "dense, whole articles": ("dense", replace(BASE, chunk=0.0)),
    "dense, best chunk": ("dense", BASE),
    "dense, chunk 0.5": ("dense", replace(BASE, chunk=0.5)),
    "hybrid, whole articles": ("hybrid", replace(BASE, chunk=0.0)),
    "hybrid, best chunk": ("hybrid", BASE),
    "hybrid, chunk 0.5": ("hybrid", replace(BASE, chunk=0.5)),
    "hybrid, best chunk, 0.5/0.5": ("hybrid", replace(BASE, lexical=0.5, dense=0.5)),
    "hybrid, best chunk, 0.4/0.6": ("hybrid", replace(BASE, lexical=0.4, dense=0.6)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="/tmp/frontline-bench-data")
    parser.add_argument("--verbose", default="", help="print each question's top 3 for this setting")
    parser.add_argument("--only", default="", help='setting names separated by ";"')
    parser.add_argument("--no-chunk-vectors", action="store_true", help="skip chunk vectors (before they are built)")
    parser.add_argument("--no-bigrams", action="store_true", help="BM25 over jieba words only (as before)")
    parser.add_argument("--bm25", default="", help='BM25 "k1,b" pairs separated by ";" (hybrid, default weights)')
    args = parser.parse_args()
    if args.no_bigrams:
        import knowledge.lexical

        knowledge.lexical.BM25_BIGRAMS = False
    if args.no_chunk_vectors:
        import numpy as np

        from knowledge.indexing import KnowledgeIndex

        KnowledgeIndex._chunk_vectors = lambda self, records: ([], np.zeros((0, 0), dtype=np.float32))  # type: ignore[method-assign]  # a bench-only shortcut
    data = Path(__file__).parent / "data"
    sets = {name: [json.loads(line) for line in (data / name).read_text("utf-8").splitlines() if line.strip()] for name in SETS}
    kb = KnowledgeBase.open(load_settings(data_dir=Path(args.data_dir), _env_file=None))
    assert kb.retriever is not None
    print(f"{'setting':30}" + "".join(f" {name.split('.')[0][:18]:>20}" for name in SETS) + f" {'all':>14}")
    chosen = [s for s in args.only.split(";") if s] or list(SETTINGS)
    if args.bm25:
        import knowledge.retrieve
        from knowledge.lexical import LexicalIndex

        records = kb.store.records()
        for pair in args.bm25.split(";"):
            k1, b = (float(x) for x in pair.split(","))

            class Tuned(LexicalIndex):
                def __init__(self, *, k1: float = k1, b: float = b, use_bigrams: bool | None = None) -> None:
                    super().__init__(k1=k1, b=b, use_bigrams=use_bigrams)

            knowledge.retrieve.LexicalIndex = Tuned  # type: ignore[misc]  # bench-only: the retriever builds its own index
            label = f"hybrid, BM25 k1={k1} b={b}"
            SETTINGS[label] = ("hybrid", BASE)
            kb.retriever.reload(records)
            run(kb, sets, label, args.verbose)
        return
    for label in chosen:
        run(kb, sets, label, args.verbose)


def run(kb: KnowledgeBase, sets: dict[str, list[dict[str, object]]], label: str, verbose: str) -> None:
    assert kb.retriever is not None
    mode, weights = SETTINGS[label]
    kb.retriever.weights = weights
    line = f"{label:30}"
    total_r5 = total_p1 = 0.0
    count = 0
    for items in sets.values():
        m = evaluate(kb, items, mode, verbose == label, None)
        line += f"  R@5 {m['R@5']:.3f} P@1 {m['P@1']:.3f}"
        total_r5 += m["R@5"] * len(items)
        total_p1 += m["P@1"] * len(items)
        count += len(items)
    print(line + f"  {total_r5 / count:.3f} {total_p1 / count:.3f}", flush=True)


if __name__ == "__main__":
    main()
