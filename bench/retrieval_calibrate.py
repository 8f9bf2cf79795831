"""Fits the "does this source answer?" model and sets its threshold, on question sets kept apart.

    .venv/bin/python bench/retrieval_calibrate.py [--data-dir DIR] [--target 0.04]

1. Fit: on the question sets retrieval is tuned on (Chinese and English, plus questions with no
   answer in the corpus), each question's best article and each guidance section found are
   labelled right (a relevant source; guidance also when it cites a relevant article) or wrong,
   and a logistic model of knowledge.judge.FEATURES is fitted (L2, standardised features). It
   prints the MODEL and BIAS to put in knowledge/judge.py.
2. Thresholds, per language (English cosines and word shares run lower) and per kind of source
   (articles, guidance sections): every pair is tried as answers use it (guidance leads when it
   answers, about as surely as the best article) on a pool of the
   calibration set (bench/data/answers_calibration, never fitted on, judged by the fitted model)
   and the tuned-on questions judged out of fold (each by a model fitted on the other four
   fifths). Of the pairs whose pooled wrong-but-grounded rate stays within the target and each
   kind of question's within 5 % (officer questions, layperson questions, questions without
   basis, the calibration set: the held-out sets are of these kinds), the one answering most
   questions right is printed (then the fewest wrong, then the higher thresholds).

Held-out figures come from bench/answer_eval.py, not from here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.answer_eval import read_set, relevant
from core.settings import load_settings
from knowledge.citations import Citation
from knowledge.judge import ENGLISH_FEATURES, FEATURES, log_odds, probability_of
from knowledge.queries import cited_by
from knowledge.service import KnowledgeBase

DATA = Path(__file__).parent / "data"
FIT_SETS = [
    "police_dev", "retrieval_extra", "retrieval_extra2", "retrieval_extra3", "layperson_dev", "answers_tune", "answers_tune2", "no_basis_dev",
]
CALIBRATION_SETS = ["answers_calibration"]
# the kinds of question the held-out sets hold: the threshold must keep each within the limit
GROUPS: dict[str, set[str]] = {
    "officer": {"police_dev", "retrieval_extra", "retrieval_extra2", "retrieval_extra3", "answers_tune", "answers_tune2"},
    "layperson": {"layperson_dev"},
    "no basis": {"no_basis_dev"},
    "calibration": set(CALIBRATION_SETS),
}
GROUP_LIMIT = 0.05


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
    """Judges each question's best article and its guidance sections as ask() does; returns features and labels."""
    assert kb.retriever is not None
    retriever = kb.retriever
    today = kb.today()
    out: list[dict[str, Any]] = []
    for name in names:
        for suffix in ("", "_en"):
            for item in read_set(DATA / f"{name}{suffix}.jsonl"):
                question = str(item["q"])
                found = kb.queries.found(question, today)
                statute, guidance = kb.queries.judged_all(
                    found.searched, found.statute_hits, found.guidance_hits, retriever, found.applied.day
                )
                row: dict[str, Any] = {"item": item, "question": question, "english": bool(suffix), "set": name}
                if statute is not None:
                    row["statute"] = (statute.verdict.features, source_right(kb, item, statute.record))
                row["guidance"] = [(source.verdict.features, source_right(kb, item, source.record)) for source in guidance]
                out.append(row)
    return out


Weights = tuple[dict[str, tuple[float, float, float]], float]
Model = tuple[Weights, Weights]
FOLDS = 5


def samples_of(train: list[dict[str, Any]]) -> list[tuple[dict[str, float], bool]]:
    """Every judged source of the questions: the best article and each guidance section found."""
    return [row["statute"] for row in train if "statute" in row] + [g for row in train for g in row["guidance"]]


def fit(samples: list[tuple[dict[str, float], bool]], l2: float) -> Model:
    """Fits the shared model, then the English correction over its log-odds; returns both."""
    shared = fit_logistic(samples, FEATURES, l2)
    english = [({**features, "shared": log_odds(shared, features)}, right) for features, right in samples if features["english"]]
    return shared, fit_logistic(english, ENGLISH_FEATURES, l2)


def fit_logistic(samples: list[tuple[dict[str, float], bool]], names: tuple[str, ...], l2: float) -> Weights:
    """Fits a logistic model; returns {feature: (mean, scale, weight)} and the bias."""
    x = np.asarray([[features[name] for name in names] for features, _right in samples], dtype=float)
    y = np.asarray([1.0 if right else 0.0 for _features, right in samples])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    for _ in range(5000):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        w -= 0.5 * (z.T @ (p - y) / len(y) + l2 * np.r_[w[:-1], 0.0] / len(y))
    model = {
        name: (round(float(mean[i]), 4), round(float(scale[i]), 4), round(float(w[i]), 4)) for i, name in enumerate(names)
    }
    return model, round(float(w[-1]), 4)


def probability(model: Model, features: dict[str, float]) -> float:
    """The probability a fitted model gives."""
    return probability_of(features, model[0], model[1])


