"""Loading the score policy (``policy/score-policy.toml``, versioned): the weights, ranges,
bands and windows the formulas in ``domain`` apply."""

from __future__ import annotations

import tomllib
from pathlib import Path

from laotie_scoring.domain import ScorePolicy

DEFAULT_POLICY = Path(__file__).parent / "score-policy.toml"


def load_policy(path: Path | str | None = None) -> ScorePolicy:
    with open(path or DEFAULT_POLICY, "rb") as f:
        policy = ScorePolicy.model_validate(tomllib.load(f))
    for kind in policy.kinds.values():
        if abs(sum(d.weight for d in kind.dimensions.values()) - 1.0) > 1e-9:
            raise ValueError(f"{kind.title}: dimension weights must sum to 1")
        for d in kind.dimensions.values():
            unknown = set(d.indicators) - set(policy.indicators)
            if unknown:
                raise ValueError(f"{kind.title}: unknown indicators {sorted(unknown)}")
    return policy
