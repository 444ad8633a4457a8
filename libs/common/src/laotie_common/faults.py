"""Named fault points for tests that kill a real process at an exact step.

``FAULTS=relay.after_publish`` makes the process exit with status 137 (as ``kill -9``
would) the first time it reaches that point; ``point:N`` at the N-th time. Nothing
happens unless the variable is set, and it is never set in production.

The same variable can plant a bug instead of a crash (:func:`planted`), so a test can show
that its safety net catches the bug it names: ``FAULTS=consumer.dedup_off`` makes the
consumer apply redelivered records again.
"""

from __future__ import annotations

import os
import sys
from collections import Counter

_hits: Counter[str] = Counter()
_plan: dict[str, int] | None = None


def _load() -> dict[str, int]:
    plan: dict[str, int] = {}
    for item in os.environ.get("FAULTS", "").split(","):
        item = item.strip()
        if not item:
            continue
        name, _, nth = item.partition(":")
        plan[name] = int(nth) if nth else 1
    return plan


def _planned() -> dict[str, int]:
    global _plan
    if _plan is None:
        _plan = _load()
    return _plan


def planted(name: str) -> bool:
    """Whether a test planted this bug (behave wrongly here, on purpose)."""
    return name in _planned()


def fault_point(name: str) -> None:
    """Crash the process here if the test asked for it."""
    _plan = _planned()
    if name not in _plan:
        return
    _hits[name] += 1
    if _hits[name] == _plan[name]:
        sys.stderr.write(f"FAULT INJECTED: {name} (hit {_hits[name]}), exiting 137\n")
        sys.stderr.flush()
        os._exit(137)
