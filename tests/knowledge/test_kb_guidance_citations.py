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


_OLD_TEXT_WORDS = ("2012年", "修订前", "修改前", "旧法", "原《")


def _bigrams(text: str) -> set[str]:
    chars = [c for c in text if "\u4e00" <= c <= "\u9fff" or c.isalnum()]
    return {chars[i] + chars[i + 1] for i in range(len(chars) - 1)}


def _held(claim: str, article: str) -> float:
    """Share of a claim's character bigrams that an article's text holds."""
    wanted = _bigrams(claim)
    return len(wanted & _bigrams(article)) / max(len(wanted), 1)


def _claims(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=。)", text) if "《" in s]


def _versions() -> tuple[dict[tuple[str, str], str], dict[str, list[str]]]:
    """The text in force of each versioned article, and every superseded article's text, per law."""
    from datetime import date

    from ingest.pipeline import RecordStore
    from knowledge.versions import in_force_on, load_supersessions

    marks = load_supersessions(CORPUS / "supersessions.yaml")
    store = RecordStore(Path("/nonexistent/records.json"))
    store.supersessions = dict(marks)
    in_force: dict[tuple[str, str], str] = {}
    superseded: dict[str, list[str]] = {}
    today = date.today()
    for path in sorted((CORPUS / "laws").glob("*.md")):
        document = parse_document(path.read_text("utf-8"), path.name)
        superseded_by, since, starts = store.validity_for(document.title, document.law, document.version, None)
        if superseded_by is None and starts is None:
            continue
        for record in document.records:
            record = record.with_validity(superseded_by=superseded_by, superseded_from=since, in_force_from=starts)
            if in_force_on(record, today):
                in_force[(record.law, record.article)] = record.text
            else:
                superseded.setdefault(record.law, []).append(record.text)
    return in_force, superseded


class TestGuidanceCitesTheLawInForce:
    def test_no_guidance_claim_rests_on_a_superseded_text_without_saying_so(self) -> None:
        """A claim citing a revised law matches the article in force at least as well as any superseded one.

        A citation left on the old numbering (询问查证 at 第八十三条) holds nothing of the new 第八十三条;
        a claim keeping old substance under a new number (当场处罚 二百元) matches the old text better.
        """
        in_force, superseded = _versions()
        names = LawNames({law for law, _a in _articles()})
        checked = 0
        bad: list[str] = []
        for path in sorted((CORPUS / "guidance").glob("*.md")):
            for record in parse_document(path.read_text("utf-8"), f"guidance/{path.name}").records:
                for claim in _claims(record.text):
                    if any(word in claim for word in _OLD_TEXT_WORDS):
                        continue
                    plain = re.sub(r"《[^》]*》(第[^条]*条(之[一二三四五六七八九十]+)?)?", "", claim)
                    for ref in find_article_refs(claim, names):
                        text = in_force.get((ref.law or "", ref.article))
                        if text is None:
                            continue
                        checked += 1
                        held = _held(plain, text)
                        best_old = max(_held(plain, old) for old in superseded[ref.law or ""])
                        if held + 0.05 < best_old:
                            bad.append(f"{path.name} / {record.article}: {ref.article} holds {held:.2f}, "
                                       f"a superseded text {best_old:.2f}: {plain[:40]}")
        assert bad == []
        assert checked >= 15
