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
    pack,
    render_answer,
    summary,
    tg_len,
)
from knowledge.citations import Answer, Citation


def _zh(message: str) -> str:
    return {
        "《{law}》{article} ({version} version)": "《{law}》{article}（{version}版）",
        "Superseded by {new}": "已被修订，现行：{new}",
    }.get(message, message)


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
