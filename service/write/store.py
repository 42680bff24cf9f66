"""The event store's infrastructure: eventsourcing's, chosen through its own hooks, with what this service adds.

``Settings.store_env`` names one of the factories below as ``PERSISTENCE_MODULE`` (eventsourcing accepts the topic of a
factory class there), and ``MAPPER_TOPIC`` / ``TRANSCODER_TOPIC`` name ``ChainMapper`` and ``MsgspecJSONTranscoder``.
Each factory differs from eventsourcing's only in this:

* its event store is a ``ChainedEventStore`` (tamper evidence: ``write.chain``);
* its application recorder also reads one aggregate's events with their positions
  (``select_aggregate_notifications``), which the history and the point-in-time reads need and eventsourcing's
  ``select_events`` does not give, and many aggregates' events in one query (``select_events_of``), which the
  writer uses to load a whole batch's state at once;
* on PostgreSQL, its recorders try each call once (``FailFast``): see there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    EventStore,
    Mapper,
    Notification,
    StoredEvent,
)
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder, PostgresFactory
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteFactory

from service.write.chain import ChainedEventStore
from service.write.transcoder import MsgspecJSONTranscoder

__all__ = ["MemoryStore", "MsgspecJSONTranscoder", "PostgresStore", "SQLiteStore"]


def _notification(position: int, aggregate_id: UUID, row: Any) -> Notification:
    return Notification(
        id=position,
        originator_id=aggregate_id,
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=bytes(row["state"]),
    )


class _ChainedEvents:
    """The factory's event store: chained (``write.chain``)."""

    def event_store(
        self, mapper: Mapper[UUID] | None = None, recorder: AggregateRecorder | None = None
    ) -> EventStore[UUID]:
        return ChainedEventStore(
            mapper=mapper or self.mapper(),  # type: ignore[attr-defined]
            recorder=recorder or self.application_recorder(),  # type: ignore[attr-defined]
        )


# -- SQLite -----------------------------------------------------------------------------------------------------


