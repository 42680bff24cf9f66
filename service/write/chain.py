"""Tamper evidence, as events are stored: every stored event is hash-chained to its aggregate's previous event.

Each event's state is stored as ``MAGIC ‖ chain hash (32 bytes) ‖ payload``, where payload is what eventsourcing
would have stored (JSON, encrypted when a cipher key is set) and::

    chain hash = SHA-256(previous chain hash of the aggregate ‖ originator id (16 bytes) ‖ version (8 bytes, big
                         endian) ‖ topic length (4 bytes) ‖ topic ‖ payload)

with 32 zero bytes before version 1. An event stored before tamper evidence existed counts with the hash of its
content alone (``legacy_hash``), so the first chained event and checkpoint after an upgrade seal it. The hash covers
the stored bytes, so it is checked without the cipher key, and it is computed for every event the application saves
(internal ones too).

``ChainedEventStore`` (the application's event store) chains on ``put``: the previous hash comes from a cache of the
chain heads it has read or written (every command reads its aggregate before saving, so this is nearly always a
hit); on a miss, one indexed row is read. Heads enter the cache only from events read or from inserts that
succeeded, so a lost race leaves no wrong head. ``ChainMapper`` (the application's mapper) takes the hash off again
when it reads. The checkpoints that seal the log, and ``audit verify``, are in ``service.audit``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import EventStore, Mapper, Notification, Recording, StoredEvent

MAGIC = b"TSC1"
"""Marks a stored state that starts with a chain hash (format version 1)."""
DIGEST_SIZE = 32
GENESIS = bytes(DIGEST_SIZE)
"""The "previous hash" of an aggregate's first event, and the digest before the first checkpoint."""
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


def sealed(stored: StoredEvent, chain_hash: bytes) -> StoredEvent:
    """``stored`` with ``chain_hash`` in front of its payload."""
    return StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=MAGIC + chain_hash + stored.state,
    )


class ChainMapper(Mapper[UUID]):
    """eventsourcing's mapper for a chained store: it reads a stored event without its chain hash."""

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        chain_hash, payload = unseal(stored_event.state)
        if chain_hash is not None:
            stored_event = StoredEvent(
                originator_id=stored_event.originator_id,
                originator_version=stored_event.originator_version,
                topic=stored_event.topic,
                state=payload,
            )
        return super().to_domain_event(stored_event)


class ChainedEventStore(EventStore[UUID]):
    """eventsourcing's event store, chaining every event it stores (see the module docstring)."""

    def __init__(self, mapper: Mapper[UUID], recorder: Any) -> None:
        super().__init__(mapper, recorder)
        self._heads: dict[UUID | str, tuple[int, bytes]] = {}
        self._heads_lock = threading.Lock()

    def put(self, domain_events: Sequence[DomainEventProtocol[UUID]], **kwargs: Any) -> list[Recording[UUID]]:
        pending: dict[UUID | str, tuple[int, bytes]] = {}  # heads within this insert: an event chains to the one before
        stored = []
        for event in domain_events:
            plain = self.mapper.to_stored_event(event)
            originator_id, version = plain.originator_id, plain.originator_version
            chain_hash = link(
                self._previous(originator_id, version, pending), originator_id, version, plain.topic, plain.state
            )
            pending[originator_id] = (version, chain_hash)
            stored.append(sealed(plain, chain_hash))
        notification_ids = self.recorder.insert_events(stored, **kwargs)
        for originator_id, (version, chain_hash) in pending.items():  # stored: these are the heads now
            self._remember(originator_id, version, chain_hash)
        if not notification_ids:
            return []
        return [
            Recording(
                event,
                Notification(
                    originator_id=s.originator_id,
                    originator_version=s.originator_version,
                    topic=s.topic,
                    state=s.state,
                    id=position,
                ),
            )
            for event, s, position in zip(domain_events, stored, notification_ids, strict=True)
        ]

    def get(
        self,
        originator_id: UUID,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Iterator[Any]:
        rows = self.recorder.select_events(originator_id=originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        for row in rows:
            chain_hash, _ = unseal(row.state)
            if chain_hash is not None:
                self._remember(row.originator_id, row.originator_version, chain_hash)
        return map(self.mapper.to_domain_event, rows)

    def get_many(self, originator_ids: Sequence[UUID]) -> dict[UUID, list[Any]]:
        """The events of each of these aggregates (one query; an aggregate without events is absent)."""
        found: dict[UUID, list[Any]] = {}
        for row in self.recorder.select_events_of(originator_ids):
            chain_hash, _ = unseal(row.state)
            if chain_hash is not None:
                self._remember(row.originator_id, row.originator_version, chain_hash)
            found.setdefault(row.originator_id, []).append(self.mapper.to_domain_event(row))
        return found

    def _remember(self, originator_id: UUID | str, version: int, chain_hash: bytes) -> None:
        with self._heads_lock:
            known = self._heads.get(originator_id)
            if known is None or known[0] <= version:
                if known is None and len(self._heads) >= _HEAD_CACHE_SIZE:
                    self._heads.clear()  # crude but safe: a miss costs one indexed read
                self._heads[originator_id] = (version, chain_hash)

    def _previous(self, originator_id: UUID | str, version: int, pending: dict[UUID | str, tuple[int, bytes]]) -> bytes:
        if version <= 1:
            return GENESIS
        for known in (pending.get(originator_id), self._heads.get(originator_id)):
            if known is not None and known[0] == version - 1:
                return known[1]
        rows = self.recorder.select_events(originator_id, gt=version - 2, lte=version - 1)
        if not rows:
            # The store would accept the event anyway (versions need not be contiguous); chaining it to nothing
            # would make a gap look legitimate, so this is a programming error.
            raise RuntimeError(f"cannot chain version {version} of {originator_id}: version {version - 1} is missing")
        return chain_hash_of(rows[0])
