"""Tamper evidence, write side: every stored event is hash-chained to its aggregate's previous event, and chained
checkpoints seal the notification log.

**Event chain.** ``ChainMapper`` (the application's mapper) stores each event's state as
``MAGIC ‖ chain hash (32 bytes) ‖ payload``, where payload is what eventsourcing would have stored (JSON,
encrypted when a cipher key is set) and::

    chain hash = SHA-256(previous chain hash of the aggregate ‖ originator id (16 bytes) ‖ version (8 bytes, big
                         endian) ‖ topic length (4 bytes) ‖ topic ‖ payload)

with 32 zero bytes before version 1. An event stored before tamper evidence existed counts with the hash of its
content alone (``legacy_hash``), so the first chained event and checkpoint after an upgrade seal it. The hash covers
the stored bytes, so it is checked without the cipher key, and it is computed for every event the application saves
(internal ones too). The previous hash comes from a cache of the chain heads this process has read or written
(every command folds its aggregate before saving, so this is nearly always a hit); on a miss, one indexed row is
read. No extra aggregate read per save. Heads enter the cache only from events read or from inserts that succeeded
(``ChainedEventStore``), so a lost race leaves no wrong head.

**Checkpoints.** A chain alone cannot show that an aggregate's *last* event was deleted, or that events of different
aggregates swapped positions. ``Checkpoints.write`` appends ``AuditCheckpoint`` events (in their own table, not in the
notification log) that each seal a range of positions: their ``digest`` chains the previous checkpoint's digest
with the position, aggregate id, version and chain hash of every event in the range. The service writes one shortly
after its commits (``Checkpointer``) and one when it stops. ``service.audit.verify`` checks both.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    EventStore,
    IntegrityError,
    Mapper,
    Recording,
    StoredEvent,
)

from events.checkpoints import CHECKPOINT_ID, AuditCheckpoint

log = logging.getLogger("telephony_settings.chain")

MAGIC = b"TSC1"
"""Marks a stored state that starts with a chain hash (format version 1)."""
DIGEST_SIZE = 32
GENESIS = bytes(DIGEST_SIZE)
"""The "previous hash" of an aggregate's first event, and the digest before the first checkpoint."""
CHECKPOINT_RANGE = 1000
"""At most this many events per checkpoint (a checkpoint lists the heads of the aggregates its range touched)."""
CHECKPOINT_DELAY = 1.0
"""Seconds the service waits after a commit before sealing (commits in a burst share one checkpoint)."""
_HEAD_CACHE_SIZE = 200_000


def _id_bytes(originator_id: UUID | str) -> bytes:
    return originator_id.bytes if isinstance(originator_id, UUID) else str(originator_id).encode()


def link(previous: bytes, originator_id: UUID | str, version: int, topic: str, payload: bytes) -> bytes:
    """The chain hash of one stored event (see the module docstring)."""
    digest = hashlib.sha256(previous)
    digest.update(_id_bytes(originator_id))
    digest.update(version.to_bytes(8, "big"))
    encoded_topic = topic.encode()
    digest.update(len(encoded_topic).to_bytes(4, "big"))
    digest.update(encoded_topic)
    digest.update(payload)
    return digest.digest()


def unseal(state: bytes) -> tuple[bytes | None, bytes]:
    """``(chain hash, payload)`` of a stored state; ``(None, state)`` for a state without a chain hash."""
    if state[: len(MAGIC)] == MAGIC and len(state) >= len(MAGIC) + DIGEST_SIZE:
        start = len(MAGIC) + DIGEST_SIZE
        return bytes(state[len(MAGIC) : start]), bytes(state[start:])
    return None, state


def legacy_hash(stored: StoredEvent) -> bytes:
    """The stand-in chain hash of an event stored before tamper evidence existed (a hash of its content alone)."""
    return link(GENESIS, stored.originator_id, stored.originator_version, stored.topic, stored.state)


def chain_hash_of(stored: StoredEvent) -> bytes:
    """The stored chain hash of an event, or ``legacy_hash`` for one written before tamper evidence."""
    chain_hash, _ = unseal(stored.state)
    return chain_hash if chain_hash is not None else legacy_hash(stored)


def range_record(position: int, originator_id: UUID | str, version: int, chain_hash: bytes) -> bytes:
    """What a checkpoint digest covers of one event."""
    return position.to_bytes(8, "big") + _id_bytes(originator_id) + version.to_bytes(8, "big") + chain_hash


