"""Query expansion and tokenisation for the lexical index."""

from __future__ import annotations

from pathlib import Path

from knowledge.lexical import LexicalIndex, bigrams, expand_query, tokenize


class TestExpansion:
    def test_colloquial_words_gain_their_statutory_wording(self) -> None:
        """"酒驾" and "刑拘" are searched with the words the statutes use."""
        expanded = expand_query("酒驾被刑拘了")
        assert "饮酒后驾驶机动车" in expanded
        assert "刑事拘留" in expanded

    def test_english_terms_match_whole_words_only(self) -> None:
        """"drunk driving" expands; "define" does not trigger the entry for "fine"."""
        assert "饮酒后驾驶机动车" in expand_query("drunk driving penalty")
        assert "罚款" not in expand_query("define the term")

    def test_questions_without_glossary_words_stay_as_they_are(self) -> None:
        """Nothing is added when no glossary word occurs."""
        assert expand_query("红烧肉怎么做") == "红烧肉怎么做"


class TestTokenize:
    def test_drops_stopwords_and_punctuation_and_keeps_legal_terms(self) -> None:
        """Question words and punctuation go; terms such as 取保候审 stay whole."""
        tokens = tokenize("取保候审最长多久？")
        assert "取保候审" in tokens
        assert "？" not in tokens and "的" not in tokens


class TestBigrams:
    def test_bigrams_cover_each_chinese_run_and_are_marked_apart_from_words(self) -> None:
        """"保证人要" gives 保证/证人/人要, marked so they never count as the word 保证."""
        assert bigrams("保证人要 ok 条件") == ["~保证", "~证人", "~人要", "~条件"]

    def test_a_word_segmented_differently_in_question_and_article_still_matches(self) -> None:
        """jieba reads the question as 保证/人要; the bigram 证人 still finds the 保证人 article."""
        with_bigrams = LexicalIndex(use_bigrams=True)
        words_only = LexicalIndex(use_bigrams=False)
        items = [("a", "h1", "保证人必须符合下列条件"), ("b", "h2", "提供保证金的金额")]
        for index in (with_bigrams, words_only):
            index.build(items)
        query = "当保证人要具备什么"
        scored = with_bigrams.scores(query)
        assert scored[0] > scored[1]
        plain = words_only.scores(query)
        assert plain[0] <= plain[1]  # without bigrams both share only 保证: no preference

    def test_saved_tokens_are_not_reused_by_an_index_with_other_settings(self, tmp_path: Path) -> None:
        """Tokens saved with bigrams are ignored by a words-only index (and the other way round)."""
        path = tmp_path / "tokens.json"
        saver = LexicalIndex(use_bigrams=True)
        saver.build([("a", "h1", "保证人必须符合下列条件")])
        saver.save_tokens(path)
        same = LexicalIndex(use_bigrams=True)
        same.load_tokens(path)
        other = LexicalIndex(use_bigrams=False)
        other.load_tokens(path)
        assert same.tokens_of("h1") and other.tokens_of("h1") is None
