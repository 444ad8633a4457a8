"""Laotie `chuanliu` service.

The Chuanliu traffic bridge: affinity, grants, attribution, uplift, rewards (docs/design.md §4.5).
"""
