"""``telephony-settings config export | plan | apply`` against a real ``serve``: an export plans no change, an edited
file plans its changes (exit 2) and applies them as one change set, --prune deletes what the file omits, no secret
value is ever printed or written, and every failure (a missing variable, the service's refusals, a change between
plan and apply, no service, no key) exits 1 with a message and no traceback."""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from service.config.client import SettingsClient, VersionConflict
from tests.clients import TEST_API_KEY, TEST_API_KEYS
from tests.e2e.conftest import COMMAND_TIMEOUT, ServiceProcess, free_port, run_cli, serve_command, service_environment
from tests.seed import TWILIO

READ_KEY = "config-reader-0123456789abcdef"
TWILIO_TOKEN = "e2e-twilio-token-R7q2"
EXOTEL_KEY = "e2e-exotel-key-M4x9"
EXOTEL_TOKEN = "e2e-exotel-token-K8z3"
NEW_TWILIO_TOKEN = "e2e-rotated-token-W5v1"
SECRETS = (TWILIO_TOKEN, EXOTEL_KEY, EXOTEL_TOKEN, NEW_TWILIO_TOKEN)
SECRET_ENV = {"TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "EXOTEL_API_KEY": EXOTEL_KEY, "EXOTEL_API_TOKEN": EXOTEL_TOKEN}
ENDPOINTS = "/api/settings/endpoints"
NUMBERS = ("+15550001000", "+15550001001", "+15550001002")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, service_factory: Callable[..., ServiceProcess]) -> ServiceProcess:
    """A service (on each backend) with real secrets and three endpoints (and a second key that may only read)."""
    database_url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    server = service_factory(
        database_url=database_url,
        env={"TELEPHONY_NATS_URL": "off", "TELEPHONY_API_KEYS": f"{TEST_API_KEYS},reader:{READ_KEY}:read"},
    )
    assert server.http is not None
    secrets = {"twilio_auth_token": TWILIO_TOKEN, "exotel_api_key": EXOTEL_KEY, "exotel_api_token": EXOTEL_TOKEN}
    server.http.put("/api/settings/telephony", json={**TWILIO, **secrets}).raise_for_status()
    for n, number in enumerate(NUMBERS):
        body = {"phone_number": number, "provider": "twilio", "inbound_agent_name": f"agent-{n}", "label": f"Line {n}"}
        server.http.post(ENDPOINTS, json=body).raise_for_status()
    return server


