"""Laotie `moderation` service.

The Thunder Plan: violations, penalties, points, appeals and reports (DESIGN.md 2.3).
"""
