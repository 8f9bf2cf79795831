"""Fits the "does this source answer?" model and sets its threshold, on question sets kept apart.

    .venv/bin/python bench/retrieval_calibrate.py [--data-dir DIR] [--target 0.04]

1. Fit: on the question sets retrieval is tuned on (Chinese and English, plus questions with no
   answer in the corpus), each question's best article and best guidance section are labelled
   right (a relevant source; guidance also when it cites a relevant article) or wrong, and a
   logistic model of knowledge.judge.FEATURES is fitted (L2, standardised features). It prints
   the MODEL and BIAS to put in knowledge/judge.py.
2. Calibrate: on bench/data/answers_calibration (zh and en), never used for anything else,
   every threshold is tried with the fitted model as answers use it (guidance leads when it
   answers about as surely); the lowest threshold whose wrong-but-grounded rate stays within the
   target is printed with the answered and right rates around it.

Held-out figures come from bench/answer_eval.py, not from here.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import knowledge.judge as judge_module
from bench.answer_eval import read_set, relevant
from core.settings import load_settings
from knowledge.citations import Citation
from knowledge.judge import FEATURES
from knowledge.queries import cited_by
from knowledge.service import KnowledgeBase

DATA = Path(__file__).parent / "data"
FIT_SETS = [
    "police_dev", "retrieval_extra", "retrieval_extra2", "retrieval_extra3", "layperson_dev", "answers_tune", "no_basis_dev",
]
CALIBRATION_SETS = ["answers_calibration"]


def source_right(kb: KnowledgeBase, item: dict[str, Any], record: Any) -> bool:
    """Tells whether a source answers: it is relevant, or it is guidance citing a relevant article."""
    if item.get("no_basis"):
        return False
    if relevant(Citation.of(record), item["relevant"]):
        return True
    if record.kind != "guidance" or kb.retriever is None:
        return False
    return any(relevant(Citation.of(r), item["relevant"]) for r in cited_by(kb.retriever, record, kb.today()))


def rows(kb: KnowledgeBase, names: list[str]) -> list[dict[str, Any]]:
    """Judges each question's best article and best guidance section; returns their features and labels."""
    assert kb.retriever is not None
    retriever = kb.retriever
    out: list[dict[str, Any]] = []
    for name in names:
        for suffix in ("", "_en"):
            for item in read_set(DATA / f"{name}{suffix}.jsonl"):
                question = str(item["q"])
                statute_hits = retriever.search(question, top_k=8, current_only=True)
                guidance_hits = retriever.search(question, top_k=3, kind="guidance", current_only=True)
                statute = kb.queries._judge(question, statute_hits, retriever)
                row: dict[str, Any] = {"item": item, "question": question}
                if statute is not None:
                    row["statute"] = (statute.verdict.features, source_right(kb, item, statute.record))
                row["guidance"] = [
                    (source.verdict.features, source_right(kb, item, source.record))
                    for i in range(len(guidance_hits))
                    if (source := kb.queries._judge(question, guidance_hits, retriever, index=i)) is not None
                ]
                out.append(row)
    return out


def fit(samples: list[tuple[dict[str, float], bool]], l2: float) -> tuple[dict[str, tuple[float, float, float]], float]:
    """Fits a logistic model; returns {feature: (mean, scale, weight)} and the bias."""
    x = np.asarray([[features[name] for name in FEATURES] for features, _right in samples], dtype=float)
    y = np.asarray([1.0 if right else 0.0 for _features, right in samples])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    for _ in range(5000):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        w -= 0.5 * (z.T @ (p - y) / len(y) + l2 * np.r_[w[:-1], 0.0] / len(y))
    model = {
        name: (round(float(mean[i]), 4), round(float(scale[i]), 4), round(float(w[i]), 4)) for i, name in enumerate(FEATURES)
    }
    return model, round(float(w[-1]), 4)


def outcome(row: dict[str, Any], threshold: float, margin: float) -> str:
    """What the answer would be: "right", "wrong" (grounded on a wrong source) or "none" (no basis)."""
    statute = (judge_module.probability(row["statute"][0]), row["statute"][1]) if "statute" in row else None
    scored = [(judge_module.probability(features), right) for features, right in row["guidance"]]
    guidance = max(scored, key=lambda s: s[0], default=None)
    lead = statute
    if guidance is not None and guidance[0] >= threshold and (statute is None or guidance[0] >= statute[0] - margin):
        lead = guidance
    if lead is None or lead[0] < threshold:
        return "none"
    return "right" if lead[1] else "wrong"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="/tmp/frontline-bench-data")
    parser.add_argument("--target", type=float, default=0.04, help="wrong-but-grounded rate allowed on the calibration set")
    parser.add_argument("--l2", type=float, default=3.0)
    args = parser.parse_args()
    kb = KnowledgeBase.open(load_settings(data_dir=Path(args.data_dir), _env_file=None))
    from knowledge.queries import GUIDANCE_MARGIN

    train = rows(kb, FIT_SETS)
    samples = [row["statute"] for row in train if "statute" in row] + [g for row in train for g in row["guidance"]]
    model, bias = fit(samples, args.l2)
    print(f"fitted on {len(samples)} sources from {len(train)} questions ({sum(r for _f, r in samples)} right)")
    print("MODEL = " + json.dumps(model, ensure_ascii=False, indent=4))
    print(f"BIAS = {bias}")
    judge_module.MODEL, judge_module.BIAS = model, bias
    calibration = rows(kb, CALIBRATION_SETS)
    n = len(calibration)
    answerable = sum(1 for r in calibration if not r["item"].get("no_basis"))
    chosen = None
    print(f"\ncalibration: {n} questions, {answerable} with an answer in the corpus")
    print(f"{'threshold':>9} {'answered':>9} {'right':>7} {'wrong+grounded':>15}")
    for step in range(20, 96, 2):
        threshold = step / 100
        results = [outcome(row, threshold, GUIDANCE_MARGIN) for row in calibration]
        wrong = results.count("wrong") / n
        answered = (results.count("right") + results.count("wrong")) / n
        right = results.count("right") / answerable
        mark = ""
        if chosen is None and wrong <= args.target:
            chosen, mark = threshold, "  <- lowest within the target"
        print(f"{threshold:9.2f} {answered:9.3f} {right:7.3f} {wrong:15.3f}{mark}")
    print(f"\nGROUNDED_THRESHOLD = {chosen}")
    if chosen is not None:
        print(f"(sigmoid logit {math.log(chosen / (1 - chosen)):.3f})")


if __name__ == "__main__":
    main()
