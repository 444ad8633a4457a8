"""Laotie `chuanliu` service.

The Chuanliu traffic bridge: affinity, grants, attribution, uplift, rewards (DESIGN.md 2.5).
"""
