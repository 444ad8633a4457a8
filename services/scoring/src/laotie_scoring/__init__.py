"""Laotie `scoring` service.

Product, shop experience and creator reputation scores (docs/design.md §4.4).
"""
