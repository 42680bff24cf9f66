"""The PostgreSQL pool checks a connection before lending it only when it sat unused for a while
(``write.store._check_when_idle``), set on psycopg_pool's private ``_check``: this fails if psycopg_pool stops
calling it."""

from __future__ import annotations

from typing import Any

from psycopg_pool import ConnectionPool

from service.write import store


class Connection:
    """Stands for a psycopg connection: counts the check's round trips."""

    autocommit = True

    def __init__(self) -> None:
        self.pings = 0

    def execute(self, *_: Any) -> None:
        self.pings += 1


def test_the_pool_calls_the_check_it_is_given_and_the_check_pings_only_idle_connections(monkeypatch: Any) -> None:
    pool = ConnectionPool("dbname=never-opened", open=False)
    pool._check = store._check_when_idle()
    clock = [100.0]
    monkeypatch.setattr(store.time, "monotonic", lambda: clock[0])
    busy, idle = Connection(), Connection()

    pool._check_connection(busy)  # first lent: checked
    clock[0] += 0.2
    pool._check_connection(busy)  # lent again at once: not checked
    pool._check_connection(idle)
    clock[0] += store.IDLE_CHECK + 0.1
    pool._check_connection(idle)  # unused beyond IDLE_CHECK: checked

    assert (busy.pings, idle.pings) == (1, 2)
