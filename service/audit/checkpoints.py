"""Checkpoints: chained seals over the notification log, the part of tamper evidence that the per-aggregate chains
(``write.chain``) cannot give.

A chain alone cannot show that an aggregate's *last* event was deleted, or that events of different aggregates swapped
positions. ``Checkpoints.write`` appends ``AuditCheckpoint`` events (in their own table, beside the events and not in
the notification log: ``stored_checkpoints`` / ``telephonysettings_checkpoints``) that each seal a range of positions:
their ``digest`` chains the previous checkpoint's digest with the position, aggregate id, version and chain hash of
every event in the range. Checkpoints are chained and encrypted like events (same mapper, a chained event store).
The service writes one shortly after its commits (``Checkpointer``) and one when it stops; ``audit.verify`` checks
them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import IntegrityError, StoredEvent

from events.checkpoints import CHECKPOINT_ID, AuditCheckpoint
from service.write.application import SettingsApplication
from service.write.chain import GENESIS, chain_hash_of, range_record
from service.write.log import batches

log = logging.getLogger("telephony_settings.chain")

CHECKPOINT_RANGE = 1000
"""At most this many events per checkpoint (a checkpoint lists the heads of the aggregates its range touched)."""
CHECKPOINT_DELAY = 1.0
"""Seconds the service waits after a commit before sealing (commits in a burst share one checkpoint)."""


class Checkpoints:
    """The checkpoint aggregate of one application's store."""

    def __init__(self, app: SettingsApplication) -> None:
        self.app = app
        self.recorder = app.factory.aggregate_recorder(purpose="checkpoints")
        self.store = app.factory.event_store(mapper=app.mapper, recorder=self.recorder)

    def last(self) -> AuditCheckpoint | None:
        found = list(self.store.get(CHECKPOINT_ID, desc=True, limit=1))
        return found[0] if found else None

    def stored(self) -> Sequence[StoredEvent]:
        """Every checkpoint as stored, in version order (few: one per burst of commits or per 1000 events)."""
        return self.recorder.select_events(CHECKPOINT_ID)

    def write(self, attempts: int = 5) -> int:
        """Seal every event not yet covered by a checkpoint; the number of checkpoints written (0: nothing new)."""
        for _ in range(attempts):
            new = list(_new_checkpoints(self.app.recorder, self.last()))
            if not new:
                return 0
            try:
                self.store.put(new)
            except IntegrityError:
                continue  # another process sealed first: start again from its checkpoint
            return len(new)
        return 0


def _new_checkpoints(recorder: Any, last: AuditCheckpoint | None) -> Iterator[AuditCheckpoint]:
    position = last.position if last is not None else 0
    digest = bytes.fromhex(last.digest) if last is not None else GENESIS
    version = last.originator_version if last is not None else 0
    for batch in batches(recorder, position, size=CHECKPOINT_RANGE):
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


class Checkpointer:
    """The service's background sealer: a checkpoint ``CHECKPOINT_DELAY`` after commits, and one at shutdown."""

    def __init__(self, app: SettingsApplication, delay: float = CHECKPOINT_DELAY) -> None:
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
        self._loop = asyncio.get_running_loop()
        self._wake.set()  # seal whatever an earlier run left unsealed
        while not stop.is_set():
            woken = self._wake.is_set()
            # Either way wait one delay: it coalesces a burst of commits, and it is how often stop is noticed.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.delay)
            if woken and not stop.is_set():
                self._wake.clear()
                await self._seal()
        await self._seal()  # the last commits before shutdown

    async def _seal(self) -> None:
        try:
            await asyncio.to_thread(self.checkpoints.write)
        except Exception as exc:  # the store may be briefly unreachable: the next commit or tick retries
            log.warning("writing an audit checkpoint failed: %s", type(exc).__name__)
