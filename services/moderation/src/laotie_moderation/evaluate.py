"""Precision and recall of the detectors on the labelled corpus (``make detectors``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from laotie_moderation.domain.advertising import detect_false_advertising
from laotie_moderation.domain.diversion import Finding, detect_diversion

CORPUS = Path(__file__).resolve().parent / "corpus"


@dataclass
class Score:
    name: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def load(path: Path) -> list[tuple[bool, str]]:
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, _, text = line.partition("\t")
        cases.append((label.strip() == "1", text))
    return cases


def evaluate(
    name: str, detector: Callable[[str], Finding | None], path: Path, misses: list[str]
) -> Score:
    score = Score(name)
    for expected, text in load(path):
        found = detector(text) is not None
        if expected and found:
            score.tp += 1
        elif expected:
            score.fn += 1
            misses.append(f"  missed  [{name}] {text}")
        elif found:
            score.fp += 1
            misses.append(f"  flagged [{name}] {text}  ← {detector(text)}")
        else:
            score.tn += 1
    return score


def main() -> int:
    misses: list[str] = []
    scores = [
        evaluate("diversion", detect_diversion, CORPUS / "diversion.tsv", misses),
        evaluate(
            "false_advertising", detect_false_advertising, CORPUS / "false_advertising.tsv", misses
        ),
    ]
    print(
        f"{'detector':<20}{'cases':>7}{'precision':>11}{'recall':>9}{'TP':>5}{'FP':>5}"
        f"{'FN':>5}{'TN':>5}"
    )
    for s in scores:
        cases = s.tp + s.fp + s.fn + s.tn
        print(
            f"{s.name:<20}{cases:>7}{s.precision:>11.3f}{s.recall:>9.3f}{s.tp:>5}{s.fp:>5}"
            f"{s.fn:>5}{s.tn:>5}"
        )
    if misses:
        print("\n".join(["", "errors:", *misses]))
    return 0 if all(s.precision >= 0.95 and s.recall >= 0.95 for s in scores) else 1


if __name__ == "__main__":
    sys.exit(main())
