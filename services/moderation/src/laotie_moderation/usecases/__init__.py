"""Moderation's use cases, by area: ``penalties`` (violations, the penalties and points they
lead to, and their ends), ``appeals``, ``reports`` and ``detection`` (the use cases of other
services' facts). Each runs in the caller's unit of work ``Tx`` and writes its events to the
outbox; nothing here commits or publishes.

Every decision keeps its evidence, the rule or reviewer that made it, the policy version and
the source event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from laotie_common.uow import UnitOfWork

from laotie_moderation.policy import Policy

SOURCE = "/laotie/moderation"


@dataclass
class Tx(UnitOfWork):
    source: ClassVar[str] = SOURCE
    policy: Policy
