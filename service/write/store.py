"""The PostgreSQL recorder, failing fast.

eventsourcing retries every recorder call up to 10 times, and each attempt may wait the pool timeout for a
connection: with the database unreachable a request would hang for close to a minute. The service must instead
answer 503 within a couple of seconds and keep serving reads from memory, so these calls run once. A stale pooled
connection (after a database restart) is not a reason to retry: the pool checks each connection before handing it
out (``POSTGRES_PRE_PING``) and replaces a dead one.
"""

from __future__ import annotations

from eventsourcing.postgres import PostgresApplicationRecorder


def _unwrapped(method):  # type: ignore[no-untyped-def]
    return getattr(method, "__wrapped__", method)


class FailFastPostgresRecorder(PostgresApplicationRecorder):
    insert_events = _unwrapped(PostgresApplicationRecorder.insert_events)
    select_events = _unwrapped(PostgresApplicationRecorder.select_events)
    select_notifications = _unwrapped(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _unwrapped(PostgresApplicationRecorder.max_notification_id)
