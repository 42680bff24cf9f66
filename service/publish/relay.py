"""The relay: publishes every stored event, in log order, to JetStream, and keeps the KV bucket of routes.

The store is the outbox. The relay never keeps its own position file: its position is the ``Telephony-Position``
header of the last message in the stream, so it is exactly as durable as what was published. After any crash it
resumes right after that message; if the stream is found empty or missing while the store has events (NATS lost its
data), the whole history is published again and the KV bucket rebuilt. KV changes for an event are written before
its stream message, and are idempotent, so a crash between the two repeats nothing wrongly. Every message carries
``Nats-Msg-Id = <aggregate id>:<version>``: a retried publish is dropped by JetStream as a duplicate.

The events of one read of the log (up to ``BATCH_SIZE``) are delivered together, without a round trip each: the KV
entries they change (each key's final value) are written concurrently, then their stream messages are sent one after
another without waiting, and the acks awaited after. Each message carries ``Nats-Expected-Last-Sequence``, the
sequence the stream had before it (the first) or the message id of the message before it (``Nats-Expected-Last-Msg-
Id``, the others), so JetStream stores one only if every message before it is stored: after a failure (NATS away, a
timeout, a message someone else put in the stream) the stream holds a prefix of the batch, never a message after a
gap, and the relay sends the rest again after the last message it finds there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from eventsourcing.persistence import Notification
from nats.aio.client import Client
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from nats.js.errors import APIError, BucketNotFoundError, KeyNotFoundError, NoStreamResponseError, NotFoundError
from nats.js.kv import KeyValue

from events import wire
from projections import SettingsView
from projections.settings import CONSUMED_EVENTS
from service.publish.lease import RelayLease
from service.publish.nats_link import NatsLink
from service.publish.publication import Publication, advance, all_routes, public_provider
from service.read.read_model import fold_until
from service.write.application import SettingsApplication
from service.write.log import LogDecoder, batches, public_after

log = logging.getLogger("telephony_settings.relay")

BATCH_SIZE = 500
PUBLISH_TIMEOUT = 2.0  # an ack takes well under a millisecond; longer means NATS is away
DUPLICATE_WINDOW = 120.0  # seconds
LEASE_RETRY = 1.0  # seconds between attempts of a standby replica to take over the relay
COALESCE = 0.001  # seconds the relay waits after a wake-up before it reads the log
EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"
EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"
CHECK_INTERVAL = 1.0  # seconds between checks of the lease and of the stream while publishing


class ResyncNeeded(Exception):
    """The stream or bucket is gone or was reset: derive the position from the stream again."""


def stream_config(replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=wire.STREAM,
        subjects=[wire.STREAM_SUBJECTS],
        duplicate_window=DUPLICATE_WINDOW,
        storage=StorageType.FILE,
        num_replicas=replicas,
    )


def _report(warnings: list[str] | None, message: str) -> None:
    """Log a difference between what exists and what was asked, once per process (the relay ensures the stream again
    after every resynchronisation), and keep it for ``/health/ready``."""
    if warnings is not None and message in warnings:
        return
    log.warning("%s", message)
    if warnings is not None:
        warnings.append(message)


def _compare(kind: str, name: str, config: StreamConfig, replicas: int, warnings: list[str] | None) -> None:
    """Report (never change) the settings of an existing stream that only a recreation or an operator may change:
    recreating it would lose the history that routers replay."""
    found = config.num_replicas or 1
    if found != replicas:
        _report(
            warnings,
            f"NATS {kind} {name} exists with replicas={found}, TELEPHONY_NATS_REPLICAS asks for {replicas}: left as it "
            f"is (the service never recreates it, which would lose its history); to change it, run "
            f"`nats stream edit {name} --replicas {replicas}` (the cluster needs at least {replicas} JetStream "
            f"servers), or set TELEPHONY_NATS_REPLICAS={found}",
        )
    if config.storage is not None and config.storage != StorageType.FILE:
        _report(
            warnings,
            f"NATS {kind} {name} exists with storage={config.storage.value}, the service creates it with storage=file: "
            f"its content is lost when the server restarts (then the relay publishes the whole history again); to "
            f"change it, back it up and recreate it (`nats stream backup`, `nats stream rm`) while the service is "
            f"stopped",
        )


async def ensure_stream(js: JetStreamContext, replicas: int = 1, warnings: list[str] | None = None) -> bool:
    """Create the stream (with ``replicas``), or bring an existing one to our subjects and duplicate window (an
    update in place); other differences (replicas, storage) are reported in ``warnings`` and the log, never
    applied. True if created."""
    wanted = stream_config(replicas)
    try:
        info = await js.stream_info(wire.STREAM)
    except NotFoundError:
        await js.add_stream(wanted)
        return True
    if info.config.subjects != wanted.subjects or info.config.duplicate_window != wanted.duplicate_window:
        await js.update_stream(
            StreamConfig(
                **{**info.config.as_dict(), "subjects": wanted.subjects, "duplicate_window": wanted.duplicate_window}
            )  # type: ignore[arg-type]
        )
    _compare("stream", wire.STREAM, info.config, replicas, warnings)
    return False


async def ensure_bucket(
    js: JetStreamContext, replicas: int = 1, warnings: list[str] | None = None
) -> tuple[KeyValue, bool]:
    """The routes bucket, and whether it had to be created (with ``replicas``); an existing bucket's other replica
    count or storage is reported, never changed."""
    try:
        bucket = await js.key_value(wire.KV_BUCKET)
    except BucketNotFoundError:
        bucket = await js.create_key_value(
            KeyValueConfig(
                bucket=wire.KV_BUCKET,
                history=1,
                storage=StorageType.FILE,
                replicas=replicas,
                description="telephony-settings: current route per phone number, provider config",
            )
        )
        return bucket, True
    status = await bucket.status()
    _compare("KV bucket", f"KV_{wire.KV_BUCKET}", status.stream_info.config, replicas, warnings)
    return bucket, False


FOREIGN_LOOKBACK = 100
"""Messages without a position (not a relay's: someone else published on the stream's subjects) skipped at most,
from the end of the stream, to find the last one a relay published."""


async def published_position(js: JetStreamContext) -> tuple[int, int, str | None]:
    """(store position of the last message a relay published, the stream's last sequence, that message's id);
    (0, last sequence, None) when the stream holds none."""
    info = await js.stream_info(wire.STREAM)
    last_seq = info.state.last_seq
    if info.state.messages == 0:
        return 0, 0, None
    seq = last_seq
    while seq >= max(info.state.first_seq, last_seq - FOREIGN_LOOKBACK):
        try:
            message = await js.get_msg(wire.STREAM, seq=seq)
        except NotFoundError:  # a deleted message
            seq -= 1
            continue
        headers = message.headers or {}
        if wire.HEADER_POSITION in headers:
            return int(headers[wire.HEADER_POSITION]), last_seq, headers.get(wire.HEADER_MSG_ID)
        seq -= 1
    return 0, last_seq, None


class Relay:
    def __init__(
        self,
        app: SettingsApplication,
        link: NatsLink,
        poll_interval: float = 1.0,
        lease: RelayLease | None = None,
        inline_reads: bool = False,
        start_view: Callable[[], SettingsView | None] | None = None,
    ) -> None:
        self._app = app
        self._decoder = LogDecoder(app, CONSUMED_EVENTS)
        self._link = link
        self._lease = lease
        self.active = lease is None
        """Whether this process holds the relay lease (only one process per store publishes)."""
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.position = 0
        """Store position up to which everything has been published."""
        self.published = 0
        """Messages published by this relay since start (duplicates dropped by JetStream not counted)."""
        self._last_seq = 0
        self._next_check = 0.0
        self._inline_reads = inline_reads
        """Read the log in the loop's own thread: for a relay on a loop of its own (``service.app``), where a short
        blocking read holds up nothing else and a hop to a worker thread per commit is pure cost."""
        self._stopping = False
        self._start_view = start_view
        """The newest read-model snapshot's view, to fold from instead of the empty one, if there is one."""

    def stop(self) -> None:
        """Ask the relay to finish the publication in hand and return from ``run()``.

        Preferred to ``Task.cancel()``: nats-py swallows ``CancelledError`` in some of its flush paths, so a
        cancellation can be lost; this flag cannot.
        """
        self._stopping = True
        self.wake()

    def wake(self) -> None:
        """Called from any thread after a save: publish now instead of at the next poll."""
        with contextlib.suppress(RuntimeError):  # loop closed during shutdown
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        delay = 0.1
        try:
            while not self._stopping:
                if not await self._hold_lease():
                    break
                try:
                    await self._run_once()
                except asyncio.CancelledError:
                    raise
                except ResyncNeeded as exc:
                    if self._stopping:
                        break
                    log.warning("relay resynchronising: %s", exc)
                    delay = 0.1
                except Exception as exc:
                    if self._stopping:
                        break
                    log.warning("relay interrupted (%s: %s); resuming", type(exc).__name__, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
        finally:
            if self._lease is not None:
                await asyncio.to_thread(self._lease.release)
                self.active = False
        log.info("relay stopped at position %d", self.position)

    async def _hold_lease(self) -> bool:
        """Wait until this process may publish (another replica may hold the lease); False when stopping."""
        if self._lease is None:
            return not self._stopping
        announced = False
        while not self._stopping:
            if await asyncio.to_thread(self._lease.still_held) or await asyncio.to_thread(self._lease.try_acquire):
                if not self.active:
                    log.info("relay lease acquired: this process publishes")
                self.active = True
                return True
            self.active = False
            if not announced:
                log.info("relay on standby: another process holds the relay lease")
                announced = True
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=LEASE_RETRY)
            self._wake.clear()
        return False

    async def _run_once(self) -> None:
        client = await self._until_connected()
        js = client.jetstream(timeout=PUBLISH_TIMEOUT)
        stream_created = await ensure_stream(js, self._link.replicas, self._link.stream_warnings)
        bucket, bucket_created = await ensure_bucket(js, self._link.replicas, self._link.stream_warnings)
        position, self._last_seq, last_id = await published_position(js)
        head = await asyncio.to_thread(self._app.recorder.max_notification_id) or 0
        if position > head:
            log.warning(
                "stream is ahead of the store (position %d > %d): publishing the store from its start", position, head
            )
            position = 0
        elif position and not await asyncio.to_thread(self._stored_at, position, last_id):
            # A stream written from another store (a new data dir or database on the same NATS): its positions say
            # nothing about this store, whose events would otherwise be skipped up to there.
            log.warning(
                "the stream's last message (%s at position %d) is not this store's event there: publishing the store "
                "from its start",
                last_id,
                position,
            )
            position = 0
        view, position = await asyncio.to_thread(self._view_at, position)
        self.position = position
        stale_keys: set[str] | None = None
        if position == 0:
            stale_keys = set(await _keys(bucket))
            await bucket.put(wire.KV_PROVIDER_KEY, wire.encode(public_provider(view.provider.config)))
            if head:
                # A new stream is a first start (or a new NATS); an existing empty one means NATS lost messages.
                level = logging.INFO if stream_created else logging.WARNING
                log.log(level, "stream %s is empty: publishing the whole history (%d events)", wire.STREAM, head)
        elif bucket_created:
            await self._put_everything(bucket, view)
        log.info("relay publishing from position %d", position)
        while not self._stopping:
            notifications = self._next_batch() if self._inline_reads else await asyncio.to_thread(self._next_batch)
            pending: list[tuple[int, Publication]] = []
            for notification in notifications:
                if not self._decoder.reads(notification):  # internal (phone-number claims): nothing to publish
                    view.position = notification.id
                    continue
                event = self._decoder.to_domain_event(notification)
                publication = advance(view, event, notification.id)
                if publication is not None:
                    pending.append((notification.id, publication))
            if self._stopping:
                return
            if pending:
                await self._deliver(js, bucket, pending)
            if notifications:
                self.position = notifications[-1].id
            if len(notifications) == BATCH_SIZE:
                continue  # more may be waiting
            # Caught up as of that read: anything committed since has woken us (``wake``), so ``_idle`` returns at
            # once for it; no second, empty read per wake-up.
            if stale_keys is not None:
                await self._delete_stale(bucket, view, stale_keys)
                stale_keys = None
            await self._idle(js)

    def _stored_at(self, position: int, message_id: str | None) -> bool:
        """Whether this store's event at ``position`` is the one published as ``message_id`` (``<id>:<version>``)."""
        found = self._app.recorder.select_notifications(start=position, limit=1)
        return (
            bool(found)
            and found[0].id == position
            and message_id == (f"{found[0].originator_id}:{found[0].originator_version}")
        )

    def _view_at(self, position: int) -> tuple[SettingsView, int]:
        """The settings as of ``position`` and where to publish from: folded from a read-model snapshot when there
        is one at or before ``position``, or after it with nothing to publish in between (then from there)."""
        start = self._start_view() if self._start_view is not None and position else None
        if start is not None and start.position > position:
            if public_after(self._app.recorder, position, upto=start.position):
                start = None  # the relay is behind the snapshot: those changes are still to publish
            else:
                position = start.position
        return fold_until(self._app, position, self._decoder, start), position

    def _next_batch(self) -> Sequence[Notification]:
        return next(batches(self._app.recorder, self.position, size=BATCH_SIZE), ())

    async def _deliver(self, js: JetStreamContext, bucket: KeyValue, pending: list[tuple[int, Publication]]) -> None:
        """KV first (idempotent), then the stream messages in order (see the module docstring); after a failure,
        again from the stream's last message, until every message is acknowledged."""
        delay = 0.05
        while pending:
            try:
                await self._write_kv(bucket, [publication for _, publication in pending])
                await self._publish_in_order(js, [publication for _, publication in pending])
                return
            except (NoStreamResponseError, BucketNotFoundError, NotFoundError) as exc:
                raise ResyncNeeded(f"stream or bucket missing ({type(exc).__name__})") from exc
            except (TimeoutError, NatsTimeoutError, NoRespondersError, ConnectionClosedError, OSError, APIError) as exc:
                log.info("publish pending (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                await self._until_connected()
                try:  # what the stream holds now: the batch's messages up to there need no second publish
                    position, self._last_seq, _ = await published_position(js)
                except (TimeoutError, NatsTimeoutError, NoRespondersError, ConnectionClosedError, OSError):
                    continue
                pending = [(at, publication) for at, publication in pending if at > position]

    @staticmethod
    async def _write_kv(bucket: KeyValue, publications: list[Publication]) -> None:
        """Each key's value after the last of ``publications``, written concurrently (one key, one write)."""
        final: dict[str, bytes | None] = {}
        for publication in publications:
            final.update(publication.kv_put)
            final.update(dict.fromkeys(publication.kv_delete))
        results = await asyncio.gather(
            *(bucket.put(key, value) if value is not None else _delete(bucket, key) for key, value in final.items()),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _publish_in_order(self, js: JetStreamContext, publications: list[Publication]) -> None:
        """Send every message without waiting, each expecting the sequence of the one before, then take the acks."""
        if not self._last_seq:  # an empty stream (its last sequence unknown, e.g. purged): learn it from the first
            first, publications = publications[0], publications[1:]
            ack = await js.publish(first.subject, first.body, headers=first.headers, timeout=PUBLISH_TIMEOUT)
            self.published += not ack.duplicate
            self._last_seq = ack.seq
        acks = []
        expectation = {EXPECTED_LAST_SEQUENCE: str(self._last_seq)}
        for publication in publications:
            headers = {**publication.headers, **expectation}
            acks.append(await js.publish_async(publication.subject, publication.body, headers=headers))
            expectation = {EXPECTED_LAST_MSG_ID: publication.headers[wire.HEADER_MSG_ID]}
        try:
            for future in acks:
                ack = await asyncio.wait_for(future, PUBLISH_TIMEOUT)
                if not ack.duplicate:
                    self.published += 1
                self._last_seq = max(self._last_seq, ack.seq)
        finally:
            for future in acks:
                future.cancel()  # those not answered: their fate is read from the stream

    async def _until_connected(self) -> Client:
        """The connected client; returns early (raising ``ResyncNeeded``) when asked to stop."""
        while not (self._link.client is not None and self._link.client.is_connected):
            if self._stopping:
                raise ResyncNeeded("stopping")
            await asyncio.sleep(0.05)
        return self._link.client

    async def _idle(self, js: JetStreamContext) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
        # Let the request that committed be answered first, and the commits of the next moment join this round:
        # publishing shares the GIL with the request path.
        await asyncio.sleep(COALESCE)
        self._wake.clear()
        if self._stopping:
            return
        # The lease and the stream are checked at most once per CHECK_INTERVAL, not at every wake-up (every commit
        # under load: a database query and a NATS round trip each time). A lease lost or a stream purged is noticed
        # within that interval; meanwhile a second publisher's messages are duplicates JetStream drops (same msg id).
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + CHECK_INTERVAL
        if self._lease is not None and not await asyncio.to_thread(self._lease.still_held):
            self.active = False
            raise ResyncNeeded("relay lease lost")
        try:
            info = await js.stream_info(wire.STREAM)
        except NotFoundError as exc:
            raise ResyncNeeded("stream deleted") from exc
        if self._last_seq and (info.state.messages == 0 or info.state.last_seq < self._last_seq):
            raise ResyncNeeded("stream was purged or recreated")

    async def _put_everything(self, bucket: KeyValue, view: SettingsView) -> None:
        log.warning("KV bucket %s was missing: rebuilding it", wire.KV_BUCKET)
        for key, value in all_routes(view, view.position).items():
            await bucket.put(key, value)
        await bucket.put(wire.KV_PROVIDER_KEY, wire.encode(public_provider(view.provider.config)))

    async def _delete_stale(self, bucket: KeyValue, view: SettingsView, stale_keys: set[str]) -> None:
        live = {wire.route_key(e.phone_number) for e in view.endpoints.by_id.values()} | {wire.KV_PROVIDER_KEY}
        for key in stale_keys - live:
            with contextlib.suppress(KeyNotFoundError):
                await bucket.delete(key)


async def _delete(bucket: KeyValue, key: str) -> None:
    with contextlib.suppress(KeyNotFoundError):
        await bucket.delete(key)


async def _keys(bucket: KeyValue) -> list[str]:
    try:
        return await bucket.keys()
    except Exception:  # NoKeysError on an empty bucket
        return []
