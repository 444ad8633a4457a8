"""Laotie `live` service.

Live rooms, sessions, pinned products, viewers, comments and real-time room stats
(docs/design.md §4.2).
"""
