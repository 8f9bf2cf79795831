"""Answer-level evaluation: what an officer reads first, per question set, in Chinese and English.

    .venv/bin/python bench/answer_eval.py [SET ...] [--english] [--data-dir DIR] [--verbose]

A set line is {"q": question, "relevant": [[law, article(, version)], ...], "lead": [phrase, ...],
"lead_not": [phrase, ...], "no_basis": true}. Any relevant article (or guidance section: [title,
heading], heading "*" for any section) may lead the answer; a third element names the version
("2025"). A guidance section leading counts as relevant too when an article it cites is. Sets
without answers to expect are lists of questions with "no_basis": true.

Per set:

- lead accuracy: of the questions with an answer in the corpus, the share whose answer is
  grounded, leads with a relevant source and whose lead holds every "lead" phrase and no
  "lead_not" phrase;
- wrong-but-grounded: of all questions, the share answered as grounded from a source that is
  not relevant (or answered at all when there is no basis);
- no-basis precision / recall: of the "no basis" replies, the share where the corpus has no
  answer; of the questions without an answer in the corpus, the share answered "no basis";
- shown first: of the questions with an answer in the corpus, the share whose reply puts a
  relevant source first, as the answer (grounded or likely; guidance counts when it cites a
  relevant article, as for lead accuracy) or (with no basis) as the first unconfirmed candidate;
- likely ok / likely x: answers not grounded but shown as likely (the closest source with its lead,
  marked as not confirmed): of the questions with an answer in the corpus, the share shown a
  relevant source that way; of all questions, the share shown a wrong one that way (or any, when
  there is no basis). No-basis precision and recall count every reply that is not grounded.

With no SET it runs the three groups and says which is which: the sets retrieval and the leads
were tuned on, the calibration set the threshold was set on, and the held-out sets nothing was
chosen on. --english reads each set's English companion (name_en.jsonl).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.settings import load_settings
from knowledge.citations import Answer, Citation
from knowledge.service import KnowledgeBase

DATA = Path(__file__).parent / "data"
GROUPS: dict[str, list[str]] = {
    "tuned on": [
        "police_dev", "retrieval_extra", "retrieval_extra2", "retrieval_extra3", "layperson_dev", "answers_tune", "answers_tune2", "no_basis_dev",
    ],
    "calibration (threshold only)": ["answers_calibration"],
    "held out (never tuned on)": ["retrieval_lead_holdout", "layperson_holdout", "no_basis_holdout", "answers_holdout2"],
}


def read_set(path: Path) -> list[dict[str, Any]]:
    """Reads a question set (JSON lines)."""
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def relevant(citation: Citation, wanted: list[list[str]]) -> bool:
    """Tells whether a citation is one of the wanted articles or guidance sections."""
    for item in wanted:
        law, article = item[0], item[1]
        if citation.law != law or article not in ("*", citation.article):
            continue
        if len(item) > 2 and not citation.version.startswith(item[2]):
            continue
        return True
    return False


@dataclass
class Tally:
    """Counts for one set."""

    questions: int = 0
    answerable: int = 0
    lead_ok: int = 0
    wrong_grounded: int = 0
    said_no_basis: int = 0
    no_basis_right: int = 0
    expected_no_basis: int = 0
    shown_first: int = 0
    likely_right: int = 0
    likely_wrong: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, item: dict[str, Any], answer: Answer) -> None:
        self.questions += 1
        expect_none = bool(item.get("no_basis"))
        if not answer.grounded:
            self.said_no_basis += 1
            self.no_basis_right += expect_none
        if answer.likely and not answer.grounded:
            top = answer.citations[0]
            cited = answer.citations[1:] if top.kind == "guidance" else []
            right = not expect_none and (
                relevant(top, item["relevant"]) or any(relevant(c, item["relevant"]) for c in cited)
            )
            self.likely_right += right
            self.likely_wrong += not right
        if expect_none:
            self.expected_no_basis += 1
            if answer.grounded:
                self.wrong_grounded += 1
                self.misses.append(f"GROUNDED (no basis expected) {item['q']} -> {_top(answer)}")
            return
        self.answerable += 1
        shown = answer.citations if answer.grounded or answer.likely else answer.related
        # a guidance section shown with the articles it cites counts when one of them is relevant
        backing = shown[1:] if shown is answer.citations and shown and shown[0].kind == "guidance" else []
        if shown and (relevant(shown[0], item["relevant"]) or any(relevant(c, item["relevant"]) for c in backing)):
            self.shown_first += 1
        if not answer.grounded:
            self.misses.append(f"no basis   {item['q']}")
            return
        top = answer.citations[0]
        cited = answer.citations[1:] if top.kind == "guidance" else []
        if not relevant(top, item["relevant"]) and not any(relevant(c, item["relevant"]) for c in cited):
            self.wrong_grounded += 1
            self.misses.append(f"WRONG      {item['q']} -> {_top(answer)} (conf {answer.confidence:.2f})")
            return
        lead = answer.lead or answer.answer
        missing = [p for p in item.get("lead", []) if p not in lead]
        extra = [p for p in item.get("lead_not", []) if p in lead]
        if missing or extra:
            self.misses.append(f"lead       {item['q']} -> missing {missing} unwanted {extra}: {lead[:80]}")
            return
        self.lead_ok += 1

    def row(self) -> str:
        lead = self.lead_ok / self.answerable if self.answerable else float("nan")
        wrong = self.wrong_grounded / self.questions if self.questions else float("nan")
        precision = self.no_basis_right / self.said_no_basis if self.said_no_basis else float("nan")
        recall = self.no_basis_right / self.expected_no_basis if self.expected_no_basis else float("nan")
        shown = self.shown_first / self.answerable if self.answerable else float("nan")
        likely_right = self.likely_right / self.answerable if self.answerable else float("nan")
        likely_wrong = self.likely_wrong / self.questions if self.questions else float("nan")
        return (
            f"{self.questions:4d} {self.answerable:4d} {lead:8.3f} {wrong:8.3f} "
            f"{precision:9.3f} {recall:9.3f} {shown:8.3f} {likely_right:8.3f} {likely_wrong:8.3f}"
            f"  ({self.said_no_basis} not grounded, {self.likely_right + self.likely_wrong} of them likely)"
        )


def _top(answer: Answer) -> str:
    if not answer.citations:
        return "-"
    top = answer.citations[0]
    return f"{top.law} {top.article} {top.version}"


HEADER = (
    f"{'set':28} {'n':>4} {'ans':>4} {'lead acc':>8} {'wrong+gr':>8} {'nb prec':>9} {'nb recall':>9} {'shown 1st':>8}"
    f" {'likely ok':>8} {'likely x':>8}"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", help="set names under bench/data or paths; none = every group")
    parser.add_argument("--english", action="store_true", help="read each set's English companion (name_en.jsonl)")
    parser.add_argument("--data-dir", default="/tmp/frontline-bench-data")
    parser.add_argument("--verbose", action="store_true", help="list every miss")
    args = parser.parse_args()
    groups = {"given": args.sets} if args.sets else GROUPS
    started = time.monotonic()
    kb = KnowledgeBase.open(load_settings(data_dir=Path(args.data_dir), _env_file=None))
    print(f"knowledge base open in {time.monotonic() - started:.1f}s; {'English' if args.english else 'Chinese'} questions")
    language = "en" if args.english else "zh"
    for group, names in groups.items():
        print(f"\n== {group}")
        print(HEADER)
        total = Tally()
        for name in names:
            path = Path(name) if name.endswith(".jsonl") else DATA / f"{name}{'_en' if args.english else ''}.jsonl"
            tally = Tally()
            for item in read_set(path):
                answer = kb.ask(str(item["q"]), language=language)
                tally.add(item, answer)
                total.add(item, answer)
            print(f"{path.stem:28} {tally.row()}")
            if args.verbose:
                for miss in tally.misses:
                    print(f"    {miss}")
        if len(names) > 1:
            print(f"{'all of ' + group.split(' ')[0]:28} {total.row()}")


if __name__ == "__main__":
    main()
