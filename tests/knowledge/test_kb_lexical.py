"""Query expansion and tokenisation for the lexical index."""

from __future__ import annotations

from knowledge.lexical import expand_query, tokenize


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
