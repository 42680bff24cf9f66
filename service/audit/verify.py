"""``audit verify``: check the event chains and the checkpoints of a store, and name the first bad event.

It reads the notification log once, in order, in batches (memory: one chain head per aggregate), and the
checkpoints beside it. For every event it checks that its version follows the previous one of its aggregate and
that its stored chain hash equals the hash recomputed from the stored bytes (``service.write.chain``); whenever the log
passes a checkpoint's position it checks that the events of the checkpoint's range are exactly the ones it sealed
(count, order, last version and hash of every aggregate touched). It needs no cipher key for the events, only to
read the checkpoints (which are stored like events).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from events.checkpoints import CHECKPOINT_ID, AuditCheckpoint
from service.audit.checkpoints import Checkpoints
from service.write.application import SettingsApplication
from service.write.chain import GENESIS, chain_hash_of, link, range_record, unseal
from service.write.log import batches

CHECKPOINT_PAGE = 100


@dataclass(frozen=True)
class Problem:
    """The first thing found wrong, and where."""

    where: str  # "position 17: EndpointUpdated <id> v3", or "checkpoint 4"
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class Report:
    events: int = 0
    aggregates: int = 0
    checkpoints: int = 0
    sealed_position: int = 0
    """The last position covered by a checkpoint."""
    legacy: int = 0
    """Events stored before tamper evidence existed (a prefix of the log): sealed by content only, from the first
    checkpoint after the upgrade on."""
    unsealed: int = 0
    """Events after the last checkpoint: covered by their chains only."""
    head_digest: str | None = None
    """The last checkpoint's digest: record it elsewhere to detect a later rewrite of everything before it."""
    anchor_found: bool | None = None
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.anchor_found is not False


def _type(topic: str) -> str:
    return topic.rpartition(":")[2]


def _name(position: int, stored: StoredEvent) -> str:
    return f"position {position}: {_type(stored.topic)} {stored.originator_id} v{stored.originator_version}"


class _Checkpoints:
    """The stored checkpoints in version order, each checked against its predecessor as it is read."""

    def __init__(self, checkpoints: Checkpoints) -> None:
        self._checkpoints = checkpoints
        self.problem: Problem | None = None
        self.count = 0
        self.last: AuditCheckpoint | None = None

    def __iter__(self) -> Iterator[AuditCheckpoint]:
        recorder, mapper = self._checkpoints.recorder, self._checkpoints.store.mapper
        previous_hash, version, position = GENESIS, 0, 0
        while True:
            page = recorder.select_events(CHECKPOINT_ID, gt=version, limit=CHECKPOINT_PAGE)
            for stored in page:
                where = f"checkpoint {stored.originator_version}"
                chain_hash, payload = unseal(stored.state)
                if stored.originator_version != version + 1:
                    self.problem = Problem(where, f"follows checkpoint {version}: a checkpoint was deleted or moved")
                    return
                if chain_hash is None or chain_hash != link(
                    previous_hash, stored.originator_id, stored.originator_version, stored.topic, payload
                ):
                    self.problem = Problem(where, "its hash does not match its content: the checkpoint was altered")
                    return
                try:
                    checkpoint = mapper.to_domain_event(stored)
                except Exception:
                    self.problem = Problem(where, "cannot be read (altered, or the wrong cipher key)")
                    return
                assert isinstance(checkpoint, AuditCheckpoint)
                if checkpoint.previous_position != position or checkpoint.position <= position:
                    self.problem = Problem(where, "its range does not continue the previous checkpoint's")
                    return
                previous_hash, version, position = chain_hash, stored.originator_version, checkpoint.position
                self.count += 1
                self.last = checkpoint
                yield checkpoint
            if len(page) < CHECKPOINT_PAGE:
                return


