"""The generators' commands (``laotie deploy|contracts``) for the repository at ``root``."""

from __future__ import annotations

import sys
from pathlib import Path


def deploy(root: Path, action: str) -> int:
    from laotie_artefacts import deploy

    if action == "generate":
        written = deploy.generate(root)
        print(f"{len(written)} file(s) written" + "".join(f"\n  {p}" for p in written))
        return 0
    problems = deploy.drift(root) if action == "check" else deploy.validate(root)
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    print("deploy/: ok" if not problems else f"deploy/: {len(problems)} problem(s)")
    return 1 if problems else 0


def contracts(root: Path, action: str) -> int:
    from laotie_artefacts import catalogue

    problems = catalogue.gate(root)
    for problem in problems:
        print(f"BREAKING {problem}", file=sys.stderr)
    if problems:
        return 1
    if action == "generate":
        written = catalogue.generate(root)
        print(f"{len(written)} file(s) written" + "".join(f"\n  {p}" for p in written))
        return 0
    drifted = catalogue.drift(root)
    for path in drifted:
        print(f"FAIL {path}: differs from the contracts (`make contracts`)", file=sys.stderr)
    print("contracts: compatible" + (", catalogue up to date" if not drifted else ""))
    return 1 if drifted else 0
