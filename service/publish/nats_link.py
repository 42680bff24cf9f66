"""The process's NATS connection: connects in the background with a bounded timeout per attempt (a server that
is down must not hang start-up for minutes) and, once connected, reconnects for ever.

It may name several servers (a cluster: nats-py fails over between them), carry credentials and TLS
(``projections.nats_connect.NatsConnection``), and says why it is not connected (``state``/``reason``: an
authorization violation or an untrusted certificate is not retried in silence but logged and shown in
``/health/ready``). The URL it shows is always redacted: a password or token in ``TELEPHONY_NATS_URL`` never reaches a
log line. ``replicas`` is what the relay asks of the stream and the bucket it creates (``relay.ensure_stream``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats
from nats.aio.client import Client

from projections.nats_connect import NatsConnection, telling_reason

log = logging.getLogger("telephony_settings.nats")

CONNECT_ATTEMPT_TIMEOUT = 3.0


class NatsLink:
    def __init__(
        self,
        url: str | NatsConnection,
        name: str = "telephony-settings",
        replicas: int = 1,
    ) -> None:
        self.connection = url if isinstance(url, NatsConnection) else NatsConnection.of(url)
        self.url = self.connection.shown
        """The server(s), redacted: safe to show."""
        self.name = name
        self.replicas = replicas
        self.client: Client | None = None
        self.reason: str | None = None
        """Why the link is not connected (the last connection error), ``None`` while connected."""
        self.stream_warnings: list[str] = []
        """Settings of the existing stream or bucket that differ from those asked (``relay.ensure_stream``)."""
        self._task: asyncio.Task[None] | None = None
        self._attempt_error: Exception | None = None
        self._closing = False

    @property
    def is_connected(self) -> bool:
        return self.client is not None and self.client.is_connected

    @property
    def state(self) -> str:
        """``connected``, ``connecting`` (not yet, no error known) or ``down``."""
        if self.is_connected:
            return "connected"
        return "down" if self.reason else "connecting"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._connect_until_done(), name="nats-connect")

    async def _connect_until_done(self) -> None:
        delay = 0.1
        while not self._closing:  # a flag too: nats-py can swallow the CancelledError meant for this task
            self._attempt_error = None
            try:
                self.client = await asyncio.wait_for(self._connect(), timeout=CONNECT_ATTEMPT_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The attempt's own error (authorization, TLS) says more than the timeout that ended it.
                self._note(self._attempt_error or exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            self.reason = None
            log.info("connected to NATS at %s", self.url)
            return

    def _note(self, exc: BaseException) -> None:
        """Keep why the link is not connected; log it when the reason is new (not at every retry)."""
        reason = telling_reason(self.reason, exc, self.connection.secrets)
        if reason != self.reason:
            log.warning("NATS at %s not reachable: %s; retrying", self.url, reason)
        else:
            log.debug("NATS at %s still not reachable: %s", self.url, reason)
        self.reason = reason

    async def _connect(self) -> Client:
        async def on_error(exc: Exception) -> None:
            self._attempt_error = exc
            if not self.is_connected:  # also during the first attempt: the log and /health/ready say why at once
                self._note(exc)
            log.debug("NATS error: %s", type(exc).__name__)

        async def on_disconnected() -> None:
            if not self._closing:
                log.warning("NATS disconnected from %s; reconnecting", self.url)

        async def on_reconnected() -> None:
            self.reason = None
            log.info("NATS reconnected")

        async def on_closed() -> None:
            log.info("NATS connection closed")

        return await nats.connect(
            **self.connection.connect_options(),  # type: ignore[arg-type]
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
