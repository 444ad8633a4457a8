"""Laotie's event contracts: event models and the topic registry."""

from laotie_contracts import audit, chuanliu, live, moderation, orders, scoring
from laotie_contracts.events import CATALOGUE, Event, event, model_for
from laotie_contracts.topics import TOPICS, TopicSpec, all_topics, dead_letter_topic, topic

__all__ = [
    "CATALOGUE",
    "TOPICS",
    "Event",
    "TopicSpec",
    "all_topics",
    "audit",
    "chuanliu",
    "dead_letter_topic",
    "event",
    "live",
    "model_for",
    "moderation",
    "orders",
    "scoring",
    "topic",
]
