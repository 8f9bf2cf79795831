"""Rendering answers for a phone: citations, folding, escaping and Telegram's length limit."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from bot.render import (
    MESSAGE_LIMIT,
    Block,
    answer_blocks,
    citation_heading,
    fold,
    html_to_plain,
    no_basis_text,
    opening,
    pack,
    related_text,
    render_answer,
    short_reference,
    summary,
    tg_len,
)
from knowledge.citations import Answer, Citation


def _zh(message: str) -> str:
    from core.i18n import gettext_for

    return gettext_for("zh")(message)


def _citation(text: str, **changes: object) -> Citation:
    values: dict[str, object] = {
        "law": "刑事诉讼法",
        "article": "第七十九条",
        "version": "2018-10-26",
        "text": text,
        "chapter": "第六章",
        "kind": "statute",
        "superseded_by": None,
        "record_id": "xsssf-079",
    }
    values.update(changes)
    return Citation(**values)  # type: ignore[arg-type]


class _Balance(HTMLParser):
    """Checks that tags open and close in order and that no entity is cut."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def _well_formed(chunk: str) -> bool:
    parser = _Balance()
    parser.feed(chunk)
    parser.close()
    dangling_entity = re.search(r"&[a-z#0-9]*$", chunk)
    return not parser.errors and not parser.stack and dangling_entity is None and "<" not in chunk[-1:]


class TestCitations:
    """Citations read like Chinese legal references."""

    def test_heading_names_law_article_and_version(self) -> None:
        """《刑事诉讼法》第七十九条（2018-10-26版）."""
        assert citation_heading(_citation("x"), _zh) == "《刑事诉讼法》第七十九条（2018-10-26版）"

    def test_superseded_article_is_marked(self) -> None:
        """A superseded instrument gets a warning line."""
        blocks, _folded = answer_blocks("问", "答", [_citation("x", superseded_by="新法")], _zh)
        assert any("已被修订，现行：新法" in b.html() for b in blocks)

    def test_summary_drops_paragraphs_that_repeat_the_quote(self) -> None:
        """The article is quoted once, under the answer, not again inside it."""
        article = "人民法院、人民检察院和公安机关对犯罪嫌疑人取保候审最长不得超过十二个月。"
        text = f"根据第七十九条：{article}\n\n【《刑事诉讼法》第七十九条】\n{article}\n\n相关条文：第八十条"
        assert summary(text, [_citation(article)]) == f"根据第七十九条：{article}\n\n相关条文：第八十条"


class TestFolding:
    """Long articles fold behind 展开全文."""

    def test_long_article_is_folded_near_300_characters(self) -> None:
        """The first ~300 characters are shown, ending with an ellipsis."""
        text = "条" * 1000
        shown, folded = fold(text)
        assert folded and shown.endswith(" …") and len(shown) <= 302

    def test_short_article_is_left_alone(self) -> None:
        """Text under the threshold is shown whole."""
        assert fold("短条文") == ("短条文", False)

    def test_expanded_answer_shows_everything(self) -> None:
        """expanded=True quotes the whole article."""
        article = "第一款。" * 200
        answer = Answer("问", "答", [_citation(article)], [], True, 0.9)
        folded_chunks, folded = render_answer(answer, _zh)
        full_chunks, full_folded = render_answer(answer, _zh, expanded=True)
        assert folded and not full_folded
        assert article not in "".join(folded_chunks)
        assert html_to_plain("".join(full_chunks)).count("第一款。") == 200


class TestSplitting:
    """Nothing goes over 4,096 characters and no chunk is cut inside a tag or entity."""

    def test_huge_answer_is_split_into_well_formed_chunks(self) -> None:
        """A 20,000-character article full of escapable characters splits safely."""
        article = "甲<乙>&丙“丁”。" * 2000
        answer = Answer("<问>", "答&", [_citation(article), _citation("短")], [], True, 0.9)
        chunks, _folded = render_answer(answer, _zh, expanded=True)
        assert len(chunks) > 4
        for chunk in chunks:
            assert tg_len(chunk) <= MESSAGE_LIMIT
            assert _well_formed(chunk), chunk[-40:]
        plain = "".join(html_to_plain(c).replace("\n  │ ", "").replace("\n", "") for c in chunks)
        assert plain.count("甲<乙>&丙“丁”。") == 2000

    def test_emoji_count_as_two_units(self) -> None:
        """Telegram counts UTF-16 code units; emoji take two."""
        chunks = pack([Block("😀" * 3000)])
        assert [tg_len(c) for c in chunks] == [4096, 1904]

    def test_user_text_is_escaped(self) -> None:
        """A question with markup cannot inject HTML."""
        chunks, _folded = render_answer(Answer("<b>x</b>", "y", [_citation("z")], [], True, 1.0), _zh)
        assert "&lt;b&gt;x&lt;/b&gt;" in chunks[0]


