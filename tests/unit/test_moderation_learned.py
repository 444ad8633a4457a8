"""The learned half of the text detectors: the shipped models are what training makes of the
corpora, scored here exactly as scikit-learn scores them, and combined with the rules as the
docstring of ``domain.learned`` says."""

from __future__ import annotations

import pytest
from laotie_moderation.domain.diversion import Finding
from laotie_moderation.domain.learned import TextModel, char_ngrams, model, model_text
from laotie_moderation.evaluate import CORPORA, load

sklearn = pytest.importorskip("sklearn")

CODES = ("diversion", "false_advertising")


def _texts(code: str) -> list[str]:
    return [text for corpus in CORPORA for _, text in load(corpus.folder / f"{code}.tsv")]


@pytest.mark.parametrize("code", CODES)
def test_the_shipped_model_is_what_training_makes_of_the_corpora(code: str) -> None:
    from laotie_moderation.train import fit

    vectorizer, classifier = fit(f"{code}.tsv")
    texts = _texts(code)
    expected = classifier.predict_proba(vectorizer.transform([model_text(t) for t in texts]))[:, 1]
    shipped = model(code)
    worst = max(abs(shipped.probability(t) - p) for t, p in zip(texts, expected, strict=True))
    assert worst < 1e-4, f"{code}.json is stale: run make detectors-train (off by {worst:.2g})"


def test_char_ngrams_are_scikit_learns() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), lowercase=False)
    analyzer = vectorizer.build_analyzer()
    for text in ("加  V：ab12", " 微 信 ", "", "a", "全网   第一\t好"):
        assert char_ngrams(text, (1, 3)) == analyzer(text)


def test_the_model_reads_digit_shapes_not_digits() -> None:
    assert model_text("¥222 订单 2026123450001") == model_text("¥999 订单 1111111111111")
    assert model_text("价格 12") != model_text("价格 12345")


_TOY = TextModel(
    version="toy@1",
    ngrams=(1, 1),
    threshold=0.65,
    support=0.1,
    intercept=0.0,
    terms={"a": (1.0, 4.0), "b": (1.0, -4.0), "c": (1.0, 0.0)},
)
_RULE = Finding("toy@0:contact word", "matched a")


def test_the_model_alone_flags_above_its_threshold_and_names_its_ngrams() -> None:
    finding = _TOY.judge("a", None)
    assert finding is not None
    assert finding.rule == "toy@1:model"
    assert finding.detail == "p=0.98 a"
    assert _TOY.judge("c", None) is None  # p = 0.5: below the threshold


def test_a_rule_lowers_the_bar_but_never_decides_alone() -> None:
    assert _TOY.judge("c", _RULE) == Finding("toy@1:contact word", "matched a")  # 0.5 > support
    assert _TOY.judge("b", _RULE) is None  # p = 0.02: the model vetoes the rule
