"""Laotie `orders` service.

Shops, products, stock that never oversells, the order lifecycle and after-sales
(docs/design.md §4.1).
"""
