"""A newcomer's first start, through the real ``telephony-settings`` command: with no ``TELEPHONY_API_KEYS`` the
server makes an admin key, shows it once with how to use it, keeps only its hash, and keeps using it after a restart.
``keys new`` makes further keys (with the entry to configure), ``keys cipher`` a key for encryption at rest."""

from __future__ import annotations

import base64
import hashlib
import re
import stat
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.e2e.conftest import REQUEST_TIMEOUT, ServiceProcess, run_cli
from tests.seed import SUPPORT_LINE, TWILIO

TELEPHONY = "/api/settings/telephony"
CREDENTIALS = "/api/settings/telephony/credentials"
ENDPOINTS = "/api/settings/endpoints"
NO_KEYS = {"TELEPHONY_API_KEYS": ""}  # service_environment drops empty values: the variable is not set at all
# The README: "KEY=tsk_...  # the admin key printed at first start".
GENERATED_KEY = re.compile(r"tsk_[A-Za-z0-9_-]{20,}")


def client(server: ServiceProcess, key: str | None) -> httpx.Client:
    """A client of ``server`` that sends ``key`` (or no Authorization header at all)."""
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT, trust_env=False, headers=headers)


def printed_keys(output: str) -> list[str]:
    return GENERATED_KEY.findall(output)


def test_the_first_start_without_keys_shows_an_admin_key_once_that_works_and_is_kept_only_hashed(
    service_factory: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    server = service_factory(env=NO_KEYS)
    output = server.output()

    keys = printed_keys(output)
    assert len(keys) == 1, f"expected the admin key exactly once in the output:\n{output}"
    [admin_key] = keys
    assert "Authorization: Bearer" in output  # how to use it
    assert "keys new" in output  # how to make more

    with client(server, admin_key) as admin, client(server, None) as anonymous:
        assert admin.get(TELEPHONY).status_code == 200
        assert admin.put(TELEPHONY, json=TWILIO).status_code == 200  # all scopes: write ...
        assert admin.get(CREDENTIALS).status_code == 200  # ... and secrets
        refused = anonymous.get(TELEPHONY)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].lower().startswith("bearer")
    assert server.http is not None
    assert server.http.get(TELEPHONY).status_code == 401  # the test suite's usual key is not configured here

    key_file = tmp_path / "data" / "api-keys"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    kept = key_file.read_text()
    assert admin_key not in kept
    assert hashlib.sha256(admin_key.encode()).hexdigest() in kept.lower()
    assert printed_keys(kept) == []


