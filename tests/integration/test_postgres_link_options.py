"""``TELEPHONY_DATABASE_URL``'s libpq options and its password, on the real local PostgreSQL: ``sslmode`` reaches
every connection as libpq documents it (on a server that offers TLS, ``require`` encrypts; on one that does not,
the start is refused with libpq's reason), and the password shows nowhere."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

import pytest

from service.container import build_container
from service.settings import ConfigurationError, Settings
from service.write.application import StoreUnavailableError
from tests.clients import api_client

pytestmark = pytest.mark.postgres

PASSWORD = "pw-never-shown-7f3a9c"  # the local server trusts loopback: any password is accepted


def _with(url: str, query: str = "", password: str | None = PASSWORD) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or "postgres"
    credentials = f"{user}:{password}@" if password else f"{user}@"
    return urlunsplit((parts.scheme, credentials + netloc, parts.path, query, ""))


def test_sslmode_from_the_url_reaches_the_pools_connections(
    postgres_url: str, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    plain = build_container(Settings(data_dir=tmp_path / "a", database_url=_with(postgres_url, "sslmode=disable")))
    try:
        with plain.app.recorder.datastore.get_connection() as connection:
            assert connection.info.get_parameters().get("sslmode", "disable") == "disable"
            assert connection.pgconn.ssl_in_use is False
    finally:
        plain.close()
    required = Settings(data_dir=tmp_path / "b", database_url=_with(postgres_url, "sslmode=require"))
    if server_offers_tls(postgres_url):
        secured = build_container(required)
        try:
            with secured.app.recorder.datastore.get_connection() as connection:
                assert connection.pgconn.ssl_in_use is True
        finally:
            secured.close()
        return
    # A server without TLS: libpq refuses to connect when the URL requires it, which proves the option arrived
    # (without it the start would succeed), and the start says libpq's reason, not only the pool's timeout.
    with caplog.at_level(logging.WARNING), pytest.raises(StoreUnavailableError) as refused:
        build_container(required)
    assert str(refused.value).startswith("PostgreSQL at postgresql://")
    assert "?sslmode=require is not reachable: " in str(refused.value)
    assert "server does not support SSL, but SSL was required" in str(refused.value)
    assert PASSWORD not in caplog.text + str(refused.value)


def server_offers_tls(url: str) -> bool:
    import psycopg

    with psycopg.connect(_with(url, "sslmode=prefer"), connect_timeout=5) as connection:
        return bool(connection.pgconn.ssl_in_use)


def test_an_unknown_url_parameter_is_a_clear_error(postgres_url: str, tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="'sslmod' is not supported"):
        Settings(data_dir=tmp_path, database_url=_with(postgres_url, "sslmod=require")).store_env()


def test_the_database_password_shows_in_no_log_line_and_no_health_answer(
    postgres_url: str, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path, database_url=_with(postgres_url), nats_url="off")
    with caplog.at_level(logging.DEBUG), api_client(settings) as client:
        assert client.post("/api/settings/endpoints", json={"phone_number": "+15551230001", "provider": "twilio"})
        health = client.get("/health/ready")
        assert health.status_code == 200
        assert PASSWORD not in health.text
    unreachable = Settings(data_dir=tmp_path / "x", database_url=_with(postgres_url).replace(":5432", ":1"))
    with caplog.at_level(logging.DEBUG), pytest.raises(StoreUnavailableError, match="Connection refused") as refused:
        build_container(unreachable)
    assert PASSWORD not in str(refused.value)
    assert PASSWORD not in caplog.text
