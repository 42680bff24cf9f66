"""The HTTP server's protocol: uvicorn's httptools protocol with a deadline for request headers.

uvicorn closes a connection that idles between requests (``timeout_keep_alive``) but has no deadline for a request
whose headers arrive slowly, nor for a connection that never sends a byte: a few hundred such connections (the
"slowloris" pattern) are held open for ever. This protocol gives every request ``header_timeout`` seconds from its
connection (or, on a kept-alive connection, from its first byte) to the end of its headers, then answers 408 and
closes. The deadline for the body is kept by the request context layer (``service.http.context``), which can still
answer through the application.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.http.stream import shutting_down

TIMEOUT_BODY = b'{"detail":"the request headers did not arrive in time"}'
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(TIMEOUT_BODY)).encode() + b"\r\n\r\n" + TIMEOUT_BODY
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` whose requests must have sent their headers within ``header_timeout`` seconds."""

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is held no longer than a slow one

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_late)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_late(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.write(TIMEOUT_RESPONSE)
            self.transport.close()


def protocol(header_timeout: float) -> Any:
    """The protocol class to give ``uvicorn.run(http=...)``."""
    return partial(HeaderDeadlineProtocol, header_timeout=header_timeout)


class Server(uvicorn.Server):
    """uvicorn's server, which also tells the live streams (``service.http.stream``) that it is stopping: uvicorn
    waits for every open response before it stops, and a stream would never end by itself."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        shutting_down.set()
        super().handle_exit(sig, frame)
