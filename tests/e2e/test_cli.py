"""The ``telephony-settings serve`` command itself: its help, where it keeps its data, and how it refuses a
configuration it cannot use."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import ServiceProcess, free_port, run_cli

ENDPOINTS = "/api/settings/endpoints"


def run_serve(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_cli("serve", *args, env=env, cwd=cwd)


def test_serve_help_documents_host_port_and_data_dir(tmp_path: Path) -> None:
    result = run_serve("--help", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    for option in ("--host", "--port", "--data-dir"):
        assert option in result.stdout
    assert "127.0.0.1" in result.stdout  # the default host
    assert "8000" in result.stdout  # the default port
    assert "TELEPHONY_DATA_DIR" in result.stdout
    assert list(tmp_path.iterdir()) == [], "--help must not create anything"


def test_serve_without_options_keeps_its_data_in_dot_data(
    service_factory: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    workdir = tmp_path / "workdir"
    server = service_factory(data_dir=None, cwd=workdir)
    assert server.http is not None
    created = server.http.post(ENDPOINTS, json={"phone_number": "+15551234567", "provider": "twilio"})
    assert created.status_code == 201, created.text

    server.restart()

    assert (workdir / "data" / "events.db").is_file()
    assert server.http is not None
    assert server.http.get(ENDPOINTS).json() == [created.json()]


def test_serve_takes_the_data_dir_from_the_environment(
    service_factory: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    data_dir = tmp_path / "from-env"
    server = service_factory(data_dir=None, env={"TELEPHONY_DATA_DIR": str(data_dir)})
    assert server.http is not None
    assert server.http.post(ENDPOINTS, json={"phone_number": "+15551234567", "provider": "twilio"}).status_code == 201

    assert (data_dir / "events.db").is_file()


def test_serve_refuses_an_unusable_database_url(tmp_path: Path) -> None:
    result = run_serve(
        "--port", "0", "--data-dir", str(tmp_path / "data"), env={"TELEPHONY_DATABASE_URL": "mysql://db/x"}
    )

    assert result.returncode != 0
    assert "TELEPHONY_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_says_why_postgresql_cannot_be_reached_in_one_line_without_the_password(tmp_path: Path) -> None:
    password = "pw-not-in-the-error-31f"
    port = free_port()  # nothing listens there
    url = f"postgresql://settings:{password}@127.0.0.1:{port}/telephony?sslmode=prefer"
    result = run_serve("--port", "0", "--data-dir", str(tmp_path / "data"), env={"TELEPHONY_DATABASE_URL": url})

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"Error: PostgreSQL at postgresql://settings@127.0.0.1:{port}/telephony?sslmode=prefer is not reachable: "
    ), result.stderr
    assert "Connection refused" in result.stderr  # libpq's reason, not the pool's "couldn't get a connection"
    assert password not in result.stderr + result.stdout


def test_serve_refuses_a_wrong_cipher_key_with_a_clear_message_and_touches_nothing(tmp_path: Path) -> None:
    from eventsourcing.cipher import AESCipher

    from service.container import build_container
    from service.settings import Settings
    from service.write.commands import Actor, NewEndpoint

    data = tmp_path / "data"
    right = AESCipher.create_key(32)
    container = build_container(Settings(data_dir=data, nats_url="off", cipher_key=right))
    container.app.create_endpoint(NewEndpoint(phone_number="+15550001111", provider="twilio"), Actor())
    container.close()
    before = (data / "events.db").read_bytes()

    no_keys = {"TELEPHONY_API_KEYS": ""}  # so that a start that got further would create an admin key
    for env in ({**no_keys, "TELEPHONY_CIPHER_KEY": AESCipher.create_key(32)}, no_keys):
        result = run_serve("--port", "0", "--data-dir", str(data), env=env)
        assert result.returncode != 0
        assert "TELEPHONY_CIPHER_KEY" in result.stderr
        assert "Nothing was changed" in result.stderr
        assert "Traceback" not in result.stderr
    assert (data / "events.db").read_bytes() == before
    assert not (data / "api-keys").exists()  # a refused start creates no admin key either
