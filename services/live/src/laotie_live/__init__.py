"""Laotie `live` service.

Live rooms, sessions, pinned products, viewers, comments and real-time room stats (DESIGN.md 2.2).
"""
