"""The judge's English correction: what it reads about an English question, and that Chinese questions are untouched."""

from __future__ import annotations

import math

import pytest

from knowledge.judge import (
    BIAS,
    ENGLISH_BIAS,
    ENGLISH_FEATURES,
    ENGLISH_MODEL,
    FEATURES,
    MODEL,
    NOT_FOUND_AS_CHINESE,
    log_odds,
    mapped_share,
    probability,
)


def _features(**values: float) -> dict[str, float]:
    features = {name: mean for name, (mean, _scale, _weight) in MODEL.items()}
    features.update(
        {"rendered": 0.0, "form_lift": 0.0, "mapped": 0.0, "as_chinese": ENGLISH_MODEL["as_chinese"][0]}
    )
    features.update(values)
    return features


class TestMappedShare:
    def test_a_question_made_of_legal_terms_is_fully_rendered(self) -> None:
        assert mapped_share("How long is bail pending trial?") == 1.0

    def test_words_the_glossary_does_not_know_lower_the_share(self) -> None:
        """'fleeing' has no statutory rendering: three of the four content words do."""
        assert mapped_share("Can police shoot a fleeing suspect?") == pytest.approx(0.75)

    def test_a_question_off_the_law_renders_nothing(self) -> None:
        assert mapped_share("How do I bake bread?") == 0.0


class TestEnglishCorrection:
    def test_a_chinese_question_is_judged_by_the_shared_model_alone(self) -> None:
        features = _features(english=0.0, rendered=1.0, form_lift=1.0, mapped=1.0)
        shared = 1.0 / (1.0 + math.exp(-log_odds((MODEL, BIAS), features)))
        assert probability(features) == pytest.approx(shared)

    def test_an_english_question_is_surer_when_its_statutory_chinese_finds_the_source(self) -> None:
        found = probability(_features(english=1.0, rendered=1.0, form_lift=1.0, mapped=1.0))
        missed = probability(_features(english=1.0, rendered=0.0, form_lift=0.0, mapped=1.0))
        unmapped = probability(_features(english=1.0, rendered=1.0, form_lift=1.0, mapped=0.0))
        assert found > missed and found > unmapped

    def test_an_english_question_is_surer_when_its_chinese_rendering_is_judged_to_find_the_source(
        self,
    ) -> None:
        """The shared model's judgement of the source for the Chinese question it stands for (拘役 最长 多久) adds."""
        judged = probability(_features(english=1.0, as_chinese=2.0))
        not_found = probability(_features(english=1.0, as_chinese=NOT_FOUND_AS_CHINESE))
        assert judged > not_found

    def test_the_correction_weighs_agreement_for_and_the_shared_judgement_first(self) -> None:
        """Fitted weights: agreement with the statutory Chinese only ever adds; the shared log-odds still lead."""
        assert set(ENGLISH_MODEL) == set(ENGLISH_FEATURES)
        assert not set(ENGLISH_FEATURES) & set(FEATURES) - {"english"}
        weights = {name: weight / scale for name, (_mean, scale, weight) in ENGLISH_MODEL.items()}
        assert all(weights[name] > 0 for name in ("as_chinese", "rendered", "form_lift", "mapped"))
        assert weights["shared"] > 0 and ENGLISH_BIAS < 0
