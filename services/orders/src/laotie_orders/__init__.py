"""Laotie `orders` service.

Shops, products, stock that never oversells, the order lifecycle and after-sales (DESIGN.md 2.1).
"""
