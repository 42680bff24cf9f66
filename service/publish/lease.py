"""Which process runs the relay: exactly one per store, so the stream gets each event once and in order.

On PostgreSQL the relay runs in the process holding a session-level advisory lock on a connection of its own; the
lock goes with the connection, so a crashed process frees it at once and another replica takes over. On SQLite the
store is a file on one machine, so an exclusive lock on ``<data dir>/relay.lock`` plays the same part.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Protocol

RELAY_LOCK_ID = 0x7E1E_5E77  # arbitrary, fixed: the advisory lock every replica of this service contends for


class RelayLease(Protocol):
    def try_acquire(self) -> bool: ...
    def still_held(self) -> bool: ...
    def release(self) -> None: ...


class PostgresLease:
    def __init__(self, database_url: str, connect_timeout: int = 2) -> None:
        self._url = database_url
        self._connect_timeout = connect_timeout
        self._conn = None

    def try_acquire(self) -> bool:
        import psycopg

        self.release()
        try:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=self._connect_timeout)
        except psycopg.Error:
            return False
        try:
            held = bool(conn.execute("SELECT pg_try_advisory_lock(%s)", (RELAY_LOCK_ID,)).fetchone()[0])
        except psycopg.Error:
            held = False
        if not held:
            conn.close()
            return False
        self._conn = conn
        return True

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")
        except Exception:  # the connection died, and the lock with it
            self.release()
            return False
        return True

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()  # closing the session releases the advisory lock


class FileLease:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        try:
            import fcntl
        except ImportError:  # no advisory file locks on this platform: assume a single process
            self._fd = -1
            return True
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def still_held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and fd >= 0:
            os.close(fd)  # closing the descriptor releases the flock


def lease_for(database_url: str) -> RelayLease:
    if database_url.startswith(("postgresql://", "postgres://")):
        return PostgresLease(database_url)
    database_file = Path(database_url.removeprefix("sqlite:///"))
    return FileLease(database_file.with_name(database_file.name + ".relay-lock"))