class ChainMapper(Mapper[UUID]):
    """eventsourcing's mapper, plus the chain hash in front of every stored state (see the module docstring).

    Chain heads are remembered from events read (they are stored) and from events written by a ``ChainedEventStore``
    once their insert succeeded; within one insert, an event chains to the one before it in the same insert.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._heads: dict[UUID | str, tuple[int, bytes]] = {}
        self._pending = threading.local()  # the heads of the insert this thread is preparing
        self.recorder: AggregateRecorder | None = None
        """Where a chain head missing from the cache is read (set by the application once it has a recorder)."""
        self.remember_heads = True
        """Whether events read update the head cache; off for copies that only fold the log (read model, relay):
        a rebuild would otherwise fill the cache with every aggregate, for nothing (a fifth of the decoding)."""

    def to_stored_event(self, domain_event: DomainEvent) -> StoredEvent:  # type: ignore[override]
        stored = super().to_stored_event(domain_event)
        originator_id, version = stored.originator_id, stored.originator_version
        chain_hash = link(self._previous(originator_id, version), originator_id, version, stored.topic, stored.state)
        self._pending_heads()[originator_id] = (version, chain_hash)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=version,
            topic=stored.topic,
            state=MAGIC + chain_hash + stored.state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEvent:  # type: ignore[override]
        chain_hash, payload = unseal(stored_event.state)
        if chain_hash is not None:
            if self.remember_heads:
                self._remember(stored_event.originator_id, stored_event.originator_version, chain_hash)
            stored_event = StoredEvent(
                originator_id=stored_event.originator_id,
                originator_version=stored_event.originator_version,
                topic=stored_event.topic,
                state=payload,
            )
        return super().to_domain_event(stored_event)  # type: ignore[return-value]

    def begin(self) -> None:
        self._pending.heads = {}

    def end(self, stored: bool) -> None:
        """After an insert: its heads are known to be stored (``stored``), or forgotten (it failed)."""
        heads = self._pending_heads()
        self._pending.heads = {}
        if stored:
            for originator_id, (version, chain_hash) in heads.items():
                self._remember(originator_id, version, chain_hash)

    def _pending_heads(self) -> dict[UUID | str, tuple[int, bytes]]:
        heads = getattr(self._pending, "heads", None)
        if heads is None:
            heads = self._pending.heads = {}
        return heads

    def _remember(self, originator_id: UUID | str, version: int, chain_hash: bytes) -> None:
        known = self._heads.get(originator_id)
        if known is None or known[0] <= version:
            if known is None and len(self._heads) >= _HEAD_CACHE_SIZE:
                self._heads.clear()  # crude but safe: a miss costs one indexed read
            self._heads[originator_id] = (version, chain_hash)

    def _previous(self, originator_id: UUID | str, version: int) -> bytes:
        if version <= 1:
            return GENESIS
        for known in (self._pending_heads().get(originator_id), self._heads.get(originator_id)):
            if known is not None and known[0] == version - 1:
                return known[1]
        if self.recorder is None:
            raise RuntimeError("ChainMapper.recorder is not set: cannot chain to an unread aggregate")
        rows = self.recorder.select_events(originator_id, gt=version - 2, lte=version - 1)
        if not rows:
            # The store would accept the event anyway (versions need not be contiguous); chaining it to nothing
            # would make a gap look legitimate, so this is a programming error.
            raise RuntimeError(f"cannot chain version {version} of {originator_id}: version {version - 1} is missing")
        return chain_hash_of(rows[0])


class ChainedEventStore(EventStore[UUID]):
    """An event store that tells its ``ChainMapper`` whether each insert succeeded (so a lost race leaves no
    wrong chain head behind)."""

    mapper: ChainMapper

    def put(self, domain_events: Sequence[DomainEvent], **kwargs: Any) -> list[Recording[UUID]]:  # type: ignore[override]
        self.mapper.begin()
        stored = False
        try:
            recordings = super().put(domain_events, **kwargs)  # type: ignore[arg-type]
            stored = True
        finally:
            self.mapper.end(stored)
        return recordings


def checkpoint_recorder(app: Application[UUID]) -> AggregateRecorder:
    """The table of checkpoints beside the events (``stored_checkpoints`` / ``<app name>_checkpoints``)."""
    factory = app.factory
    module = type(factory).__module__
    if module.startswith("eventsourcing.postgres"):
        recorder: AggregateRecorder = _fail_fast_postgres_recorder_class()(
            datastore=factory.datastore,  # type: ignore[attr-defined]
            events_table_name=f"{factory.env.name.lower()}_checkpoints",
        )
    elif module.startswith("eventsourcing.sqlite"):
        from eventsourcing.sqlite import SQLiteAggregateRecorder

        recorder = SQLiteAggregateRecorder(datastore=factory.datastore, events_table_name="stored_checkpoints")  # type: ignore[attr-defined]
    else:
        return factory.aggregate_recorder(purpose="checkpoints")
    recorder.create_table()  # type: ignore[attr-defined]
    return recorder


def _fail_fast_postgres_recorder_class() -> type:
    from eventsourcing.postgres import PostgresAggregateRecorder

    from service.write.store import _unwrapped

    class FailFastPostgresAggregateRecorder(PostgresAggregateRecorder):
        """Like ``write.store.FailFastPostgresRecorder``: one attempt per call, so an outage fails in seconds."""

        insert_events = _unwrapped(PostgresAggregateRecorder.insert_events)
        select_events = _unwrapped(PostgresAggregateRecorder.select_events)

    return FailFastPostgresAggregateRecorder


class Checkpoints:
    """The checkpoint aggregate of one application's store."""

    def __init__(self, app: Application[UUID]) -> None:
        self.app = app
        self.recorder = checkpoint_recorder(app)
        # Checkpoints are chained like events (and encrypted like them when a cipher key is set).
        source = app.mapper
        mapper = ChainMapper(transcoder=source.transcoder, compressor=source.compressor, cipher=source.cipher)
        mapper.recorder = self.recorder
        self.store = ChainedEventStore(mapper=mapper, recorder=self.recorder)

    def last(self) -> AuditCheckpoint | None:
        found = list(self.store.get(CHECKPOINT_ID, desc=True, limit=1))
        return found[0] if found else None  # type: ignore[return-value]

    def stored(self) -> Sequence[StoredEvent]:
        """Every checkpoint as stored, in version order (few: one per burst of commits or per 1000 events)."""
        return self.recorder.select_events(CHECKPOINT_ID)

    def write(self, attempts: int = 5) -> int:
        """Seal every event not yet covered by a checkpoint; the number of checkpoints written (0: nothing new)."""
        recorder: ApplicationRecorder = self.app.recorder  # type: ignore[assignment]
        for _ in range(attempts):
            last = self.last()
            new = list(_new_checkpoints(recorder, last))
            if not new:
                return 0
            try:
                self.store.put(new)
            except IntegrityError:
                continue  # another process sealed first: start again from its checkpoint
            return len(new)
        return 0


