"""The process's NATS connection: connects in the background with a bounded timeout per attempt (a server that
is down must not hang start-up for minutes) and, once connected, reconnects for ever."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats
from nats.aio.client import Client

log = logging.getLogger("telephony_settings.nats")

CONNECT_ATTEMPT_TIMEOUT = 3.0


class NatsLink:
    def __init__(self, url: str, name: str = "telephony-settings") -> None:
        self.url = url
        self.name = name
        self.client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def is_connected(self) -> bool:
        return self.client is not None and self.client.is_connected

    async def start(self) -> None:
        self._task = asyncio.create_task(self._connect_until_done(), name="nats-connect")

    async def _connect_until_done(self) -> None:
        delay = 0.1
        while not self._closing:  # a flag too: nats-py can swallow the CancelledError meant for this task
            try:
                self.client = await asyncio.wait_for(self._connect(), timeout=CONNECT_ATTEMPT_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("NATS at %s not reachable (%s); retrying", self.url, type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            log.info("connected to NATS at %s", self.url)
            return

    async def _connect(self) -> Client:
        async def on_error(exc: Exception) -> None:
            log.debug("NATS error: %s", type(exc).__name__)

        async def on_disconnected() -> None:
            if not self._closing:
                log.warning("NATS disconnected; reconnecting")

        async def on_reconnected() -> None:
            log.info("NATS reconnected")

        async def on_closed() -> None:
            log.info("NATS connection closed")

        return await nats.connect(
            self.url,
            name=self.name,
            connect_timeout=2,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            closed_cb=on_closed,
        )

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError, Exception):
                await asyncio.wait_for(self._task, timeout=CONNECT_ATTEMPT_TIMEOUT + 1)
        await close_client(self.client)


async def close_client(client: Client | None) -> None:
    """Drain if connected, then close for certain: a client left reconnecting keeps a task that ignores
    cancellation, which would hang the event loop's shutdown."""
    if client is None or client.is_closed:
        return
    if client.is_connected:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.drain(), timeout=5)
    if not client.is_closed:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close(), timeout=5)
