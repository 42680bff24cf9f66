"""ETag / If-Match / If-None-Match and Idempotency-Key, on SQLite and PostgreSQL, through the whole HTTP API."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from litestar.testing import TestClient

from events import EndpointCreated, EndpointDeleted, EndpointUpdated, IdempotencyKeyUsed, ProviderUpdated
from service.container import Container
from service.settings import Settings
from tests.clients import api_client
from tests.integration.support import (
    ENDPOINTS,
    TELEPHONY,
    all_at_once,
    configure,
    create,
    endpoint_url,
    head,
    stored_events,
)
from tests.seed import TWILIO

NEW_ENDPOINT = {"phone_number": "+15551234567", "provider": "twilio", "inbound_agent_name": "support-agent"}


def _of_type(container: Container, kind: type) -> list[Any]:
    return [event for event in stored_events(container) if isinstance(event, kind)]


# -- ETag and If-None-Match ------------------------------------------------------------------------------------------


def test_every_endpoint_response_carries_the_same_etag_until_the_endpoint_changes(client: TestClient) -> None:
    configure(client, TWILIO)
    created = client.post(ENDPOINTS, json=NEW_ENDPOINT)
    url = endpoint_url(created.json()["id"])
    etag = created.headers["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')

    assert client.get(url).headers["etag"] == etag
    updated = client.put(url, json={"label": "changed"})
    assert updated.status_code == 200
    assert updated.headers["etag"] != etag
    assert client.get(url).headers["etag"] == updated.headers["etag"]


def test_a_provider_change_changes_the_endpoint_etag_because_the_webhook_url_follows_it(client: TestClient) -> None:
    configure(client, TWILIO)
    url = endpoint_url(create(client, **NEW_ENDPOINT)["id"])
    before = client.get(url)
    configure(client, {"public_base_url": "https://voice.example.org"})
    after = client.get(url)
    assert after.json()["inbound_webhook_url"] != before.json()["inbound_webhook_url"]
    assert after.headers["etag"] != before.headers["etag"]


def test_if_none_match_with_the_current_etag_gives_304_without_a_body(client: TestClient) -> None:
    configure(client, TWILIO)
    url = endpoint_url(create(client, **NEW_ENDPOINT)["id"])
    for route in (url, TELEPHONY):
        etag = client.get(route).headers["etag"]
        cached = client.get(route, headers={"If-None-Match": etag})
        assert cached.status_code == 304
        assert cached.content == b""
        assert cached.headers["etag"] == etag
        stale = client.get(route, headers={"If-None-Match": '"p0", "e0.p0"'})
        assert stale.status_code == 200
        assert stale.json()


# -- If-Match ----------------------------------------------------------------------------------------------------------


def test_put_with_the_current_etag_succeeds_and_with_a_stale_one_gives_412_and_stores_nothing(
    client: TestClient, container: Container
) -> None:
    configure(client, TWILIO)
    created = client.post(ENDPOINTS, json=NEW_ENDPOINT)
    url = endpoint_url(created.json()["id"])
    first_etag = created.headers["etag"]

    ok = client.put(url, json={"label": "first"}, headers={"If-Match": first_etag})
    assert ok.status_code == 200, ok.text
    stored = head(container)

    stale = client.put(url, json={"label": "second"}, headers={"If-Match": first_etag})
    assert stale.status_code == 412
    assert "If-Match" in stale.json()["detail"]
    assert stale.headers["etag"] == ok.headers["etag"]  # the current one, to recover with
    assert head(container) == stored
    assert client.get(url).json()["label"] == "first"


def test_if_match_star_any_of_a_list_and_weak_tags(client: TestClient) -> None:
    configure(client, TWILIO)
    created = client.post(ENDPOINTS, json=NEW_ENDPOINT)
    url = endpoint_url(created.json()["id"])
    etag = created.headers["etag"]

    assert client.put(url, json={"label": "a"}, headers={"If-Match": "*"}).status_code == 200
    current = client.get(url).headers["etag"]
    assert client.put(url, json={"label": "b"}, headers={"If-Match": f'"nope", {current}'}).status_code == 200
    current = client.get(url).headers["etag"]
    # If-Match uses the strong comparison: a weak tag never matches.
    assert client.put(url, json={"label": "c"}, headers={"If-Match": f"W/{current}"}).status_code == 412
    assert client.put(url, json={"label": "c"}, headers={"If-Match": etag}).status_code == 412
    assert client.put(url, json={"label": "c"}, headers={"If-Match": "garbage"}).status_code == 412
    assert client.get(url).json()["label"] == "b"


def test_delete_with_a_stale_etag_gives_412_and_the_endpoint_stays(client: TestClient, container: Container) -> None:
    configure(client, TWILIO)
    created = client.post(ENDPOINTS, json=NEW_ENDPOINT)
    url = endpoint_url(created.json()["id"])
    stale = created.headers["etag"]
    fresh = client.put(url, json={"label": "changed"}).headers["etag"]

    refused = client.delete(url, headers={"If-Match": stale})
    assert refused.status_code == 412
    assert client.get(url).status_code == 200
    assert _of_type(container, EndpointDeleted) == []

    assert client.delete(url, headers={"If-Match": fresh}).status_code == 204
    assert client.get(url).status_code == 404


def test_put_telephony_with_a_stale_etag_gives_412(client: TestClient, container: Container) -> None:
    first = client.put(TELEPHONY, json=TWILIO)
    etag = first.headers["etag"]
    assert client.get(TELEPHONY).headers["etag"] == etag
    second = client.put(TELEPHONY, json={"twilio_max_concurrent": 20}, headers={"If-Match": etag})
    assert second.status_code == 200
    stored = head(container)

    refused = client.put(TELEPHONY, json={"twilio_max_concurrent": 30}, headers={"If-Match": etag})
    assert refused.status_code == 412
    assert refused.headers["etag"] == second.headers["etag"]
    assert head(container) == stored
    assert client.get(TELEPHONY).json()["twilio_max_concurrent"] == 20


def test_fifty_simultaneous_puts_with_one_etag_let_exactly_one_through(
    client: TestClient, container: Container
) -> None:
    configure(client, TWILIO)
    created = client.post(ENDPOINTS, json=NEW_ENDPOINT)
    url = endpoint_url(created.json()["id"])
    etag = created.headers["etag"]

    responses = all_at_once(50, lambda i: client.put(url, json={"label": f"writer-{i}"}, headers={"If-Match": etag}))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 49
    winner = next(r for r in responses if r.status_code == 200)
    assert len(_of_type(container, EndpointUpdated)) == 1
    assert client.get(url).json()["label"] == winner.json()["label"]


# -- Idempotency-Key ---------------------------------------------------------------------------------------------------


def test_a_retried_post_returns_the_first_response_and_stores_nothing_new(
    client: TestClient, container: Container
) -> None:
    configure(client, TWILIO)
    key = {"Idempotency-Key": "create-support-line-1"}
    first = client.post(ENDPOINTS, json=NEW_ENDPOINT, headers=key)
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    stored = head(container)

    retry = client.post(ENDPOINTS, json=NEW_ENDPOINT, headers=key)
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["etag"] == first.headers["etag"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert head(container) == stored
    assert len(_of_type(container, EndpointCreated)) == 1
    assert len(_of_type(container, IdempotencyKeyUsed)) == 1


def test_the_same_key_with_a_different_body_gets_422_and_stores_nothing(
    client: TestClient, container: Container
) -> None:
    configure(client, TWILIO)
    key = {"Idempotency-Key": "k-1"}
    assert client.post(ENDPOINTS, json=NEW_ENDPOINT, headers=key).status_code == 201
    stored = head(container)

    other = client.post(ENDPOINTS, json={**NEW_ENDPOINT, "phone_number": "+15551234568"}, headers=key)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert head(container) == stored
    # Same key on another route is another request too.
    url = endpoint_url(client.get(ENDPOINTS).json()[0]["id"])
    assert client.put(url, json={"label": "x"}, headers=key).status_code == 422
    assert head(container) == stored
    # A body that differs only in spacing and key order is the same request.
    spaced = b'{ "provider": "twilio", "inbound_agent_name": "support-agent",  "phone_number": "+15551234567" }'
    again = client.post(ENDPOINTS, content=spaced, headers={**key, "Content-Type": "application/json"})
    assert again.status_code == 201
    assert head(container) == stored


def test_a_retried_put_returns_the_first_response_even_after_later_changes(
    client: TestClient, container: Container
) -> None:
    configure(client, TWILIO)
    url = endpoint_url(create(client, **NEW_ENDPOINT)["id"])
    key = {"Idempotency-Key": "rename-1"}
    first = client.put(url, json={"label": "first"}, headers=key)
    assert first.status_code == 200
    client.put(url, json={"label": "later"})
    stored = head(container)

    retry = client.put(url, json={"label": "first"}, headers=key)
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["etag"] == first.headers["etag"]
    assert head(container) == stored
    assert client.get(url).json()["label"] == "later"  # the retry did not apply the change again


def test_a_retried_delete_gives_204_again_instead_of_404(client: TestClient, container: Container) -> None:
    configure(client, TWILIO)
    url = endpoint_url(create(client, **NEW_ENDPOINT)["id"])
    key = {"Idempotency-Key": "delete-1"}
    assert client.delete(url, headers=key).status_code == 204
    stored = head(container)
    retry = client.delete(url, headers=key)
    assert retry.status_code == 204
    assert retry.headers["idempotent-replayed"] == "true"
    assert head(container) == stored
    assert client.delete(url).status_code == 404  # without the key it is a new request


def test_a_retried_provider_put_returns_the_first_masked_response(client: TestClient, container: Container) -> None:
    key = {"Idempotency-Key": "configure-twilio"}
    first = client.put(TELEPHONY, json=TWILIO, headers=key)
    assert first.status_code == 200
    assert first.json()["twilio_auth_token"] == "****" + TWILIO["twilio_auth_token"][-4:]
    client.put(TELEPHONY, json={"twilio_max_concurrent": 99})
    stored = head(container)

    retry = client.put(TELEPHONY, json=TWILIO, headers=key)
    assert retry.json() == first.json()
    assert retry.headers["etag"] == first.headers["etag"]
    assert head(container) == stored
    assert len(_of_type(container, ProviderUpdated)) == 2


def test_a_failed_request_is_not_remembered_so_its_key_can_succeed_later(
    client: TestClient, container: Container
) -> None:
    configure(client, TWILIO)
    holder = create(client, **NEW_ENDPOINT)
    key = {"Idempotency-Key": "take-the-number"}
    assert client.post(ENDPOINTS, json=NEW_ENDPOINT, headers=key).status_code == 409
    assert _of_type(container, IdempotencyKeyUsed) == []
    client.delete(endpoint_url(holder["id"]))
    assert client.post(ENDPOINTS, json=NEW_ENDPOINT, headers=key).status_code == 201


def test_a_no_op_put_is_remembered_too(client: TestClient, container: Container) -> None:
    configure(client, TWILIO)
    url = endpoint_url(create(client, **NEW_ENDPOINT, label="same")["id"])
    key = {"Idempotency-Key": "no-op"}
    assert client.put(url, json={"label": "same"}, headers=key).status_code == 200
    assert _of_type(container, EndpointUpdated) == []
    assert client.put(url, json={"label": "other"}, headers=key).status_code == 422


def test_malformed_keys_give_400_and_store_nothing(client: TestClient, container: Container) -> None:
    configure(client, TWILIO)
    stored = head(container)
    for bad in ("", "has space", "x" * 256, "naïve".encode()):
        response = client.post(ENDPOINTS, json=NEW_ENDPOINT, headers={"Idempotency-Key": bad})
        assert response.status_code == 400, (bad, response.text)
        assert "Idempotency-Key" in response.json()["detail"]
    assert head(container) == stored


def test_fifty_simultaneous_posts_with_one_key_create_one_endpoint_and_all_get_its_response(
    client: TestClient, container: Container
) -> None:
    configure(client, TWILIO)
    key = {"Idempotency-Key": "one-shot"}

    responses = all_at_once(50, lambda i: client.post(ENDPOINTS, json=NEW_ENDPOINT, headers=key))

    assert [r.status_code for r in responses] == [201] * 50, {r.status_code: r.text for r in responses}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(1 for r in responses if "idempotent-replayed" not in r.headers) == 1
    assert len(_of_type(container, EndpointCreated)) == 1


def test_keys_belong_to_the_api_key_that_used_them_and_survive_a_restart(settings: Settings) -> None:
    two_keys = replace(settings, api_keys="alice:alice-key-0123456789:*,bob:bob-key-0123456789abc:*")
    key = {"Idempotency-Key": "shared-name"}
    with api_client(two_keys, "alice-key-0123456789") as alice:
        configure(alice, TWILIO)
        first = alice.post(ENDPOINTS, json=NEW_ENDPOINT, headers=key)
        assert first.status_code == 201
    with api_client(two_keys, "bob-key-0123456789abc") as bob:
        # Bob's key of the same name is his own: his request is new (and conflicts on the number).
        assert bob.post(ENDPOINTS, json=NEW_ENDPOINT, headers=key).status_code == 409
    with api_client(two_keys, "alice-key-0123456789") as alice_again:  # a new process on the same store
        retry = alice_again.post(ENDPOINTS, json=NEW_ENDPOINT, headers=key)
        assert retry.status_code == 201
        assert retry.json() == first.json()
