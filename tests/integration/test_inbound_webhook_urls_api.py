"""Stories of the computed ``inbound_webhook_url``: ``{public_base_url}/telephony/{provider}/inbound/{agent}``."""

from __future__ import annotations

from litestar.testing import TestClient

from tests.integration.support import ENDPOINTS, configure, create, endpoint_url
from tests.seed import TWILIO


def _urls(client: TestClient) -> dict[str, str | None]:
    return {e["phone_number"]: e["inbound_webhook_url"] for e in client.get(ENDPOINTS).json()}


def test_the_url_is_null_until_the_service_has_a_public_base_url(client: TestClient) -> None:
    created = create(client, phone_number="+15551234567", provider="twilio", inbound_agent_name="support-agent")

    assert created["inbound_webhook_url"] is None
    assert client.get(endpoint_url(created["id"])).json()["inbound_webhook_url"] is None

    configure(client, TWILIO)

    expected = "https://your-domain.com/telephony/twilio/inbound/support-agent"
    assert client.get(endpoint_url(created["id"])).json()["inbound_webhook_url"] == expected
    assert _urls(client) == {"+15551234567": expected}


def test_the_url_is_null_while_the_endpoint_has_no_inbound_agent(client: TestClient) -> None:
    configure(client, TWILIO)

    outbound_only = create(client, phone_number="+15551234567", provider="twilio", outbound_agent_name="sales-agent")
    assert outbound_only["inbound_webhook_url"] is None

    url = endpoint_url(outbound_only["id"])
    with_agent = client.put(url, json={"inbound_agent_name": "support-agent"}).json()
    assert with_agent["inbound_webhook_url"] == "https://your-domain.com/telephony/twilio/inbound/support-agent"

    without_agent = client.put(url, json={"inbound_agent_name": None}).json()
    assert without_agent["inbound_webhook_url"] is None
    assert client.get(url).json()["inbound_webhook_url"] is None


def test_every_endpoint_follows_a_later_change_of_the_public_base_url(client: TestClient) -> None:
    configure(client, TWILIO)
    create(client, phone_number="+15551234567", provider="twilio", inbound_agent_name="support-agent")
    create(client, phone_number="+919876543210", provider="exotel", inbound_agent_name="hindi.support_v2")
    create(client, phone_number="+919876543211", provider="vobiz", inbound_agent_name="vobiz-agent", is_active=False)
    create(client, phone_number="+442071838750", provider="twilio", outbound_agent_name="sales-agent")

    configure(client, {"public_base_url": "https://voice.example.org/base/"})

    expected = {
        "+15551234567": "https://voice.example.org/base/telephony/twilio/inbound/support-agent",
        "+919876543210": "https://voice.example.org/base/telephony/exotel/inbound/hindi.support_v2",
        "+919876543211": "https://voice.example.org/base/telephony/vobiz/inbound/vobiz-agent",
        "+442071838750": None,
    }
    assert _urls(client) == expected
    for endpoint in client.get(ENDPOINTS).json():
        assert (
            client.get(endpoint_url(endpoint["id"])).json()["inbound_webhook_url"] == expected[endpoint["phone_number"]]
        )

    configure(client, {"public_base_url": "https://hooks.example.net:8443"})

    assert _urls(client)["+919876543210"] == "https://hooks.example.net:8443/telephony/exotel/inbound/hindi.support_v2"
    assert all(
        url is None or url.startswith("https://hooks.example.net:8443/telephony/") for url in _urls(client).values()
    )