XIJING = "最高人民法院、最高人民检察院关于办理袭警刑事案件适用法律若干问题的解释"


class TestGuidanceAndLeads:
    """The lead is read first; guidance is shown as guidance, never as a statute."""

    def test_guidance_is_labelled_as_guidance_with_its_date(self) -> None:
        """A bundled guidance section names its document, heading and date."""
        guidance = _citation("x", law="民警执法权益保护指引", article="报案与控告", version="2026-11-29", kind="guidance")
        assert citation_heading(guidance, _zh) == "法制大队指引《民警执法权益保护指引》报案与控告（2026-11-29）"

    def test_a_saved_legal_brigade_answer_is_not_shown_as_a_statute(self) -> None:
        """法制大队解答 is the legal brigade's answer with its date, not 《法制大队解答》 as if it were a law."""
        saved = _citation("问：…答：…", law="法制大队解答", article="醉酒袭警", version="2026-11-20", kind="guidance")
        heading = citation_heading(saved, _zh)
        assert heading == "法制大队解答（2026-11-20）"
        assert "《法制大队解答》" not in heading

    def test_the_opening_is_the_lead_under_its_source_with_the_notes(self) -> None:
        """What the officer reads first: 根据…第…款：lead, then each note, then the related line."""
        answer = Answer(
            "问", "根据《治安管理处罚法》第八十三条：罂粟……\n\n【…】\n\n相关条文：《治安管理处罚法》第八十二条",
            [_citation("第八十三条 …罂粟…")], [], True, 1.0,
            lead="罂粟……", lead_in="根据《治安管理处罚法》第八十三条：", notes=("注意：2012-10-26版本的第八十三条是另一条文。",),
        )
        assert opening(answer) == (
            "根据《治安管理处罚法》第八十三条：罂粟……\n⚠️ 注意：2012-10-26版本的第八十三条是另一条文。"
            "\n相关条文：《治安管理处罚法》第八十二条"
        )

    def test_a_likely_answer_shows_its_lead_marked_as_not_confirmed(self) -> None:
        """Not grounded but likely: the lead and its quote are shown under a line saying it is not confirmed."""
        common = dict(lead="拘役的期限，为一个月以上六个月以下。", lead_in="根据《刑法》第四十二条：")
        likely = Answer("拘役多久", "…", [_citation("第四十二条 拘役的期限……")], [], False, 0.6, likely=True, **common)
        chunks, _folded = render_answer(likely, _zh)
        text = "".join(chunks)
        assert "未经确认" in text and "转交法制大队" in text
        assert text.index("未经确认") < text.index("根据《刑法》第四十二条：拘役的期限")
        assert "<blockquote>" in text and all(_well_formed(chunk) for chunk in chunks)
        grounded = Answer("拘役多久", "…", [_citation("第四十二条 拘役的期限……")], [], True, 0.9, **common)
        assert "未经确认" not in "".join(render_answer(grounded, _zh)[0])
        nothing = Answer("拘役多久", "…", [], [], False, 0.3)
        assert "未找到该问题的法律依据" in render_answer(nothing, _zh)[0][0]

    def test_related_and_candidates_use_the_short_names_officers_know(self) -> None:
        """A 30-character title is written as 袭警解释, once per reference."""
        citation = _citation("x", law=XIJING, article="第一条")
        assert short_reference(citation) == "《袭警解释》第一条"
        text = no_basis_text("推搡民警算袭警吗", _zh, candidates=[citation, _citation("y")])
        assert "《袭警解释》第一条" in text and XIJING not in text
        assert "未确认" in text

    def test_folded_related_provisions_say_so(self) -> None:
        """Related provisions report whether a quote was folded, so 展开全文 can be offered."""
        chunks, folded = related_text([_citation("第一款。" * 200)], _zh)
        assert folded and "…" in html_to_plain(chunks[0])
        full, full_folded = related_text([_citation("第一款。" * 200)], _zh, expanded=True)
        assert not full_folded and html_to_plain("".join(full)).count("第一款。") == 200


class TestFoldingNeverCutsACitation:
    def test_a_fold_inside_brackets_cuts_before_they_open(self) -> None:
        """A saved answer folded near 300 characters never ends inside （《…》第…条）."""
        text = "答：" + "依法处理" * 70 + "（《中华人民共和国治安管理处罚法》第五十一条规定的殴打他人行为）" + "后文" * 50
        shown, folded = fold(text)
        assert folded
        body = shown.removesuffix(" …")
        assert body.count("（") == body.count("）") and body.count("《") == body.count("》")
