"""Every citation in the bundled guidance points at an article that exists in the bundled corpus."""

from __future__ import annotations

import re
from pathlib import Path

from ingest.statutes import parse_document
from knowledge.references import LawNames, find_article_refs

CORPUS = Path(__file__).parents[2] / "knowledge" / "corpus"


def _articles() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in sorted((CORPUS / "laws").glob("*.md")):
        found |= {(r.law, r.article) for r in parse_document(path.read_text("utf-8"), path.name).records}
    return found


class TestGuidanceCitations:
    def test_every_guidance_citation_resolves_to_a_real_article(self) -> None:
        """Each 《law》第X条 in guidance names a law of the corpus and an article it has."""
        articles = _articles()
        names = LawNames({law for law, _a in articles})
        checked = 0
        bad: list[str] = []
        for path in sorted((CORPUS / "guidance").glob("*.md")):
            for record in parse_document(path.read_text("utf-8"), f"guidance/{path.name}").records:
                for ref in find_article_refs(record.text, names):
                    checked += 1
                    if (ref.law, ref.article) not in articles:
                        bad.append(f"{path.name} / {record.article}: {ref.law} {ref.article}")
                # every 《…》 citation must have been recognised as an instrument of the corpus
                for quoted in re.findall(r"《([^》]+)》第", record.text):
                    if names.canonical(quoted) is None:
                        bad.append(f"{path.name} / {record.article}: unknown instrument {quoted}")
        assert bad == []
        assert checked > 100

    def test_every_guidance_section_cites_at_least_one_article(self) -> None:
        """No guidance statement stands without a citation (document introductions aside)."""
        names = LawNames({law for law, _a in _articles()})
        uncited = [
            f"{path.name} / {record.article}"
            for path in sorted((CORPUS / "guidance").glob("*.md"))
            for record in parse_document(path.read_text("utf-8"), f"guidance/{path.name}").records
            if record.article != record.title and not find_article_refs(record.text, names)
        ]
        assert uncited == []

    def test_risk_tips_cover_every_measure_with_three_to_five_tips(self) -> None:
        """执法风险提示 has 3–5 tips for each required measure or case type."""
        doc = parse_document((CORPUS / "guidance" / "执法风险提示.md").read_text("utf-8"), "guidance/执法风险提示.md")
        topics = ["取保候审", "监视居住", "刑事拘留和提请批准逮捕", "逮捕后羁押", "传唤和拘传", "治安案件办理", "询问查证", "继续盘问"]
        counts = {t: sum(1 for r in doc.records if r.chapter == t) for t in topics}
        assert all(3 <= n <= 5 for n in counts.values()), counts
