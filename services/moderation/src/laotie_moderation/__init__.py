"""Laotie `moderation` service.

The Thunder Plan: violations, penalties, points, appeals and reports (docs/design.md §4.3).
"""