class PositionedSQLiteRecorder(SQLiteApplicationRecorder):
    def select_aggregate_notifications(self, aggregate_id: UUID) -> list[Notification]:
        """One aggregate's events with their positions (``rowid``), by the primary-key index."""
        statement = f"SELECT rowid, * FROM {self.events_table_name} WHERE originator_id=? ORDER BY originator_version"  # noqa: S608
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, [aggregate_id.hex])  # eventsourcing stores SQLite ids as 32 hex digits
            return [_notification(row["rowid"], aggregate_id, row) for row in cursor.fetchall()]

    def select_events_of(self, aggregate_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every event of these aggregates, by the primary-key index, in one query (ordered by aggregate, version)."""
        by_hex = {aggregate_id.hex: aggregate_id for aggregate_id in aggregate_ids}
        if not by_hex:
            return []
        marks = ",".join("?" * len(by_hex))
        statement = (
            f"SELECT * FROM {self.events_table_name} WHERE originator_id IN ({marks}) "  # noqa: S608
            "ORDER BY originator_id, originator_version"
        )
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, list(by_hex))
            return [
                StoredEvent(
                    originator_id=by_hex[row["originator_id"]],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=row["state"],
                )
                for row in cursor.fetchall()
            ]


class SQLiteStore(_ChainedEvents, SQLiteFactory):
    application_recorder_class = PositionedSQLiteRecorder


# -- PostgreSQL ---------------------------------------------------------------------------------------------------


def _one_attempt(method):  # type: ignore[no-untyped-def]
    """The recorder method without eventsourcing's retry decorator.

    eventsourcing retries every PostgreSQL call up to 10 times, and each attempt may wait the pool's timeout for a
    connection: with the database away a request would hang for close to a minute. This service must answer 503
    within a couple of seconds and keep serving reads from memory, so its recorders try once; a stale pooled
    connection is rarely lent, since the pool checks each connection idle for a while before lending it
    (``_check_when_idle``), and the writer saves again on another connection after a dead one. eventsourcing has no
    setting for the retries, so this is the one place that takes the
    decorator off (``functools.wraps`` keeps the undecorated function as ``__wrapped__``).
    """
    return getattr(method, "__wrapped__", method)


def _reconnect_promptly() -> None:
    """Let psycopg's pool retry a lost database every 50 ms, not after 1 s, 2 s, 4 s...

    While the database is away the pool's reconnection attempts back off exponentially from one second (psycopg_pool
    has no setting for it, only these class attributes): writes would still get 503 for seconds after the database
    is back. A failed attempt is one refused TCP connection, so trying often costs nothing.
    """
    from psycopg_pool.base import AttemptWithBackoff

    AttemptWithBackoff.INITIAL_DELAY = 0.05
    AttemptWithBackoff.DELAY_BACKOFF = 1.0


_reconnect_promptly()


class FailFastPostgresAggregateRecorder(PostgresAggregateRecorder):
    insert_events = _one_attempt(PostgresAggregateRecorder.insert_events)
    select_events = _one_attempt(PostgresAggregateRecorder.select_events)


class FailFastPostgresRecorder(PostgresApplicationRecorder):
    select_events = _one_attempt(PostgresApplicationRecorder.select_events)
    select_notifications = _one_attempt(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _one_attempt(PostgresApplicationRecorder.max_notification_id)

    def insert_events(self, stored_events: Sequence[StoredEvent], **_: Any) -> Sequence[int] | None:
        """Insert the events in one statement (``INSERT ... SELECT FROM unnest(arrays)``), under eventsourcing's table
        lock and with its notification, in one transaction; their positions in the order given.

        eventsourcing sends one INSERT per event in a psycopg pipeline, which hangs (both ends waiting) when a
        transaction carries thousands of events, as a change set does; one statement with four arrays does not, and
        costs PostgreSQL one plan and one round trip whatever the number of events.
        """
        from psycopg.sql import SQL, Identifier

        if not stored_events:
            return []
        statement = SQL(
            "INSERT INTO {}.{} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]) "
            "RETURNING originator_id, originator_version, notification_id"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        columns = (
            [event.originator_id for event in stored_events],
            [event.originator_version for event in stored_events],
            [event.topic for event in stored_events],
            [event.state for event in stored_events],
        )
        with self.datastore.transaction(commit=True) as cursor:
            self._lock_table(cursor)
            self._notify_channel(cursor)
            cursor.execute(statement, columns, prepare=True)
            positions = {
                (str(row["originator_id"]), row["originator_version"]): row["notification_id"]
                for row in cursor.fetchall()
            }
        return [positions[(str(event.originator_id), event.originator_version)] for event in stored_events]

    def select_aggregate_notifications(self, aggregate_id: UUID) -> list[Notification]:
        """One aggregate's events with their positions, by the primary-key index."""
        from psycopg.sql import SQL, Identifier

        statement = SQL("SELECT * FROM {}.{} WHERE originator_id = %s ORDER BY originator_version").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, [aggregate_id])
            return [_notification(row["notification_id"], aggregate_id, row) for row in cursor.fetchall()]

    def select_events_of(self, aggregate_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every event of these aggregates, by the primary-key index, in one query (ordered by aggregate, version)."""
        from psycopg.sql import SQL, Identifier

        if not aggregate_ids:
            return []
        statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {}.{} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, [list(aggregate_ids)])
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in cursor.fetchall()
            ]


IDLE_CHECK = 1.0
"""Seconds a pooled connection may sit unused before the pool checks it (one round trip) before lending it."""


def _check_when_idle() -> Any:
    """The pool's check of a connection before it lends it: a round trip only for a connection not lent in the
    last ``IDLE_CHECK`` seconds. eventsourcing's ``POSTGRES_PRE_PING`` checks every one, a round trip per
    transaction (a fifth of a write's time); a busy connection has just proved itself alive."""
    import weakref

    from psycopg_pool import ConnectionPool

    lent: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    def check(connection: Any) -> None:
        now = time.monotonic()
        if now - lent.get(connection, -IDLE_CHECK) >= IDLE_CHECK:
            ConnectionPool.check_connection(connection)
        lent[connection] = now

    return check


LIBPQ_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "application_name")
"""libpq's options that ``TELEPHONY_DATABASE_URL`` may carry as query parameters (``Settings.store_env``)."""


def libpq_options(env: dict[str, str] | Any) -> dict[str, str]:
    """The libpq options ``Settings.store_env`` carried over from the URL (``POSTGRES_LIBPQ_<NAME>``), by name."""
    found = {name: env.get(f"POSTGRES_LIBPQ_{name.upper()}") for name in LIBPQ_OPTIONS}
    return {name: value for name, value in found.items() if value}


def why_postgres_refuses(env: dict[str, str] | Any) -> str:
    """libpq's own reason why a connection with ``env``'s settings (``Settings.store_env``) fails, or ``""`` when one
    succeeds now. The pool only says it "couldn't get a connection"; this opens one connection to learn why (TLS
    refused, password rejected, no such database, connection refused), never with the password (``shown_reason``)."""
    import psycopg

    password = env.get("POSTGRES_PASSWORD") or ""
    options = libpq_options(env)
    try:
        psycopg.connect(
            dbname=env.get("POSTGRES_DBNAME"),
            host=env.get("POSTGRES_HOST"),
            port=env.get("POSTGRES_PORT"),
            user=env.get("POSTGRES_USER"),
            password=password,
            connect_timeout=5,
            **options,
        ).close()
    except psycopg.Error as exc:
        return shown_reason(str(exc), password)
    return ""


def shown_reason(text: str, password: str) -> str:
    """libpq's (or the pool's) message on one line, or a stand-in when it contains the password: cutting the
    password out of it could show it anyway (a password "5" in "port 5432")."""
    if password and password in text:
        return "the server refused the connection (its message is not shown: it contains the password)"
    return " ".join(text.split())  # libpq's text spans lines


def postgres_location(env: dict[str, str] | Any) -> str:
    """Where ``env`` points, as a URL without the password (for errors and logs)."""
    options = "&".join(f"{name}={value}" for name, value in libpq_options(env).items())
    where = f"postgresql://{env.get('POSTGRES_USER')}@{env.get('POSTGRES_HOST')}:{env.get('POSTGRES_PORT')}"
    return f"{where}/{env.get('POSTGRES_DBNAME')}" + (f"?{options}" if options else "")


class PostgresStore(_ChainedEvents, PostgresFactory):
    aggregate_recorder_class = FailFastPostgresAggregateRecorder
    application_recorder_class = FailFastPostgresRecorder

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # psycopg_pool takes its check only in its constructor, which eventsourcing calls: set it on the pool
        # (tests/unit/test_store_pool.py fails if psycopg_pool renames the attribute).
        self.datastore.pool._check = _check_when_idle()
        # libpq's own options from the URL (``Settings.store_env``: sslmode, sslrootcert, ...), which eventsourcing's
        # settings do not carry: on every connection the pool opens (it opens none before its first use).
        self.datastore.pool.kwargs.update(libpq_options(self.env))


# -- memory (tests) -----------------------------------------------------------------------------------------------


class PositionedPOPORecorder(POPOApplicationRecorder):
    def select_aggregate_notifications(self, aggregate_id: UUID) -> list[Notification]:
        found = self.select_notifications(start=None, limit=1_000_000_000)
        return [n for n in found if n.originator_id == aggregate_id]

    def select_events_of(self, aggregate_ids: Sequence[UUID]) -> list[StoredEvent]:
        return [event for aggregate_id in aggregate_ids for event in self.select_events(aggregate_id)]


class MemoryStore(_ChainedEvents, POPOFactory):
    """In memory, for the application's fast tests (``tests/unit``)."""

    def application_recorder(self) -> ApplicationRecorder:
        return PositionedPOPORecorder()
