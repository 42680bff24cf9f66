"""The audit commands against the store of a running ``serve``: rebuild compares its replay with what the live
service serves, verify passes and gives the head digest, export writes the history."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.clients import TEST_API_KEY
from tests.e2e.conftest import ServiceProcess, run_cli
from tests.seed import TWILIO


def test_rebuild_verify_and_export_beside_a_running_service(service_factory: Callable[..., ServiceProcess]) -> None:
    server = service_factory(env={"TELEPHONY_NATS_URL": "off"})
    assert server.http is not None
    server.http.put("/api/settings/telephony", json=TWILIO).raise_for_status()
    for n in range(3):
        created = server.http.post(
            "/api/settings/endpoints", json={"phone_number": f"+1555000000{n}", "provider": "twilio"}
        )
        created.raise_for_status()
    server.http.put(f"/api/settings/endpoints/{created.json()['id']}", json={"label": "changed"}).raise_for_status()
    data_dir = ["--data-dir", str(server.data_dir)]

    rebuilt = run_cli("rebuild", "--url", server.url, *data_dir, env={"TELEPHONY_API_KEY": TEST_API_KEY})
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert ": 3 endpoints" in rebuilt.stdout
    assert f"no difference from the service at {server.url}" in rebuilt.stdout

    exported = run_cli("audit", "export", *data_dir)
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [line["type"] for line in lines] == ["ProviderUpdated", *["EndpointCreated"] * 3, "EndpointUpdated"]
    assert {line["actor"] for line in lines} == {"tester"}

    server.stop()  # sealed at shutdown
    verified = run_cli("audit", "verify", *data_dir)
    assert verified.returncode == 0, verified.stderr
    assert "0 later events" in verified.stdout
    assert "head digest: " in verified.stdout
