"""The base of every event contract, and the catalogue of event types.

An event's data is a pydantic v2 model registered with :func:`event`, which names its
CloudEvents type (the fact in past tense, ``orders.order.paid``), its topic and the field
that keys it. Readers are tolerant: unknown fields are ignored, so adding an optional field
is a compatible change; removing, renaming or retyping one needs a new major version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from laotie_contracts.topics import TOPICS

# Where each type's JSON Schema is published; the same file is committed at
# ``schemas/events/<type>/v<version>.json`` (generated, guarded by the compatibility gate).
SCHEMA_URI = "https://laotie.dev/schemas/events/{type}/v{version}.json"
SCHEMA_PATH = "schemas/events/{type}/v{version}.json"


class Event(BaseModel):
    """Data of one CloudEvent. Subclasses are registered with :func:`event`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ce_type: ClassVar[str]
    topic: ClassVar[str]
    key_field: ClassVar[str]
    version: ClassVar[int] = 1
    deprecated: ClassVar[str | None] = None  # ISO date after which the type is no longer sent

    def key(self) -> str:
        """The Kafka record key: the aggregate id, so per-aggregate order holds."""
        return str(getattr(self, self.key_field))

    @classmethod
    def dataschema(cls) -> str:
        return SCHEMA_URI.format(type=cls.ce_type, version=cls.version)


E = TypeVar("E", bound=type[Event])

CATALOGUE: dict[str, type[Event]] = {}


def event(
    ce_type: str, *, topic: str, key: str, version: int = 1, deprecated: str | None = None
) -> Callable[[E], E]:
    """Register an event model under its CloudEvents type. ``deprecated``: the ISO date from
    which it is no longer sent (shown in the catalogue); a deprecated *field* is declared with
    ``Field(deprecated="... until 2027-06-30")`` and shows in its JSON Schema."""

    def register(cls: E) -> E:
        if key not in cls.__pydantic_fields__:
            raise ValueError(f"{cls.__name__}: key field {key!r} is not a field")
        existing = CATALOGUE.get(ce_type)
        if existing is not None and existing is not cls:
            raise ValueError(f"event type {ce_type!r} registered twice")
        cls.ce_type = ce_type
        cls.topic = topic
        cls.key_field = key
        cls.version = version
        cls.deprecated = deprecated
        CATALOGUE[ce_type] = cls
        return cls

    return register


def registry_problems() -> list[str]:
    """Contract events whose topic or type name break the registry's rules (unit-tested)."""
    names = {t.name for t in TOPICS}
    problems = []
    for ce_type, cls in CATALOGUE.items():
        if not cls.__module__.startswith("laotie_contracts"):
            continue
        if cls.topic not in names:
            problems.append(f"{ce_type}: topic {cls.topic!r} is not in the registry")
        if not ce_type.startswith(cls.topic.split(".v")[0] + "."):
            problems.append(f"{ce_type}: a type must start with its topic name {cls.topic!r}")
    return problems


def model_for(ce_type: str) -> type[Event] | None:
    return CATALOGUE.get(ce_type)