def test_after_a_restart_the_admin_key_is_not_shown_again_and_still_works(
    service_factory: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    server = service_factory(env=NO_KEYS)
    [admin_key] = printed_keys(server.output())
    with client(server, admin_key) as admin:
        created = admin.post(ENDPOINTS, json=SUPPORT_LINE)
        assert created.status_code == 201, created.text
    kept = (tmp_path / "data" / "api-keys").read_text()

    server.restart()
    output = server.output()

    assert admin_key not in output
    assert printed_keys(output) == [], f"a new key was shown on restart:\n{output}"
    assert (tmp_path / "data" / "api-keys").read_text() == kept
    with client(server, admin_key) as admin, client(server, None) as anonymous:
        listed = admin.get(ENDPOINTS)
        assert listed.status_code == 200, listed.text
        assert listed.json() == [created.json()]
        assert anonymous.get(ENDPOINTS).status_code == 401


def test_a_key_made_by_keys_new_works_with_exactly_its_scopes_on_a_fresh_server(
    service_factory: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    made = run_cli("keys", "new", "router", "--scopes", "read+write", cwd=tmp_path)

    assert made.returncode == 0, made.stderr
    lines = dict(line.split(":", 1) for line in made.stdout.splitlines() if line.strip())
    key, line = lines["key"].strip(), lines["entry"].strip()
    assert key
    assert key not in line  # the entry keeps only the hash
    assert line.startswith("router:")
    assert line.endswith(":read+write")
    assert "TELEPHONY_API_KEYS" in made.stderr  # says where the entry goes
    assert list(tmp_path.iterdir()) == []  # nothing kept anywhere

    server = service_factory(env={"TELEPHONY_API_KEYS": line})
    with client(server, key) as router, client(server, None) as anonymous:
        assert router.get(TELEPHONY).status_code == 200  # read
        updated = router.put(TELEPHONY, json=TWILIO)  # write
        assert updated.status_code == 200, updated.text
        assert router.post(ENDPOINTS, json=SUPPORT_LINE).status_code == 201  # write
        denied = router.get(CREDENTIALS)  # not secrets
        assert denied.status_code == 403, denied.text
        assert "secrets" in denied.json()["detail"]
        assert TWILIO["twilio_auth_token"] not in denied.text
        assert anonymous.get(TELEPHONY).status_code == 401
    assert key not in server.output()
    assert printed_keys(server.output()) == []  # configured keys: no admin key is generated
    assert not (tmp_path / "data" / "api-keys").exists()


def test_keys_new_gives_a_different_key_each_time() -> None:
    first = run_cli("keys", "new", "a")
    second = run_cli("keys", "new", "a")

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert first.stdout != second.stdout
    assert "entry: a:" in first.stdout
    assert first.stdout.strip().endswith(":read")  # the default scope


def test_keys_new_refuses_an_unknown_scope_without_printing_a_key() -> None:
    result = run_cli("keys", "new", "router", "--scopes", "read+everything")

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "scope" in result.stderr.lower()
    assert printed_keys(result.stdout + result.stderr) == []


def test_keys_cipher_prints_a_fresh_base64_32_byte_key() -> None:
    first = run_cli("keys", "cipher")
    second = run_cli("keys", "cipher")

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    key = first.stdout.strip()
    assert len(base64.b64decode(key, validate=True)) == 32
    assert len(base64.b64decode(second.stdout.strip(), validate=True)) == 32
    assert key != second.stdout.strip()


def test_serve_refuses_a_bad_key_configuration_without_showing_the_key(tmp_path: Path) -> None:
    key = "a-perfectly-good-key-0123456789"

    result = run_cli(
        "serve", "--port", "0", "--data-dir", str(tmp_path / "data"), env={"TELEPHONY_API_KEYS": f"ops:{key}:root"}
    )

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "scope" in result.stderr.lower()
    assert key not in result.stdout + result.stderr
    assert not (tmp_path / "data" / "api-keys").exists()  # no fallback to a generated admin key


def test_serve_refuses_a_bare_key_given_as_the_configuration_without_showing_it(tmp_path: Path) -> None:
    """A likely mistake: TELEPHONY_API_KEYS set to the key ``keys new`` printed instead of to its entry."""
    made = run_cli("keys", "new", "router")
    key = dict(line.split(":", 1) for line in made.stdout.splitlines() if line.strip())["key"].strip()

    result = run_cli("serve", "--port", "0", "--data-dir", str(tmp_path / "data"), env={"TELEPHONY_API_KEYS": key})

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert key not in result.stdout + result.stderr


def test_configured_keys_replace_the_first_start_key_and_the_log_says_which_file_is_ignored(
    service_factory: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    server = service_factory(env=NO_KEYS)
    [admin_key] = printed_keys(server.output())
    server.stop()

    server.extra_env = {}  # back to the tests' TELEPHONY_API_KEYS
    server.start()
    output = server.output()

    key_file = tmp_path / "data" / "api-keys"
    warning = next((line for line in output.splitlines() if "TELEPHONY_API_KEYS is set" in line), None)
    assert warning is not None, f"nothing says why the admin key stopped working:\n{output}"
    assert str(key_file) in warning
    assert admin_key not in output
    with client(server, admin_key) as admin:
        assert admin.get(ENDPOINTS).status_code == 401
