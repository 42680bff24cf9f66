"""Re-keying an encrypted store's derived ids: ``telephony-settings migrate keyed-ids``.

Stores encrypted before keyed ids existed (``service.write.ids``) keep their phone-number index and Idempotency-Key
aggregates at public ids, which reveal the numbers to anyone who can test candidates. The service refuses to start
on such a store (``public_ids_in``) and names the command that migrates it, once, with every replica stopped:

* every event of those aggregates moves to the keyed id (the payload, encrypted, is unchanged; positions, versions
  and every other aggregate are untouched), and its chain hash is recomputed for the new id, in one transaction;
* the audit checkpoints, which seal the old ids and hashes, are replaced by new ones over the same positions.

An auditor's earlier anchor digest no longer verifies after this (the ids it sealed are gone on purpose); the command
prints the last digest before and the new one after, so both can be recorded together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import get_topic

from events import IdempotencyKeyUsed, PhoneNumberClaimed, PhoneNumberReleased
from service.audit.checkpoints import Checkpoints
from service.write.application import SettingsApplication
from service.write.chain import GENESIS, MAGIC, legacy_hash, link, unseal
from service.write.log import notifications

DERIVED_ID_TOPICS = tuple(get_topic(cls) for cls in (PhoneNumberClaimed, PhoneNumberReleased, IdempotencyKeyUsed))
"""The events of the aggregates whose ids are derived from values (a phone number, an API key name and key)."""
PUBLIC_ID_VERSION = 5
"""Public derived ids are ``uuid5``; keyed ones carry version 4 (``service.write.ids``)."""


class PublicIdsError(Exception):
    """The store is encrypted but its derived ids are public: it must be migrated before the service uses it."""


@dataclass(frozen=True)
class Rekeyed:
    aggregates: int
    events: int
    digest_before: str | None
    digest_after: str | None


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def public_ids_in(app: SettingsApplication) -> list[UUID]:
    """The derived-id aggregates of ``app``'s store that have public ids."""
    found: dict[UUID, None] = {}
    for notification in notifications(app.recorder, topics=DERIVED_ID_TOPICS):
        aggregate_id = _uuid(notification.originator_id)
        if aggregate_id.version == PUBLIC_ID_VERSION:
            found[aggregate_id] = None
    return list(found)


def check_ids_keyed(app: SettingsApplication) -> None:
    """Refuse an encrypted store whose derived ids are still public (a store written before keyed ids).

    One indexed read: the first derived-id event tells, since a store is re-keyed whole, in one transaction."""
    if not app.ids.keyed:
        return
    first = app.recorder.select_notifications(start=None, limit=1, topics=DERIVED_ID_TOPICS)
    if first and _uuid(first[0].originator_id).version == PUBLIC_ID_VERSION:
        raise PublicIdsError(
            "this encrypted store keeps the ids of its phone-number index and Idempotency-Keys in the public form "
            "(written before they were keyed), which reveals the numbers. Stop every replica, then run once: "
            "telephony-settings migrate keyed-ids. Nothing was changed."
        )


def rekey(app: SettingsApplication) -> Rekeyed:
    """Move every public derived-id aggregate to its keyed id and re-seal the checkpoints (see the module)."""
    if not app.ids.keyed:
        raise PublicIdsError("keyed ids are for encrypted stores: set TELEPHONY_CIPHER_KEY to the store's key")
    checkpoints = Checkpoints(app)
    last = checkpoints.last()
    digest_before = last.digest if last is not None else None
    public = public_ids_in(app)
    moves = [(old, app.ids.of(old), app.recorder.select_events(old)) for old in public]
    recorder = app.recorder
    postgres = isinstance(recorder.datastore, PostgresDatastore)
    mark = "%s" if postgres else "?"
    events_table = recorder.events_table_name
    checkpoints_table = checkpoints.recorder.events_table_name
    moved = 0
    with recorder.datastore.transaction(commit=True) as cursor:
        for old, new, stored in moves:
            previous = GENESIS
            for event in stored:
                chain_hash, payload = unseal(event.state)
                if chain_hash is None:  # stored before tamper evidence: its stand-in hash follows the id by itself
                    state = event.state
                    renamed = type(event)(new, event.originator_version, event.topic, event.state)
                    previous = legacy_hash(renamed)
                else:
                    previous = link(previous, new, event.originator_version, event.topic, payload)
                    state = MAGIC + previous + payload
                cursor.execute(
                    f"UPDATE {events_table} SET originator_id = {mark}, state = {mark} "  # noqa: S608 (table names are ours)
                    f"WHERE originator_id = {mark} AND originator_version = {mark}",
                    (_key(new, postgres), state, _key(old, postgres), event.originator_version),
                )
                moved += 1
        if moves:
            cursor.execute(f"DELETE FROM {checkpoints_table}")  # noqa: S608 (they seal the old ids)
    Checkpoints(app).write()
    last = Checkpoints(app).last()
    return Rekeyed(len(moves), moved, digest_before, last.digest if last is not None else None)


def _key(aggregate_id: UUID, postgres: bool) -> Any:
    """An id as the recorder stores it: PostgreSQL's uuid column, SQLite's 32 hex digits (eventsourcing's choice)."""
    return aggregate_id if postgres else aggregate_id.hex
