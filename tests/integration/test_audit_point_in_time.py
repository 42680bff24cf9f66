"""The settings at a past moment (``as_of`` / ``at_position``): before an endpoint existed, between its updates, after
its deletion; the same shapes as the live GETs, folded from the events up to that moment; on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import TestClient

from service.settings import Settings
from tests.clients import api_client
from tests.integration.support import ENDPOINTS, TELEPHONY, endpoint_url
from tests.seed import SEED_DEFAULTS, TWILIO

NUMBER = "+15551234567"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with api_client(settings) as client:
        yield client


def moment() -> str:
    """Now, as a query value; the pause keeps event timestamps strictly on one side of it."""
    time.sleep(0.005)
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    time.sleep(0.005)
    return now


def at(client: TestClient, url: str, **params: Any) -> Any:
    response = client.get(url, params=params)
    return response.status_code, response.json()


@pytest.fixture
def timeline(client: TestClient) -> dict[str, Any]:
    """A provider configured, an endpoint created, updated twice, the base URL moved, the endpoint deleted; with the
    moments between the steps."""
    moments = {"before": moment()}
    client.put(TELEPHONY, json={**TWILIO, "public_base_url": "https://old.example.com"}).raise_for_status()
    moments["configured"] = moment()
    created = client.post(
        ENDPOINTS, json={"phone_number": NUMBER, "provider": "twilio", "inbound_agent_name": "agent-1"}
    ).json()
    moments["created"] = moment()
    client.put(endpoint_url(created["id"]), json={"inbound_agent_name": "agent-2"}).raise_for_status()
    moments["updated once"] = moment()
    client.put(endpoint_url(created["id"]), json={"label": "second update"}).raise_for_status()
    moments["updated twice"] = moment()
    client.put(TELEPHONY, json={"public_base_url": "https://new.example.com"}).raise_for_status()
    moments["moved"] = moment()
    client.delete(endpoint_url(created["id"])).raise_for_status()
    moments["deleted"] = moment()
    return {"id": created["id"], "created": created, "moments": moments}


def test_before_the_create_the_endpoint_does_not_exist(client: TestClient, timeline: dict[str, Any]) -> None:
    url, when = endpoint_url(timeline["id"]), timeline["moments"]
    assert at(client, url, as_of=when["configured"])[0] == 404
    assert at(client, ENDPOINTS, as_of=when["configured"]) == (200, [])
    assert at(client, TELEPHONY, as_of=when["before"]) == (200, SEED_DEFAULTS)
    assert at(client, ENDPOINTS, at_position=0) == (200, [])


def test_between_updates_the_endpoint_is_as_it_was_then(client: TestClient, timeline: dict[str, Any]) -> None:
    url, when = endpoint_url(timeline["id"]), timeline["moments"]

    status, then = at(client, url, as_of=when["created"])
    assert status == 200
    assert then == timeline["created"]  # exactly what the create answered
    status, then = at(client, url, as_of=when["updated once"])
    assert (then["inbound_agent_name"], then["label"]) == ("agent-2", None)
    assert then["inbound_webhook_url"] == "https://old.example.com/telephony/twilio/inbound/agent-2"
    status, then = at(client, url, as_of=when["moved"])
    assert then["label"] == "second update"
    assert then["inbound_webhook_url"] == "https://new.example.com/telephony/twilio/inbound/agent-2"
    assert at(client, ENDPOINTS, as_of=when["updated twice"])[1][0]["label"] == "second update"
    assert at(client, TELEPHONY, as_of=when["updated twice"])[1]["public_base_url"] == "https://old.example.com"
    assert at(client, TELEPHONY, as_of=when["moved"])[1]["public_base_url"] == "https://new.example.com"


def test_after_the_delete_the_endpoint_is_gone_but_just_before_it_is_there(
    client: TestClient, timeline: dict[str, Any]
) -> None:
    url, when = endpoint_url(timeline["id"]), timeline["moments"]
    assert at(client, url, as_of=when["deleted"])[0] == 404
    assert at(client, ENDPOINTS, as_of=when["deleted"]) == (200, [])
    assert at(client, url, as_of=when["moved"])[0] == 200
    listed = at(client, ENDPOINTS, as_of=when["moved"], provider="twilio", phone_number="+1 555 123 4567")[1]
    assert [item["id"] for item in listed] == [timeline["id"]]  # the live filters work on the past too
    assert at(client, ENDPOINTS, as_of=when["moved"], provider="exotel")[1] == []


def test_at_position_replays_the_events_up_to_that_position(client: TestClient, timeline: dict[str, Any]) -> None:
    history = client.get(f"{endpoint_url(timeline['id'])}/history").json()["events"]
    by_type = {event["type"]: event["position"] for event in history}
    url = endpoint_url(timeline["id"])
    assert at(client, url, at_position=by_type["EndpointCreated"] - 1)[0] == 404
    assert at(client, url, at_position=by_type["EndpointCreated"])[1] == timeline["created"]
    assert at(client, url, at_position=by_type["EndpointDeleted"] - 1)[1]["label"] == "second update"
    assert at(client, url, at_position=by_type["EndpointDeleted"])[0] == 404
    # the past agrees with the present where they meet
    latest = client.get("/api/audit/events").json()["events"][-1]["position"]
    assert at(client, TELEPHONY, at_position=latest)[1] == client.get(TELEPHONY).json()
    assert at(client, ENDPOINTS, at_position=latest)[1] == client.get(ENDPOINTS).json()


MALFORMED_MOMENTS = [
    ({"as_of": "last tuesday"}, "as_of"),
    ({"at_position": -1}, "at_position"),
    ({"at_position": "three"}, "at_position"),
]


def test_a_malformed_moment_is_a_validation_error(client: TestClient) -> None:
    for params, field in MALFORMED_MOMENTS:
        for url in (TELEPHONY, ENDPOINTS, endpoint_url("00000000-0000-4000-8000-000000000000")):
            response = client.get(url, params=params)
            assert response.status_code == 422, (url, params, response.text)
            assert [error["field"] for error in response.json()["errors"]] == [field]


def test_with_both_a_time_and_a_position_the_earlier_moment_answers(
    client: TestClient, timeline: dict[str, Any]
) -> None:
    history = client.get(f"{endpoint_url(timeline['id'])}/history").json()["events"]
    created_at = next(event["position"] for event in history if event["type"] == "EndpointCreated")
    url, when = endpoint_url(timeline["id"]), timeline["moments"]

    position_first = at(client, url, as_of=when["moved"], at_position=created_at)
    time_first = at(client, url, as_of=when["configured"], at_position=created_at + 100)

    assert position_first == (200, timeline["created"])
    assert time_first[0] == 404  # the endpoint did not exist yet at that time
