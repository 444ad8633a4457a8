"""The HTTP server's protocol: uvicorn's httptools protocol with read deadlines.

uvicorn bounds only the idle time between two requests on a kept-alive connection: a
connection that never sends a byte, or sends a request head a byte at a time (slow-loris),
holds its socket and file descriptor for as long as the client likes. Here every connection
must deliver each request head within ``timeout_s`` of its start (of the connection, or of
the request's first byte), and a body must keep arriving at least every ``timeout_s``;
otherwise the connection is closed and counted (``laotie_http_shed_total{reason=
"slow_client"}``). Once a request is whole, the deadline is off while the app answers it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from laotie_common import metrics


class DeadlineProtocol(HttpToolsProtocol):
    timeout_s: float = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            metrics.HTTP_SHED.labels("slow_client").inc()
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # the first request head is due

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._arm()  # a kept-alive connection's next request head is due

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm()  # the body (if any) must keep coming

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()


def protocol(timeout_s: float) -> type[Any]:
    """The protocol class for ``uvicorn.run(http=...)`` with this read deadline."""
    return type("DeadlineProtocol", (DeadlineProtocol,), {"timeout_s": timeout_s})
