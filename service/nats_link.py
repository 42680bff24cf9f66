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
        self._connected = asyncio.Event()

    @property
    def is_connected(self) -> bool:
        return self.client is not None and self.client.is_connected

    async def start(self) -> None:
        self._task = asyncio.create_task(self._connect_until_done(), name="nats-connect")

    async def wait_connected(self) -> Client:
        await self._connected.wait()
        assert self.client is not None
        while not self.client.is_connected:
            await asyncio.sleep(0.05)
        return self.client

    async def _connect_until_done(self) -> None:
        delay = 0.1
        while True:
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
            self._connected.set()
            return

    async def _connect(self) -> Client:
        async def on_error(exc: Exception) -> None:
            log.debug("NATS error: %s", type(exc).__name__)

        async def on_disconnected() -> None:
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
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.client is not None and not self.client.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.drain(), timeout=5)
