"""Train the detectors' learned models on the labelled corpora (``make detectors-train``).

Each text rule gets a logistic regression over the TF-IDF of character n-grams of the folded
text (``domain.learned.model_text``), written to ``models/<code>.json`` for
``domain.learned`` to score without scikit-learn.
Trained on every corpus whose ``trains`` is set in ``evaluate.CORPORA``; the others stay blind.
The settings were chosen by five-fold cross-validation on the training corpora (the highest
recall at precision ≥ 0.97) and the thresholds checked on unseen-7 before it joined them.
scikit-learn is a development dependency: the services never import this module.
"""

from __future__ import annotations

import json
import sys

from laotie_moderation.domain.detection import RULES
from laotie_moderation.domain.learned import MODELS, model_text
from laotie_moderation.evaluate import CORPORA, load

NGRAMS = (1, 3)
C = 30.0
THRESHOLD = 0.65  # flagged on the model alone above this probability
SUPPORT = 0.1  # flagged when a rule trips and the probability passes this
VERSIONS = {"diversion": "diversion@7", "false_advertising": "false_advertising@7"}


def training_set(filename: str) -> tuple[list[str], list[int]]:
    cases = [c for corpus in CORPORA if corpus.trains for c in load(corpus.folder / filename)]
    return [model_text(text) for _, text in cases], [int(label) for label, _ in cases]


def fit(filename: str):  # type: ignore[no-untyped-def]
    """The fitted (vectorizer, classifier) for one detector's corpus files."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts, labels = training_set(filename)
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=NGRAMS, sublinear_tf=True)
    matrix = vectorizer.fit_transform(texts)
    classifier = LogisticRegression(C=C, max_iter=5000, class_weight="balanced")
    return vectorizer, classifier.fit(matrix, labels)


def exported(code: str, filename: str) -> dict[str, object]:
    vectorizer, classifier = fit(filename)
    weights = classifier.coef_[0]
    terms = {
        term: [round(float(vectorizer.idf_[j]), 6), round(float(weights[j]), 6)]
        for term, j in sorted(vectorizer.vocabulary_.items())
    }
    return {
        "version": VERSIONS[code],
        "trained_on": [corpus.name for corpus in CORPORA if corpus.trains],
        "cases": len(training_set(filename)[1]),
        "ngrams": list(NGRAMS),
        "threshold": THRESHOLD,
        "support": SUPPORT,
        "intercept": round(float(classifier.intercept_[0]), 6),
        "terms": terms,
    }


def main() -> int:
    for code in RULES:
        model = exported(code, f"{code}.tsv")
        path = MODELS / f"{code}.json"
        path.write_text(json.dumps(model, ensure_ascii=False, separators=(",", ":")) + "\n")
        print(f"{path.name}: {model['cases']} cases, {len(model['terms'])} n-grams")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