def judged_row(row: dict[str, Any], model: Model) -> tuple[tuple[float, bool] | None, tuple[float, bool] | None]:
    """A question's best article and its surest guidance section: (probability, right) each."""
    statute = (probability(model, row["statute"][0]), row["statute"][1]) if "statute" in row else None
    scored = [(probability(model, features), right) for features, right in row["guidance"]]
    return statute, max(scored, key=lambda s: s[0], default=None)


def outcome(
    judged: tuple[tuple[float, bool] | None, tuple[float, bool] | None], threshold: float, guidance_threshold: float, margin: float
) -> str:
    """What the answer would be: "right", "wrong" (grounded on a wrong source) or "none" (no basis)."""
    statute, guidance = judged
    if guidance is not None and guidance[0] >= guidance_threshold and (statute is None or guidance[0] >= statute[0] - margin):
        return "right" if guidance[1] else "wrong"
    if statute is None or statute[0] < threshold:
        return "none"
    return "right" if statute[1] else "wrong"


def rates_of(
    judged: list[Any], threshold: float, guidance_threshold: float, margin: float
) -> tuple[float, float, dict[str, float]]:
    """Right (of the questions with an answer), wrong-but-grounded (of all) and wrong-but-grounded per kind of question."""
    results = [(outcome(j, threshold, guidance_threshold, margin), row) for j, row in judged]
    answerable = sum(1 for _o, row in results if not row["item"].get("no_basis"))
    wrong = sum(1 for o, _r in results if o == "wrong") / len(results)
    right = sum(1 for o, _r in results if o == "right") / answerable
    per_group = {
        group: sum(o == "wrong" for o, row in members) / len(members)
        for group, names in GROUPS.items()
        if (members := [(o, row) for o, row in results if row["set"] in names])
    }
    return right, wrong, per_group


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="/tmp/frontline-bench-data")
    parser.add_argument("--target", type=float, default=0.04, help="wrong-but-grounded rate allowed on the pool")
    parser.add_argument("--l2", type=float, default=3.0)
    args = parser.parse_args()
    kb = KnowledgeBase.open(load_settings(data_dir=Path(args.data_dir), _env_file=None))
    from knowledge.queries import GUIDANCE_MARGIN

    train = rows(kb, FIT_SETS)
    model = fit(samples_of(train), args.l2)
    samples = samples_of(train)
    print(f"fitted on {len(samples)} sources from {len(train)} questions ({sum(r for _f, r in samples)} right)")
    for prefix, (weights, bias) in (("", model[0]), ("ENGLISH_", model[1])):
        print(f"{prefix}MODEL = {{")
        for name, values in weights.items():
            print(f'    "{name}": {values},')
        print("}")
        print(f"{prefix}BIAS = {bias}")
    # each tuned-on question judged by a model fitted without its fold, the calibration set by the whole model
    folds = [fit(samples_of([r for i, r in enumerate(train) if i % FOLDS != k]), args.l2) for k in range(FOLDS)]
    calibration = rows(kb, CALIBRATION_SETS)
    pool = [(folds[i % FOLDS], row, False) for i, row in enumerate(train)] + [(model, row, True) for row in calibration]
    for english in (False, True):
        judged = [(judged_row(row, m), row) for m, row, _is_cal in pool if row["english"] == english]
        answerable = sum(1 for _j, row in judged if not row["item"].get("no_basis"))
        print(f"\n{'English' if english else 'Chinese'}: {len(judged)} questions, {answerable} with an answer")
        print("one threshold for articles and guidance:")
        print(f"{'threshold':>9} {'right':>6} {'wrong+gr':>8}  " + "  ".join(f"{g:>11}" for g in GROUPS))
        steps = [step / 100 for step in range(40, 96)]
        for threshold in steps[::2]:
            right, wrong, per_group = rates_of(judged, threshold, threshold, GUIDANCE_MARGIN)
            groups = "  ".join(f"{per_group.get(g, float('nan')):11.3f}" for g in GROUPS)
            print(f"{threshold:9.2f} {right:6.3f} {wrong:8.3f}  {groups}")
        # one per kind of source: the pair within the limits answering most questions right (then fewest wrong,
        # then the higher thresholds)
        best: tuple[float, float, float, float, float] | None = None
        for threshold in steps:
            for guidance_threshold in steps:
                right, wrong, per_group = rates_of(judged, threshold, guidance_threshold, GUIDANCE_MARGIN)
                if wrong <= args.target and all(rate <= GROUP_LIMIT for rate in per_group.values()):
                    key = (right, -wrong, threshold + guidance_threshold, threshold, guidance_threshold)
                    best = key if best is None or key > best else best
        suffix = "_ENGLISH" if english else ""
        if best is None:
            print(f"GROUNDED_THRESHOLD{suffix} = None")
            continue
        right, wrong, per_group = rates_of(judged, best[3], best[4], GUIDANCE_MARGIN)
        groups = "  ".join(f"{g} {per_group.get(g, float('nan')):.3f}" for g in GROUPS)
        print(f"articles {best[3]:.2f}, guidance {best[4]:.2f}: right {right:.3f}, wrong+gr {wrong:.3f} ({groups})")
        print(f"GROUNDED_THRESHOLD{suffix} = {best[3]}")
        print(f"GROUNDED_THRESHOLD_GUIDANCE{suffix} = {best[4]}")

if __name__ == "__main__":
    main()
