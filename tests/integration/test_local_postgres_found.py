"""The README's test command, run as written on a machine with a local PostgreSQL, runs the PostgreSQL tests."""

from __future__ import annotations

import socket

import psycopg
import pytest

from tests.conftest import find_local_postgres, local_postgres_candidates


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _listening(5432), reason="no PostgreSQL listens on 127.0.0.1:5432 here")
def test_a_local_server_on_the_usual_defaults_is_found_without_the_variable() -> None:
    url = find_local_postgres(local_postgres_candidates())
    assert url is not None, "a PostgreSQL answers on 127.0.0.1:5432 but the tests would skip"
    with psycopg.connect(url, connect_timeout=3) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
