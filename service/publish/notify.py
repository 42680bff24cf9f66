"""Change notifications between replicas on PostgreSQL: ``LISTEN``/``NOTIFY`` with polling as the fallback.

eventsourcing's PostgreSQL recorder sends ``NOTIFY <its channel>`` (``telephonysettings_events``) in every inserting
transaction, so the notification is delivered exactly when the events become visible (at commit), whoever wrote
them: another replica, a CLI tool, or this process. (Stores of versions before this one also carry a trigger of
their own that sent the same notification; PostgreSQL delivers identical notifications of one transaction once.)
Each process keeps one listening connection in a thread and wakes its
read-model follower and its relay on every notification, so a write on one replica shows on the others within
milliseconds. A notification carries nothing: the woken side reads the notification log after its own position,
so a lost notification (listener reconnecting, database restart) only delays a change until the next poll.

SQLite has no such mechanism (one file, no server); there the follower polls (``TELEPHONY_POLL_INTERVAL``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg import sql

log = logging.getLogger("telephony_settings.notify")


class StoreListener:
    """A thread that calls ``on_change()`` whenever events are committed to the store, by any process."""

    def __init__(self, conninfo: str, channel: str, on_change: Callable[[], None], retry_interval: float = 1.0) -> None:
        self._conninfo = conninfo
        self._channel = channel
        self._on_change = on_change
        self._retry_interval = retry_interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-listener", daemon=True)
        self._outage_logged = False
        self.listening = threading.Event()
        """Set while the LISTEN connection is up (for tests and health)."""

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except psycopg.Error as exc:
                if not self._outage_logged:  # once per outage, not once per reconnection attempt
                    log.warning("store listener disconnected (%s); polling until it reconnects", type(exc).__name__)
                    self._outage_logged = True
            finally:
                self.listening.clear()
            self._stopping.wait(self._retry_interval)

    def _listen(self) -> None:
        # TCP keepalives: a connection that died silently (a cut network) is noticed within about 10 s.
        with psycopg.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=2,
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
        ) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            self.listening.set()
            if self._outage_logged:
                log.info("store listener reconnected")
                self._outage_logged = False
            self._on_change()  # changes made while we were not listening: catch up once
            while not self._stopping.is_set():
                # The timeout bounds how long stop() waits; several notifications in a burst wake us once.
                if any(True for _ in conn.notifies(timeout=0.5, stop_after=1)):
                    self._on_change()