def _new_checkpoints(recorder: ApplicationRecorder, last: AuditCheckpoint | None):  # type: ignore[no-untyped-def]
    position = last.position if last is not None else 0
    digest = bytes.fromhex(last.digest) if last is not None else GENESIS
    version = last.originator_version if last is not None else 0
    while True:
        batch = recorder.select_notifications(start=position, limit=CHECKPOINT_RANGE, inclusive_of_start=False)
        if not batch:
            return
        hasher = hashlib.sha256(digest)
        heads: dict[str, list[int | str]] = {}
        for notification in batch:
            chain_hash = chain_hash_of(notification)
            version_of = notification.originator_version
            hasher.update(range_record(notification.id, notification.originator_id, version_of, chain_hash))
            heads[str(notification.originator_id)] = [version_of, chain_hash.hex()]
        digest, version = hasher.digest(), version + 1
        yield AuditCheckpoint(
            originator_id=CHECKPOINT_ID,
            originator_version=version,
            timestamp=DomainEvent.create_timestamp(),
            previous_position=position,
            position=batch[-1].id,
            count=len(batch),
            digest=digest.hex(),
            heads=heads,
        )
        position = batch[-1].id
        if len(batch) < CHECKPOINT_RANGE:
            return


class Checkpointer:
    """The service's background sealer: a checkpoint ``CHECKPOINT_DELAY`` after commits, and one at shutdown."""

    def __init__(self, app: Application[UUID], delay: float = CHECKPOINT_DELAY) -> None:
        self.checkpoints = Checkpoints(app)
        self.delay = delay
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Thread-safe: called after every commit (from the saving thread)."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        from litestar.concurrency import sync_to_thread

        self._loop = asyncio.get_running_loop()
        self._wake.set()  # seal whatever an earlier run left unsealed
        while not stop.is_set():
            woken = self._wake.is_set()
            # Either way wait one delay: it coalesces a burst of commits, and it is how often stop is noticed.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.delay)
            if woken and not stop.is_set():
                self._wake.clear()
                await self._seal(sync_to_thread)
        await self._seal(sync_to_thread)  # the last commits before shutdown

    async def _seal(self, sync_to_thread) -> None:  # type: ignore[no-untyped-def]
        try:
            await sync_to_thread(self.checkpoints.write)
        except Exception as exc:  # the store may be briefly unreachable: the next commit or tick retries
            log.warning("writing an audit checkpoint failed: %s", type(exc).__name__)