def config(server: ServiceProcess, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """``telephony-settings config ARGS`` against ``server``; checks that no secret value and no traceback shows."""
    environ = {"TELEPHONY_URL": server.url, "TELEPHONY_API_KEY": TEST_API_KEY, **env}
    result = run_cli("config", *args, env=environ, cwd=cwd)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    for secret in SECRETS:
        assert secret not in output, f"a secret value was printed by config {' '.join(args)}"
    return result


def by_number(server: ServiceProcess) -> dict[str, dict]:
    assert server.http is not None
    return {endpoint["phone_number"]: endpoint for endpoint in server.http.get(ENDPOINTS).json()}


def test_export_plans_no_change_and_an_edited_file_is_planned_then_applied(
    server: ServiceProcess, tmp_path: Path
) -> None:
    exported = config(server, "export", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    text = exported.stdout
    assert "  twilio_auth_token: ${TWILIO_AUTH_TOKEN}\n" in text
    assert "  exotel_api_key: ${EXOTEL_API_KEY}\n" in text
    assert "  vobiz_auth_token: null\n" in text
    for secret in SECRETS:
        assert secret[-4:] not in text  # not even the last characters a mask would show
    assert "****" not in text
    assert [line for line in text.splitlines() if line.startswith('  "+')] == [f'  "{n}":' for n in NUMBERS]

    written = config(server, "export", "-o", "settings.yaml", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "settings.yaml").read_text() == text

    unchanged = config(server, "plan", "settings.yaml", cwd=tmp_path, **SECRET_ENV)
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert "No changes: the service already matches the file." in unchanged.stdout

    edited = text.replace("label: Line 1\n", "label: Line one\n") + (
        '  "+1 555 000 2000":\n    provider: twilio\n    inbound_agent_name: new-agent\n'
    )
    (tmp_path / "settings.yaml").write_text(edited)
    rotated = {**SECRET_ENV, "TWILIO_AUTH_TOKEN": NEW_TWILIO_TOKEN}
    planned = config(server, "plan", "settings.yaml", cwd=tmp_path, **rotated)
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert "  ~ twilio_auth_token: (secret changed)\n" in planned.stdout
    assert '  ~ +15550001001\n      label: "Line 1" → "Line one"\n' in planned.stdout
    assert "  + +15550002000\n" in planned.stdout
    assert "Plan: 1 to create, 1 to update, 0 to delete; provider settings: 1 field to change." in planned.stdout
    assert by_number(server)["+15550001001"]["label"] == "Line 1", "a plan changes nothing"

    applied = config(server, "apply", "settings.yaml", "--yes", cwd=tmp_path, **rotated)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Applied change set " in applied.stdout
    assert ": 1 created, 1 updated, 0 deleted; provider settings updated." in applied.stdout
    endpoints = by_number(server)
    assert endpoints["+15550001001"]["label"] == "Line one"
    assert endpoints["+15550002000"]["inbound_agent_name"] == "new-agent"
    assert server.http is not None
    assert server.http.get("/api/settings/telephony/credentials").json()["twilio_auth_token"] == NEW_TWILIO_TOKEN

    again = config(server, "plan", "settings.yaml", cwd=tmp_path, **rotated)
    assert again.returncode == 0, again.stdout + again.stderr
    nothing = config(server, "apply", "settings.yaml", cwd=tmp_path, **rotated)  # no --yes: nothing to confirm
    assert nothing.returncode == 0, nothing.stderr
    assert "No changes" in nothing.stdout


def test_prune_deletes_the_endpoints_the_file_omits(server: ServiceProcess, tmp_path: Path) -> None:
    text = config(server, "export", cwd=tmp_path).stdout
    omitted = text.replace(
        '  "+15550001002":\n    provider: twilio\n    inbound_agent_name: agent-2\n    outbound_agent_name: null\n'
        "    label: Line 2\n    is_active: true\n",
        "",
    )
    assert omitted != text
    (tmp_path / "settings.yaml").write_text(omitted)

    kept = config(server, "plan", "settings.yaml", cwd=tmp_path, **SECRET_ENV)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "1 endpoint on the service not in the file: kept (--prune would delete them)." in kept.stdout

    pruned = config(server, "plan", "settings.yaml", "--prune", cwd=tmp_path, **SECRET_ENV)
    assert pruned.returncode == 2, pruned.stdout + pruned.stderr
    assert "  - +15550001002 (Line 2)\n" in pruned.stdout

    applied = config(server, "apply", "settings.yaml", "--prune", "--yes", cwd=tmp_path, **SECRET_ENV)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert ": 0 created, 0 updated, 1 deleted." in applied.stdout
    assert sorted(by_number(server)) == ["+15550001000", "+15550001001"]


def test_a_missing_variable_and_the_services_refusals_are_errors_at_their_lines(
    server: ServiceProcess, tmp_path: Path
) -> None:
    (tmp_path / "missing.yaml").write_text("version: 1\ntelephony:\n  twilio_auth_token: ${NOT_SET_ANYWHERE}\n")
    missing = config(server, "plan", "missing.yaml", cwd=tmp_path)
    assert missing.returncode == 1
    assert (
        "missing.yaml: line 3: environment variable NOT_SET_ANYWHERE is not set (telephony.twilio_auth_token)"
        in missing.stderr
    )

    (tmp_path / "invalid.yaml").write_text(
        "version: 1\n"
        "telephony:\n"
        "  public_base_url: http://localhost\n"
        "endpoints:\n"
        '  "+15550001000":\n'
        "    inbound_agent_name: not a valid name\n"
        '  "+15550003000":\n'
        "    provider: twilio\n"
    )
    for command in (["plan", "invalid.yaml"], ["apply", "invalid.yaml", "--yes"]):
        refused = config(server, *command, cwd=tmp_path)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "invalid.yaml: the service refused the changes: nothing was changed" in refused.stderr
        assert "invalid.yaml: line 3: telephony.public_base_url: must be an https:// URL" in refused.stderr
        assert "invalid.yaml: line 6: endpoint +15550001000: inbound_agent_name: " in refused.stderr
    assert "+15550003000" not in by_number(server), "a refused change set stores nothing"

    (tmp_path / "provider.yaml").write_text('version: 1\nendpoints:\n  "+15550001000":\n    provider: exotel\n')
    fixed = config(server, "plan", "provider.yaml", cwd=tmp_path)
    assert fixed.returncode == 1
    assert "provider.yaml: line 4: endpoint +15550001000 is a twilio number on the service, not exotel" in fixed.stderr

    (tmp_path / "literal.yaml").write_text(f"version: 1\ntelephony:\n  exotel_api_key: {EXOTEL_KEY}\n")
    literal = config(server, "plan", "literal.yaml", cwd=tmp_path)
    assert literal.returncode == 0, literal.stdout + literal.stderr  # the same key as the service's
    assert "line 3: exotel_api_key is written literally; use ${EXOTEL_API_KEY}" in literal.stderr


def test_a_change_between_plan_and_apply_is_refused(server: ServiceProcess, tmp_path: Path) -> None:
    text = config(server, "export", cwd=tmp_path).stdout
    (tmp_path / "settings.yaml").write_text(text.replace("label: Line 0\n", "label: Line zero\n"))
    environ = service_environment(extra={"TELEPHONY_URL": server.url, "TELEPHONY_API_KEY": TEST_API_KEY, **SECRET_ENV})
    process = subprocess.Popen(
        [*serve_command()[:-1], "config", "apply", "settings.yaml"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environ,
        cwd=tmp_path,
    )
    try:
        shown = read_until(process, b"Apply these changes?")
        assert b'label: "Line 0" \xe2\x86\x92 "Line zero"' in shown
        assert server.http is not None
        other = server.http.get(ENDPOINTS, params={"phone_number": "+15550001002"}).json()[0]
        server.http.put(f"{ENDPOINTS}/{other['id']}", json={"label": "changed meanwhile"}).raise_for_status()
        _, stderr = process.communicate(b"y\n", timeout=COMMAND_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 1
    assert "settings changed since the plan; run plan again" in stderr.decode()
    assert by_number(server)["+15550001000"]["label"] == "Line 0"

    # The same through the client: a change set sent with a version that is no longer the latest.
    with SettingsClient(server.url, TEST_API_KEY) as client:
        stale = client.current()
        assert stale.version is not None
        server.http.put(f"{ENDPOINTS}/{other['id']}", json={"label": "and again"}).raise_for_status()
        body = {"endpoints": [{"op": "update", "id": by_number(server)["+15550001000"]["id"], "label": "late"}]}
        with pytest.raises(VersionConflict):
            client.submit(body, version=stale.version, dry_run=False)
        fresh = client.current()
        assert fresh.version is not None
        assert fresh.version > stale.version
        answer = client.submit(body, version=fresh.version, dry_run=False)
    assert answer["endpoints"][0]["result"] == "updated"
    assert by_number(server)["+15550001000"]["label"] == "late"


def read_until(process: subprocess.Popen[bytes], marker: bytes, timeout: float = COMMAND_TIMEOUT) -> bytes:
    """What ``process`` wrote on stdout up to ``marker`` (it waits for input there)."""
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {marker!r} within {timeout} s; so far: {seen!r}"
        ready, _, _ = select.select([process.stdout], [], [], remaining)
        if ready:
            chunk = os.read(process.stdout.fileno(), 65536)
            assert chunk, f"stdout closed before {marker!r}: {seen!r}; exit {process.wait()}"
            seen += chunk
    return seen


def test_no_service_no_key_a_refused_key_and_a_key_short_of_scopes(server: ServiceProcess, tmp_path: Path) -> None:
    helped = run_cli("config", "export", "--help", cwd=tmp_path)
    assert "[env TELEPHONY_URL]" in helped.stdout
    assert "default: http://127.0.0.1:8000" in " ".join(helped.stdout.split())
    closed = f"http://127.0.0.1:{free_port()}"
    unreachable = config(server, "export", "--url", closed, cwd=tmp_path)
    assert unreachable.returncode == 1
    assert f"Error: cannot reach the service at {closed} (read the provider settings)" in unreachable.stderr

    no_key = config(server, "export", cwd=tmp_path, TELEPHONY_API_KEY="")
    assert no_key.returncode == 1
    assert "no API key: set TELEPHONY_API_KEY" in no_key.stderr

    wrong = config(server, "export", cwd=tmp_path, TELEPHONY_API_KEY="not-a-key-0123456789")
    assert wrong.returncode == 1
    assert "the service refused the API key (401)" in wrong.stderr

    (tmp_path / "settings.yaml").write_text(
        'version: 1\ntelephony:\n  twilio_auth_token: ${TWILIO_AUTH_TOKEN}\nendpoints:\n  "+15550001000":\n'
        "    label: read-only\n"
    )
    reader = config(server, "plan", "settings.yaml", cwd=tmp_path, TELEPHONY_API_KEY=READ_KEY, **SECRET_ENV)
    assert reader.returncode == 2, reader.stdout + reader.stderr  # a read key plans (CI on a pull request) ...
    assert '      label: "Line 0" → "read-only"\n' in reader.stdout
    assert "Secrets were compared by their last 4 characters only" in reader.stdout
    assert "note: the service did not check the changes: that needs an API key with the write scope" in reader.stderr
    applying = config(server, "apply", "settings.yaml", "--yes", cwd=tmp_path, TELEPHONY_API_KEY=READ_KEY, **SECRET_ENV)
    assert applying.returncode == 1  # ... but does not apply
    assert "Error: the API key may not apply the changes (403): it needs the write scope" in applying.stderr
    assert by_number(server)["+15550001000"]["label"] == "Line 0"

    usage = config(server, "plan", cwd=tmp_path)
    assert usage.returncode == 1  # not 2: that means "changes" to CI
    assert "Missing argument 'FILE'" in usage.stderr
