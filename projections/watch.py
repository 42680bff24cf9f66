"""A call router's live view of the routes: a ``RoutingTable`` kept current from the ``telephony_settings`` KV bucket.

The only module of ``projections`` that does I/O (it is for routers; the service never imports it). It connects with
a bounded timeout and reconnects for ever; after every reconnect it starts a fresh watch and swaps in a complete
snapshot, because KV watchers stop receiving updates after a server restart (nats.py issue #510) and because keys
deleted during an outage would otherwise linger.

``servers`` may be a function that says where the servers are now (e.g. reads the embedded server's URL file): while
the connection is lost it is asked again, and a new answer replaces the connection. ``on_connection`` hears
``"disconnected"`` and ``"connected"`` (after a loss), so a router can say that its view may be stale, with the
servers redacted (a password or token in the URL is shown as ``***``).

It takes the service's own connection options (``projections.nats_connect``): several servers (a list, or one string
comma-separated: a cluster), a credentials file (``creds``), a CA file (``ca``) and a client certificate
(``cert``/``key``); a user/password or token in the URL. ``RouteWatcher.from_connection`` takes them as one
``NatsConnection``.

    watcher = RouteWatcher("nats://127.0.0.1:4222")
    await watcher.start()                      # returns once the initial routes are loaded
    route = watcher.table.lookup("+1 (555) 123-4567")
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KV_DEL, KV_PURGE

from events import wire
from projections.nats_connect import NatsConnection, redact, secrets_of, telling_reason
from projections.routing import RoutingTable

log = logging.getLogger("telephony_settings.watch")

Change = Callable[[str, "wire.Route | wire.PublicProviderConfig | None"], None]
Servers = str | list[str]
ADDRESS_CHECK_INTERVAL = 0.5
"""Seconds between asks of a ``servers`` function while the connection is lost."""


class RouteWatcher:
    def __init__(
        self,
        servers: Servers | Callable[[], Servers],
        on_change: Change | None = None,
        on_connection: Callable[[str, Servers], None] | None = None,
        *,
        creds: str | Path | None = None,
        ca: str | Path | None = None,
        cert: str | Path | None = None,
        key: str | Path | None = None,
    ) -> None:
        self.servers = servers
        self.files = {"creds": creds, "ca": ca, "cert": cert, "key": key}
        if not callable(servers):
            NatsConnection.of(servers, **self.files)  # fail now on a missing file, not in the background
        self.table = RoutingTable()
        self.on_change = on_change
        self.on_connection = on_connection
        self.connected = asyncio.Event()
        self.ready = asyncio.Event()
        """Set once the first complete snapshot has been loaded."""
        self.snapshots = 0
        """How many complete snapshots have been loaded (one per (re)connect)."""
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._restart = asyncio.Event()
        self._attempt_error: Exception | None = None
        self._reason: str | None = None
        self._stopping = False

    async def start(self, timeout: float = 30.0) -> RouteWatcher:
        """Connect and load the current routes; raises ``TimeoutError`` if that takes longer than ``timeout``."""
        self._task = asyncio.create_task(self._run(), name="route-watcher")
        await asyncio.wait_for(self.ready.wait(), timeout=timeout)
        return self

    async def stop(self) -> None:
        self._stopping = True  # a flag too: nats-py can swallow the CancelledError meant for the task
        self._restart.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError, Exception):
                await asyncio.wait_for(self._task, timeout=10)
        if self._client is not None and not self._client.is_closed:
            # close() also ends a reconnect loop, whose task would otherwise outlive the event loop's shutdown
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._client.close(), timeout=5)

    @classmethod
    def from_connection(
        cls,
        connection: NatsConnection,
        on_change: Change | None = None,
        on_connection: Callable[[str, Servers], None] | None = None,
    ) -> RouteWatcher:
        return cls(
            list(connection.servers),
            on_change,
            on_connection,
            creds=connection.creds,
            ca=connection.ca,
            cert=connection.cert,
            key=connection.key,
        )

    async def __aenter__(self) -> RouteWatcher:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _where(self) -> Servers:
        return self.servers() if callable(self.servers) else self.servers

    async def _run(self) -> None:
        while not self._stopping:
            servers = self._where()
            try:
                self._client = await asyncio.wait_for(self._connect(servers), timeout=5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._note(servers, self._attempt_error or exc)  # the attempt's own error says more
                await asyncio.sleep(0.5)
                continue
            if self.snapshots and self.on_connection is not None:  # connected again, at a new address
                self.on_connection("connected", redact(_as_list(servers)))
            await self._follow(self._client, servers)
            client, self._client = self._client, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), timeout=5)

    async def _follow(self, client: Client, servers: Servers) -> None:
        """Watch on ``client`` (anew after each reconnect) until stopped or the servers have moved."""
        while not self._stopping:
            self._restart.clear()
            watching = asyncio.create_task(self._watch(client))
            restart = asyncio.create_task(self._restart.wait())
            moved = asyncio.create_task(self._moved_away_from(servers))
            try:
                await asyncio.wait({watching, restart, moved}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (watching, restart, moved):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            if moved.done() and not moved.cancelled() and moved.exception() is None:
                return
            if not watching.cancelled() and watching.done() and watching.exception() is not None:
                log.warning("route watch ended (%s); restarting", type(watching.exception()).__name__)
                await asyncio.sleep(0.5)

    async def _moved_away_from(self, servers: Servers) -> None:
        """Returns when the connection is lost and ``servers`` (a function) now names other servers."""
        if not callable(self.servers):
            await asyncio.Event().wait()  # a fixed address never moves: nats-py reconnects to it for ever
        while True:
            await asyncio.sleep(ADDRESS_CHECK_INTERVAL)
            if not self.connected.is_set():
                try:
                    now = self._where()
                except Exception as exc:  # e.g. the URL file is being rewritten: ask again next time
                    log.debug("where the servers are is unknown for now (%s)", type(exc).__name__)
                    continue
                if now != servers:
                    return

    def _note(self, servers: Servers, exc: BaseException) -> None:
        """Log why NATS is not reachable when the reason is new (not at every retry); secrets never shown."""
        urls = _as_list(servers)
        reason = telling_reason(self._reason, exc, secrets_of(urls))
        if reason != self._reason:
            log.warning("NATS at %s not reachable: %s; retrying", redact(urls), reason)
            self._reason = reason

    async def _connect(self, servers: Servers) -> Client:
        async def disconnected() -> None:
            if self.connected.is_set():
                self.connected.clear()
                if self.on_connection is not None:
                    self.on_connection("disconnected", redact(_as_list(servers)))

        async def reconnected() -> None:
            self.connected.set()
            if self.on_connection is not None:
                self.on_connection("connected", redact(_as_list(servers)))
            self._restart.set()

        async def quiet(exc: Exception) -> None:
            self._attempt_error = exc
            if not self.connected.is_set():  # say why at once (authorization, TLS), not after the attempt's timeout
                self._note(servers, exc)

        self._attempt_error = None
        connection = NatsConnection.of(_as_list(servers), **self.files)
        client = await nats.connect(
            **connection.connect_options(),  # type: ignore[arg-type]
            connect_timeout=2,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            error_cb=quiet,
        )
        self.connected.set()
        self._reason = None
        return client

    async def _watch(self, client: Client) -> None:
        js = client.jetstream()
        while True:
            try:
                bucket = await js.key_value(wire.KV_BUCKET)
                break
            except BucketNotFoundError:
                await asyncio.sleep(0.5)  # the service has not created it yet
        watcher = await bucket.watchall()
        snapshot = RoutingTable()
        initial = True
        async for entry in watcher:
            if entry is None:  # end of the current values: swap in the complete snapshot
                if initial:
                    self._swap(snapshot)
                    initial = False
                continue
            value = None if entry.operation in (KV_DEL, KV_PURGE) else entry.value
            target = snapshot if initial else self.table
            new = target.apply_kv(entry.key, value)
            if not initial and self.on_change is not None:
                self.on_change(entry.key, new)
        raise ConnectionError("watcher stopped")

    def _swap(self, snapshot: RoutingTable) -> None:
        old = self.table
        self.table = snapshot
        self.snapshots += 1
        self.ready.set()
        if self.on_change is not None:
            for e164 in old.routes.keys() - snapshot.routes.keys():
                self.on_change(wire.route_key(e164), None)
            for e164, route in snapshot.routes.items():
                if old.routes.get(e164) != route:
                    self.on_change(wire.route_key(e164), route)
            if old.provider != snapshot.provider:
                self.on_change(wire.KV_PROVIDER_KEY, snapshot.provider)


def _as_list(servers: Servers) -> list[str]:
    """One URL, several comma-separated, or a list: the list nats-py takes."""
    if isinstance(servers, str):
        return [part.strip() for part in servers.split(",") if part.strip()]
    return list(servers)
