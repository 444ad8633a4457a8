"""Precision and recall of the detectors on the labelled corpora (``make detectors``).

Two corpora, each with one file per detector:

- the **tuning** corpus (``corpus/*.tsv``): the cases the rules were written against. It gates
  the exit status: below 0.95 precision or recall on either detector, the command fails.
- the **unseen** batch (``corpus/unseen/*.tsv``): labelled blind, before any tuning, and never
  tuned on. It is printed against its own target (0.97 precision, 0.95 recall) but does not
  gate the exit status: a held-out batch that must pass gets tuned on until it does, and then
  it no longer measures anything. A miss there is fixed by its family, with new cases in the
  tuning corpus. Its errors were read while the families were tuned, so its "after" figure is
  no longer blind;
- the **unseen-2** batch (``corpus/unseen-2/*.tsv``): written blind after that tuning, by
  someone who never saw the detectors or their corpora; read during the second round;
- the **unseen-3** batch (``corpus/unseen-3/*.tsv``): written blind during the second round,
  read during the third;
- the **unseen-4** batch (``corpus/unseen-4/*.tsv``): written blind during the third round,
  read during the fourth;
- the **unseen-5** batch (``corpus/unseen-5/*.tsv``): written blind during the fourth round,
  read during the fifth;
- the **unseen-6** batch (``corpus/unseen-6/*.tsv``): written blind during the fifth round,
  read during the sixth;
- the **unseen-7** batch (``corpus/unseen-7/*.tsv``): written blind during the sixth round,
  read during the seventh, when it measured the learned model before joining its training set;
- the **unseen-8** batch (``corpus/unseen-8/*.tsv``): written blind during the seventh round,
  read during the eighth, trained on since;
- the **unseen-9** batch (``corpus/unseen-9/*.tsv``): written blind during the eighth round,
  read during the ninth, trained on since the tenth;
- the **unseen-10** batch (``corpus/unseen-10/*.tsv``): written blind during the ninth round,
  read during the tenth, trained on since;
- the **unseen-11** batch (``corpus/unseen-11/*.tsv``): written blind during the tenth round,
  its writer asked to keep the tricky negatives to about half of the negatives; read during
  the eleventh, trained on since;
- the **unseen-12** batch (``corpus/unseen-12/*.tsv``): written blind during the eleventh
  round, as unseen-11 was; read during the twelfth, trained on since;
- the **unseen-13** batch (``corpus/unseen-13/*.tsv``): written blind during the twelfth
  round, as unseen-11 was; never trained on (``trains=False``): the honest measure, until its
  errors are read in turn.

Since the seventh round each detector is the rules weighed by a learned model
(``domain.learned``) trained on every corpus with ``trains`` set (``make detectors-train``):
its figures on those are training figures and say only that it fits them. Each detector is
printed twice, as it decides and as its rules alone (``(rules)``), whose errors are not listed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from laotie_moderation.domain.detection import RULES, TEXT_RULES
from laotie_moderation.domain.diversion import Finding

CORPUS = Path(__file__).resolve().parent / "corpus"
UNSEEN = CORPUS / "unseen"
Detector = Callable[[str], Finding | None]
# What decides (rules weighed by the learned model), then the rules alone for comparison.
DETECTORS: tuple[tuple[str, Detector, str], ...] = (
    *((code, detector, f"{code}.tsv") for code, detector in TEXT_RULES),
    *((f"{code} (rules)", rules, f"{code}.tsv") for code, rules in RULES.items()),
)
DECIDING = frozenset(RULES)  # the rows whose errors are printed


@dataclass(frozen=True)
class Corpus:
    name: str
    folder: Path
    precision: float
    recall: float
    gates: bool
    trains: bool = True


CORPORA = (
    Corpus("tuning", CORPUS, 0.95, 0.95, gates=True),
    Corpus("unseen", UNSEEN, 0.97, 0.95, gates=False),
    Corpus("unseen-2", CORPUS / "unseen-2", 0.97, 0.95, gates=False),
    Corpus("unseen-3", CORPUS / "unseen-3", 0.97, 0.95, gates=False),
    Corpus("unseen-4", CORPUS / "unseen-4", 0.97, 0.95, gates=False),
    Corpus("unseen-5", CORPUS / "unseen-5", 0.97, 0.95, gates=False),
    Corpus("unseen-6", CORPUS / "unseen-6", 0.97, 0.95, gates=False),
    Corpus("unseen-7", CORPUS / "unseen-7", 0.97, 0.95, gates=False),
    Corpus("unseen-8", CORPUS / "unseen-8", 0.97, 0.95, gates=False),
    Corpus("unseen-9", CORPUS / "unseen-9", 0.97, 0.95, gates=False),
    Corpus("unseen-10", CORPUS / "unseen-10", 0.97, 0.95, gates=False),
    Corpus("unseen-11", CORPUS / "unseen-11", 0.97, 0.95, gates=False),
    Corpus("unseen-12", CORPUS / "unseen-12", 0.97, 0.95, gates=False),
    Corpus("unseen-13", CORPUS / "unseen-13", 0.97, 0.95, gates=False, trains=False),
)


@dataclass
class Score:
    name: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def meets(self, precision: float, recall: float) -> bool:
        return self.precision >= precision and self.recall >= recall


def load(path: Path) -> list[tuple[bool, str]]:
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, _, text = line.partition("\t")
        cases.append((label.strip() == "1", text))
    return cases


def evaluate(name: str, detector: Detector, path: Path, misses: list[str] | None = None) -> Score:
    """Score ``detector`` on the labelled file; its errors go to ``Score.errors`` (and are
    appended to ``misses`` when given)."""
    score = Score(name)
    for expected, text in load(path):
        finding = detector(text)
        if expected and finding:
            score.tp += 1
        elif expected:
            score.fn += 1
            score.errors.append(f"  missed  [{name}] {text}")
        elif finding:
            score.fp += 1
            score.errors.append(f"  flagged [{name}] {text}  ← {finding.rule} ({finding.detail})")
        else:
            score.tn += 1
    if misses is not None:
        misses.extend(score.errors)
    return score


HEADER = (
    f"{'detector':<27}{'cases':>7}{'precision':>11}{'recall':>9}{'TP':>5}{'FP':>5}"
    f"{'FN':>5}{'TN':>5}  target"
)


def report(corpus: Corpus, scores: list[Score]) -> list[str]:
    """The table and the errors of one corpus, as printed lines."""
    gate = "gates the exit status" if corpus.gates else "reported, does not gate"
    lines = [
        f"== {corpus.name} corpus ({corpus.folder.relative_to(CORPUS.parent)}/*.tsv): target "
        f"precision ≥ {corpus.precision:.2f}, recall ≥ {corpus.recall:.2f}, {gate}",
        HEADER,
    ]
    for s in scores:
        verdict = "met" if s.meets(corpus.precision, corpus.recall) else "BELOW"
        lines.append(
            f"{s.name:<27}{s.cases:>7}{s.precision:>11.3f}{s.recall:>9.3f}{s.tp:>5}{s.fp:>5}"
            f"{s.fn:>5}{s.tn:>5}  {verdict}"
        )
    errors = [e for s in scores if s.name in DECIDING for e in s.errors]
    lines += ["", f"errors ({len(errors)}):", *errors] if errors else ["", "errors: none"]
    return lines


def main() -> int:
    failed = False
    for corpus in CORPORA:
        scores = [evaluate(n, d, corpus.folder / f) for n, d, f in DETECTORS]
        print("\n".join(report(corpus, scores)), end="\n\n")
        below = not all(s.meets(corpus.precision, corpus.recall) for s in scores)
        failed = failed or (corpus.gates and below)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
