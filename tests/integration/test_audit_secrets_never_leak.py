"""With every secret set (twice: a second generation replaces the first), no secret value appears in any audit
output: the history routes, the export, the past states, or the verify and rebuild reports. Companion of
``test_secrets_never_leak.py``, which scans the live channels."""

from __future__ import annotations

from click.testing import CliRunner

from service.cli import main
from service.settings import Settings
from tests.clients import api_client
from tests.integration.test_secrets_never_leak import ROTATED, SECRETS


def test_no_secret_appears_in_history_export_or_past_states(settings: Settings) -> None:
    seen: list[bytes] = []
    base = {
        "public_base_url": "https://voice.example.com",
        "twilio_account_sid": "AC" + "5" * 32,
        "exotel_account_sid": "sid",
        "vobiz_auth_id": "vid",
    }
    with api_client(settings) as client:
        for generation in (SECRETS, ROTATED):
            client.put("/api/settings/telephony", json={**base, **generation}).raise_for_status()
            for provider in ("exotel", "vobiz", "twilio"):
                client.put("/api/settings/telephony", json={"provider": provider}).raise_for_status()
        client.put("/api/settings/telephony", json={"exotel_api_key": None}).raise_for_status()  # cleared: old shown
        endpoint = client.post("/api/settings/endpoints", json={"phone_number": "+15551112222", "provider": "twilio"})
        endpoint_id = endpoint.json()["id"]

        history = client.get("/api/audit/events", params={"limit": 1000})
        assert history.json()["next_after"] is None
        positions = [event["position"] for event in history.json()["events"]]
        times = [event["occurred_at"] for event in history.json()["events"]]
        responses = [
            history,
            client.get("/api/settings/telephony/history"),
            client.get(f"/api/settings/endpoints/{endpoint_id}/history"),
            client.get("/api/audit/events", params={"type": "ProviderUpdated", "actor": "tester"}),
            *(client.get("/api/settings/telephony", params={"at_position": p}) for p in positions),
            *(client.get("/api/settings/telephony", params={"as_of": t}) for t in times),
            client.get("/api/settings/endpoints", params={"at_position": positions[-1]}),
            client.get(f"/api/settings/endpoints/{endpoint_id}", params={"as_of": times[-1]}),
        ]
        for response in responses:
            assert response.status_code == 200, response.text
            seen.append(response.content)

    env = {"TELEPHONY_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["TELEPHONY_DATABASE_URL"] = settings.database_url
    runner = CliRunner()
    for command in (["audit", "export"], ["audit", "verify"], ["rebuild"]):
        result = runner.invoke(main, command, env=env)
        assert result.exit_code == 0, result.output
        seen.append(result.stdout_bytes + result.stderr_bytes)

    blob = b"\n".join(seen)
    assert b"****" + SECRETS["twilio_auth_token"][-4:].encode() in blob  # the scan saw masked secrets
    assert b'"exotel_api_key":{"old":"****' in blob
    for secret in (*SECRETS.values(), *ROTATED.values()):
        assert secret.encode() not in blob
