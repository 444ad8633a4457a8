"""Reading a Prometheus text exposition (a ``/metrics`` page), for tests and tools: one
parser, prometheus_client's own."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Sample = tuple[dict[str, str], float]


def samples(text: str, name: str, **labels: str) -> list[Sample]:
    """Every sample named exactly ``name`` (e.g. ``laotie_x_total``, ``laotie_y_bucket``)
    whose labels include ``labels``, as (labels, value)."""
    return [
        (dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]


def total(text: str, name: str, **labels: str) -> float:
    """The sum of ``samples(text, name, **labels)``: 0 when there is none."""
    return sum(value for _, value in samples(text, name, **labels))
