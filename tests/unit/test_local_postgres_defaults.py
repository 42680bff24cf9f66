"""Without TELEPHONY_TEST_DATABASE_URL the tests look for a local PostgreSQL on the usual defaults first."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.conftest import find_local_postgres, local_postgres_candidates


def test_libpq_variables_come_first_then_postgres_then_the_login_user() -> None:
    candidates = local_postgres_candidates({"PGUSER": "alice", "PGPORT": "5433", "PGPASSWORD": "p@ss"})
    assert urlsplit(candidates[0]).username == "alice"
    assert urlsplit(candidates[0]).password == "p%40ss"  # quoted, so the URL still parses
    assert urlsplit(candidates[0]).port == 5433
    assert urlsplit(candidates[1]).username == "postgres"
    assert all(urlsplit(candidate).path == "/postgres" for candidate in candidates)


def test_the_default_is_the_loopback_address_on_5432() -> None:
    first = urlsplit(local_postgres_candidates({})[0])
    assert (first.hostname, first.port, first.username) == ("127.0.0.1", 5432, "postgres")


def test_a_socket_directory_in_pghost_is_not_used_as_a_host_name() -> None:
    assert urlsplit(local_postgres_candidates({"PGHOST": "/var/run/postgresql"})[0]).hostname == "127.0.0.1"


def test_nothing_listening_means_no_local_server() -> None:
    assert find_local_postgres(["postgresql://postgres@127.0.0.1:1/postgres"]) is None