@dataclass
class _Range:
    """What the log held since the last checkpoint boundary, to compare with the next checkpoint."""

    digest: bytes = GENESIS
    count: int = 0
    heads: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    hasher: hashlib._Hash = field(default_factory=lambda: hashlib.sha256(GENESIS))

    def add(self, position: int, stored: StoredEvent, chain_hash: bytes) -> None:
        self.hasher.update(range_record(position, stored.originator_id, stored.originator_version, chain_hash))
        self.count += 1
        self.heads[str(stored.originator_id)] = (stored.originator_version, chain_hash)

    def close(self, checkpoint: AuditCheckpoint) -> Problem | None:
        where = f"checkpoint {checkpoint.originator_version} (positions {checkpoint.previous_position + 1}-" + (
            f"{checkpoint.position})"
        )
        problem = self._compare(checkpoint, where)
        # Go on from what the checkpoint recorded, so one problem is not reported again at every later checkpoint.
        self.digest = bytes.fromhex(checkpoint.digest)
        self.hasher, self.count, self.heads = hashlib.sha256(self.digest), 0, {}
        return problem

    def _compare(self, checkpoint: AuditCheckpoint, where: str) -> Problem | None:
        for aggregate, (version, sealed_hash) in checkpoint.heads.items():
            found = self.heads.get(aggregate)
            if found is None or found[0] < int(version):
                return Problem(where, f"{aggregate} v{version} was sealed here and is missing: the event was deleted")
            if found[0] > int(version):
                return Problem(where, f"{aggregate} v{found[0]} is in this range but was not sealed: it was inserted")
            if found[1].hex() != sealed_hash:
                return Problem(where, f"{aggregate} v{version} differs from the sealed event: it was replaced")
        for aggregate, (version, _) in self.heads.items():
            if aggregate not in checkpoint.heads:
                return Problem(where, f"{aggregate} v{version} is in this range but was not sealed: it was inserted")
        if self.count != checkpoint.count:
            return Problem(where, f"sealed {checkpoint.count} events, the store holds {self.count}")
        if self.hasher.hexdigest() != checkpoint.digest:
            return Problem(where, "the events are not in the sealed order: events were reordered or renumbered")
        return None


def verify(
    app: SettingsApplication,
    checkpoints: Checkpoints,
    anchor: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Check the whole store; the report names the first problem (by log order) if there is one.

    ``progress(position)`` is called after each batch of the log is checked (``service.audit.progress``).
    """
    report = Report()
    sealed = _Checkpoints(checkpoints)
    pending = iter(sealed)
    checkpoint = next(pending, None)
    current = _Range()
    heads: dict[UUID | str, tuple[int, bytes]] = {}
    anchors = set()

    def close_passed(position: int | None) -> Problem | None:
        nonlocal checkpoint
        while checkpoint is not None and (position is None or position > checkpoint.position):
            problem = current.close(checkpoint)
            if problem is not None:
                return problem
            anchors.add(checkpoint.digest)
            report.sealed_position = checkpoint.position
            checkpoint = next(pending, None)
        return sealed.problem

    for batch in batches(app.recorder):
        for notification in batch:
            report.problem = close_passed(notification.id) or _check_event(notification, heads, report)
            if report.problem is not None:
                return report
            chain_hash = chain_hash_of(notification)
            heads[notification.originator_id] = (notification.originator_version, chain_hash)
            current.add(notification.id, notification, chain_hash)
            report.events += 1
        if progress is not None:
            progress(batch[-1].id)
    report.problem = close_passed(None)
    if report.problem is not None:
        return report
    report.unsealed = current.count
    report.aggregates = len(heads)
    report.checkpoints = sealed.count
    report.head_digest = sealed.last.digest if sealed.last is not None else None
    if anchor is not None:
        report.anchor_found = anchor.strip().lower() in anchors
    return report


def _check_event(
    notification: StoredEvent, heads: dict[UUID | str, tuple[int, bytes]], report: Report
) -> Problem | None:
    position = notification.id  # type: ignore[attr-defined]
    where = _name(position, notification)
    chain_hash, payload = unseal(notification.state)
    if chain_hash is None:
        # Accepted only before the first chained event: the log of a store written before tamper evidence existed.
        if report.events > report.legacy:
            return Problem(where, "has no chain hash, after chained events: its hash was stripped")
        report.legacy += 1
        return _check_order(where, notification, heads)
    previous_version, previous_hash = heads.get(notification.originator_id, (0, GENESIS))
    version = notification.originator_version
    if version <= previous_version:
        return Problem(where, f"comes after v{previous_version} of its aggregate: the event was reordered or copied")
    if version > previous_version + 1:
        missing = f"v{previous_version + 1}" + (f"-v{version - 1}" if version - 1 > previous_version + 1 else "")
        return Problem(
            where, f"follows v{previous_version}: {missing} of this aggregate is missing here (deleted, or moved)"
        )
    expected = link(previous_hash, notification.originator_id, version, notification.topic, payload)
    if chain_hash != expected:
        return Problem(where, "its hash does not match its content and predecessor: the event was modified or forged")
    return None


def _check_order(where: str, notification: StoredEvent, heads: dict[UUID | str, tuple[int, bytes]]) -> Problem | None:
    previous_version, _ = heads.get(notification.originator_id, (0, GENESIS))
    if notification.originator_version != previous_version + 1:
        return Problem(where, f"follows v{previous_version} of its aggregate: an event was deleted or reordered")
    return None
