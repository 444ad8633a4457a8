"""The orders use cases, by area: ``catalogue`` (shops, products, SKUs, stock), ``orders``
(placing — the flash-sale group included — paying, shipping, completing), ``after_sales``
(refunds, returns, reviews) and ``enforcement`` (moderation's penalties on shops and
products). Each runs in the caller's unit of work (:class:`Tx`), locks what it changes, asks
the domain whether the move is legal, writes the new state and the events it owes to the
outbox. Nothing here commits; nothing here publishes."""

from laotie_orders.usecases.unit import SOURCE, Tx

__all__ = ["SOURCE", "Tx"]
