"""Laotie `scoring` service.

Product, shop experience and creator reputation scores (DESIGN.md 2.4).
"""
