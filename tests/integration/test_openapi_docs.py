"""The API documentation a newcomer reads at /schema: request and response examples from the API reference,
the error responses of each route, and the interactive pages."""

from __future__ import annotations

from litestar.testing import TestClient


def test_responses_carry_the_seed_examples_and_errors_are_documented(client: TestClient) -> None:
    spec = client.get("/schema/openapi.json").json()
    endpoint = spec["components"]["schemas"]["EndpointState"]["properties"]
    assert endpoint["inbound_webhook_url"]["examples"] == [
        "https://your-domain.com/telephony/exotel/inbound/support-agent"
    ]
    assert endpoint["created_at"]["examples"] == ["2026-03-18T10:00:00"]
    provider = spec["components"]["schemas"]["ProviderSettings"]["properties"]
    assert provider["public_base_url"]["examples"] == ["https://your-domain.com"]
    assert provider["twilio_max_concurrent"]["examples"] == [10]
    post = spec["paths"]["/api/settings/endpoints"]["post"]
    assert {"201", "409", "422"} <= set(post["responses"])
    assert "404" in spec["paths"]["/api/settings/endpoints/{endpoint_id}"]["delete"]["responses"]


def test_the_interactive_docs_are_served(client: TestClient) -> None:
    assert client.get("/schema").status_code == 200
    assert client.get("/schema/swagger").status_code == 200
