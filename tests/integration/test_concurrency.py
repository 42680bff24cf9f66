"""Concurrent writers on the real store: one endpoint per number, and no lost update."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from events import EndpointCreated, EndpointUpdated, ProviderUpdated
from service.container import Container
from service.settings import Settings
from service.write.application import SettingsApplication
from service.write.commands import Actor, NewEndpoint
from service.write.errors import DuplicatePhoneNumberError
from tests.integration.support import (
    ENDPOINTS,
    TELEPHONY,
    all_at_once,
    configure,
    create,
    endpoint_url,
    expected_view,
    stored_events,
)
from tests.seed import TWILIO

WRITERS = 50
SPELLINGS = ["+919876543210", "+91 98765 43210", "+91-98765-43210", "+91.98765.43210", "+91 (98765) 43210"]


def _created_for(container: Container, e164: str) -> list[Any]:
    return [e for e in stored_events(container) if isinstance(e, EndpointCreated) and e.phone_number == e164]


def test_fifty_simultaneous_creations_of_one_number_on_the_write_side_let_exactly_one_win(
    container: Container,
) -> None:
    def create_one(i: int) -> Any:
        command = NewEndpoint(phone_number="+919876543210", provider="exotel", label=f"writer {i}")
        return container.app.create_endpoint(command, Actor(request_id=f"writer-{i}"))

    results = all_at_once(WRITERS, create_one)

    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert len(losers) == WRITERS - 1
    assert all(isinstance(r, DuplicatePhoneNumberError) for r in losers), losers
    created = _created_for(container, "+919876543210")
    assert len(created) == 1
    assert created[0].originator_id == winners[0][0]
    container.read_model.catch_up()
    with container.read_model.reading() as view:
        assert list(view.endpoints.by_id) == [winners[0][0]]


def test_fifty_simultaneous_posts_of_one_number_in_several_spellings_give_one_201_and_forty_nine_409s(
    client: TestClient, container: Container
) -> None:
    def post(i: int) -> Any:
        return client.post(ENDPOINTS, json={"phone_number": SPELLINGS[i % len(SPELLINGS)], "provider": "exotel"})

    responses = all_at_once(WRITERS, post)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (WRITERS - 1)
    winner = next(r.json() for r in responses if r.status_code == 201)
    listed = client.get(ENDPOINTS).json()
    assert [e["id"] for e in listed] == [winner["id"]]
    assert listed[0]["phone_number"] == "+919876543210"
    assert len(_created_for(container, "+919876543210")) == 1


def test_fifty_simultaneous_updates_of_one_endpoint_all_take_effect(client: TestClient, container: Container) -> None:
    configure(client, TWILIO)
    created = create(client, phone_number="+15551234567", provider="twilio", inbound_agent_name="agent-start")
    url = endpoint_url(created["id"])
    fields = ("inbound_agent_name", "outbound_agent_name", "label")

    def update(i: int) -> Any:
        if i == WRITERS - 1:
            return client.put(url, json={"is_active": False})
        return client.put(url, json={fields[i % 3]: f"value-{i}"})

    responses = all_at_once(WRITERS, update)

    assert [r.status_code for r in responses] == [200] * WRITERS, [r.text for r in responses if r.status_code != 200]
    updates = [
        e for e in stored_events(container) if isinstance(e, EndpointUpdated) and str(e.originator_id) == created["id"]
    ]
    assert len(updates) == WRITERS  # none lost, none merged away
    assert [e.originator_version for e in updates] == list(range(2, WRITERS + 2))
    assert sorted(str(next(iter(e.changes.values()))) for e in updates) == sorted(
        [f"value-{i}" for i in range(WRITERS - 1)] + ["False"]
    )
    last_written: dict[str, Any] = {}
    for event in updates:
        last_written.update(event.changes)
    final = client.get(url).json()
    assert final["is_active"] is False
    for field in fields:
        assert final[field] == last_written[field]
        assert final[field].startswith("value-")
    assert (
        final["inbound_webhook_url"]
        == f"https://your-domain.com/telephony/twilio/inbound/{final['inbound_agent_name']}"
    )


def test_simultaneous_updates_of_different_provider_fields_all_take_effect(
    client: TestClient, container: Container
) -> None:
    configure(client, TWILIO)
    changes = [
        {"twilio_phone_number": "+15551230000"},
        {"twilio_max_concurrent": 111},
        {"twilio_auth_token": "concurrent-token-T1T1"},
        {"exotel_account_sid": "exotel-sid-2"},
        {"exotel_api_key": "concurrent-key-K2K2"},
        {"exotel_api_token": "concurrent-token-X3X3"},
        {"exotel_phone_number": "+919876500000"},
        {"exotel_api_base": "https://api.in.exotel.com"},
        {"exotel_max_concurrent": 222},
        {"vobiz_auth_id": "vobiz-id-3"},
        {"vobiz_auth_token": "concurrent-token-V4V4"},
        {"vobiz_phone_number": "+919876511111"},
        {"vobiz_max_concurrent": 333},
        {"public_base_url": "https://voice.example.org"},
    ]

    responses = all_at_once(len(changes), lambda i: client.put(TELEPHONY, json=changes[i]))

    assert [r.status_code for r in responses] == [200] * len(changes), [r.text for r in responses]
    expected = expected_view(TWILIO, *changes)
    assert client.get(TELEPHONY).json() == expected
    provider_events = [e for e in stored_events(container) if isinstance(e, ProviderUpdated)]
    assert len(provider_events) == 1 + len(changes)
    assert [e.originator_version for e in provider_events] == list(range(1, len(changes) + 2))


def test_two_processes_group_committing_the_same_numbers_store_each_number_once(
    container: Container, settings: Settings
) -> None:
    """Two writers on one real store, as two replicas are: each takes numbers it has not seen as unused and stores
    batches; where both claim a number, the store refuses one batch, which is decided again, so every number ends
    with one endpoint and every request gets 201 or 409."""
    other = SettingsApplication(settings.store_env())
    numbers = [f"+1555700{n:04d}" for n in range(120)]
    try:
        apps = [container.app, other]

        def create_all(i: int) -> list[Any]:
            app = apps[i % 2]
            mine = numbers[i::8] + numbers[(i + 1) % 8 :: 8]  # each number sent by two writers, often one per app
            futures = [app.submit(NewEndpoint(phone_number=n, provider="twilio"), Actor(f"w{i}")) for n in mine]
            outcomes = []
            for future in futures:
                try:
                    outcomes.append(future.result(30).outcome)
                except DuplicatePhoneNumberError:
                    outcomes.append("409")
            return outcomes

        results = all_at_once(8, create_all)
        writers = (container.app.writer, other.writer)
        batched = [(w.commands_stored, w.batches) for w in writers]
    finally:
        other.close()

    assert not [r for r in results if isinstance(r, BaseException)], results
    outcomes = [o for r in results for o in r]  # type: ignore[union-attr]
    assert sorted(set(outcomes)) == ["409", "created"]
    assert outcomes.count("created") == len(numbers)
    created = [e.phone_number for e in stored_events(container) if isinstance(e, EndpointCreated)]
    assert sorted(created) == sorted(numbers)  # each number once, across both processes
    assert any(commands > transactions for commands, transactions in batched), batched  # batches were formed
    container.read_model.catch_up()
    with container.read_model.reading() as view:
        assert sorted(view.endpoints.by_phone_number) == sorted(numbers)
