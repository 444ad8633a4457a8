"""The learned half of each text detector: a linear model over character n-grams.

Six rounds of hand-written families left blind recall near 0.8 (docs/design.md §4.3,
Detectors). Each detector is now a logistic regression over the TF-IDF of character 1–3-grams
of the folded text (``model_text``), trained on the labelled corpora by
``laotie_moderation.train`` (scikit-learn, a development dependency) and shipped as JSON
beside this module. Scoring a text here needs no library: the same n-grams, weights and
sigmoid as scikit-learn's ``TfidfVectorizer`` and ``LogisticRegression`` (a unit test holds
the two equal).

A text is flagged when the model's probability passes ``threshold``, or when one of the
rules trips and the probability passes the lower ``support``: a rule's match is evidence that
lowers the bar, never a verdict on its own. The finding names the rule family that matched,
else ``model`` with the n-grams that weighed most.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from laotie_moderation.domain.diversion import Finding
from laotie_moderation.domain.normalize import fold

MODELS = Path(__file__).resolve().parent.parent / "models"
_WHITE_SPACES = re.compile(r"\s\s+")
_LONG_DIGITS = re.compile(r"\d{5,}")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class TextModel:
    version: str
    ngrams: tuple[int, int]
    threshold: float
    support: float
    intercept: float
    terms: dict[str, tuple[float, float]]  # n-gram → (idf, weight)

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> TextModel:
        ngrams: list[int] = raw["ngrams"]  # type: ignore[assignment]
        terms = {t: (float(i), float(w)) for t, (i, w) in raw["terms"].items()}  # type: ignore[attr-defined]
        return cls(
            version=str(raw["version"]),
            ngrams=(int(ngrams[0]), int(ngrams[1])),
            threshold=float(raw["threshold"]),  # type: ignore[arg-type]
            support=float(raw["support"]),  # type: ignore[arg-type]
            intercept=float(raw["intercept"]),  # type: ignore[arg-type]
            terms=terms,
        )

    def features(self, text: str) -> dict[str, float]:
        """The text's L2-normalised TF-IDF vector (sublinear tf), known n-grams only."""
        grams = char_ngrams(model_text(text), self.ngrams)
        counts = Counter(n for n in grams if n in self.terms)
        raw = {n: (1 + math.log(c)) * self.terms[n][0] for n, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in raw.values())) or 1.0
        return {n: v / norm for n, v in raw.items()}

    def probability(self, text: str) -> float:
        x = self.features(text)
        z = self.intercept + sum(v * self.terms[n][1] for n, v in x.items())
        return 1.0 / (1.0 + math.exp(-z))

    def judge(self, text: str, rules: Finding | None) -> Finding | None:
        """The finding for ``text``, given what the rules made of it (or None)."""
        p = self.probability(text)
        if rules is not None and p > self.support:
            family = rules.rule.partition(":")[2]
            return Finding(f"{self.version}:{family}", rules.detail)
        if p > self.threshold:
            return Finding(f"{self.version}:model", f"p={p:.2f} {', '.join(self.weightiest(text))}")
        return None

    def weightiest(self, text: str, k: int = 3) -> list[str]:
        """The n-grams that pushed ``text`` furthest towards a violation."""
        x = self.features(text)
        ranked = sorted(x, key=lambda n: x[n] * self.terms[n][1], reverse=True)
        return [n for n in ranked[:k] if x[n] * self.terms[n][1] > 0]


def model_text(text: str) -> str:
    """What the model reads: the folded text with each run of digits as its shape, ``§`` for
    five or more (an id, a phone number), ``0`` for fewer (a price, a size, a count): which
    digits they are says nothing, and a model that learned them flagged ``¥222``."""
    return _DIGITS.sub("0", _LONG_DIGITS.sub("§", fold(text).lower()))


def char_ngrams(text: str, ngrams: tuple[int, int]) -> list[str]:
    """Character n-grams as scikit-learn's ``analyzer="char"`` makes them."""
    text = _WHITE_SPACES.sub(" ", text)
    low, high = ngrams
    return [text[i : i + n] for n in range(low, high + 1) for i in range(len(text) - n + 1)]


@functools.cache
def model(code: str) -> TextModel:
    """The shipped model for a text rule (``diversion``, ``false_advertising``)."""
    return TextModel.from_json(json.loads((MODELS / f"{code}.json").read_text(encoding="utf-8")))
