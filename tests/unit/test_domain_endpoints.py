"""Deciding endpoint commands: one endpoint per number, updates that record only what changed, deletes."""

from __future__ import annotations

from uuid import UUID, uuid4, uuid5

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events import (
    SETTINGS_ID,
    EndpointCreated,
    EndpointDeleted,
    EndpointUpdated,
    PhoneNumberClaimed,
    PhoneNumberReleased,
)
from projections import Endpoint, evolve_endpoint
from service.write.commands import Actor, NewEndpoint, PatchEndpoint, new_endpoint
from service.write.decisions import (
    PHONE_NUMBER_NAMESPACE,
    PhoneNumberIndex,
    decide_create_endpoint,
    decide_delete_endpoint,
    decide_update_endpoint,
    evolve_index,
    phone_number_index_id,
)
from service.write.errors import DuplicatePhoneNumberError, EndpointNotFoundError, InvalidSettingsError
from service.write.rules import to_e164
from tests import seed
from tests.unit.builders import endpoint_created, endpoint_updated

ALICE = Actor(name="alice", request_id="req-1")
SUPPORT_LINE = NewEndpoint(**seed.SUPPORT_LINE)


def existing_endpoint(version: int = 1) -> Endpoint:
    created = endpoint_created("+919876543210")
    endpoint = evolve_endpoint(None, created)
    for next_version in range(2, version + 1):
        endpoint = evolve_endpoint(endpoint, endpoint_updated(created, next_version, label=f"v{next_version}"))
    assert endpoint is not None
    return endpoint


# -- create ---------------------------------------------------------------------------------------------------


def test_creating_an_endpoint_for_a_free_number_records_it_and_claims_the_number() -> None:
    endpoint_id = uuid4()
    created, claimed = decide_create_endpoint(endpoint_id, PhoneNumberIndex(), SUPPORT_LINE, ALICE)

    assert isinstance(created, EndpointCreated)
    assert created.originator_id == endpoint_id
    assert created.originator_version == 1
    assert (created.phone_number, created.provider) == ("+919876543210", "exotel")
    assert (created.inbound_agent_name, created.outbound_agent_name) == ("support-agent", "sales-agent")
    assert created.label == "Main support line"
    assert created.is_active is True
    assert (created.actor, created.request_id) == ("alice", "req-1")

    assert isinstance(claimed, PhoneNumberClaimed)
    assert claimed.originator_id == phone_number_index_id("+919876543210")
    assert claimed.originator_version == 1
    assert claimed.endpoint_id == endpoint_id
    assert claimed.phone_number == "+919876543210"
    assert claimed.timestamp == created.timestamp
    assert claimed.timestamp.tzinfo is not None


def test_an_anonymous_request_is_recorded_as_anonymous() -> None:
    created, claimed = decide_create_endpoint(uuid4(), PhoneNumberIndex(), SUPPORT_LINE, Actor())
    assert created.actor == claimed.actor == "anonymous"
    assert created.request_id is None


def test_second_endpoint_for_same_number_is_rejected() -> None:
    held = PhoneNumberIndex(endpoint_id=uuid4(), version=1)
    with pytest.raises(DuplicatePhoneNumberError, match=r"\+919876543210"):
        decide_create_endpoint(uuid4(), held, SUPPORT_LINE, ALICE)


def test_a_released_number_is_claimed_again_at_the_next_index_version() -> None:
    released = PhoneNumberIndex(endpoint_id=None, version=2)
    endpoint_id = uuid4()
    _, claimed = decide_create_endpoint(endpoint_id, released, SUPPORT_LINE, ALICE)
    assert claimed.originator_version == 3
    assert claimed.endpoint_id == endpoint_id


def test_a_new_endpoint_is_active_unless_told_otherwise() -> None:
    assert NewEndpoint(phone_number="+15551234567", provider="twilio").is_active is True


# -- update ---------------------------------------------------------------------------------------------------


def test_updating_a_missing_endpoint_is_not_found() -> None:
    with pytest.raises(EndpointNotFoundError):
        decide_update_endpoint(None, PatchEndpoint(uuid4(), {"label": "x"}), ALICE)


@pytest.mark.parametrize(
    "patch",
    [
        {},
        {"label": "Main support line"},
        {"inbound_agent_name": "support-agent", "outbound_agent_name": "sales-agent", "is_active": True},
    ],
)
def test_an_update_that_changes_nothing_stores_nothing(patch: dict[str, object]) -> None:
    endpoint = existing_endpoint()
    assert decide_update_endpoint(endpoint, PatchEndpoint(endpoint.id, patch), ALICE) == []


def test_an_update_records_only_the_fields_that_changed() -> None:
    endpoint = existing_endpoint(version=3)
    patch = {
        "label": endpoint.label,
        "is_active": False,
        "inbound_agent_name": None,
        "outbound_agent_name": "sales-agent",
    }

    [updated] = decide_update_endpoint(endpoint, PatchEndpoint(endpoint.id, patch), ALICE)

    assert isinstance(updated, EndpointUpdated)
    assert updated.changes == {"is_active": False, "inbound_agent_name": None}
    assert updated.originator_id == endpoint.id
    assert updated.originator_version == 4
    assert updated.phone_number == "+919876543210"
    assert updated.actor == "alice"


def test_folding_an_update_gives_the_patched_endpoint() -> None:
    endpoint = existing_endpoint()
    [updated] = decide_update_endpoint(
        endpoint, PatchEndpoint(endpoint.id, {"label": None, "outbound_agent_name": "retention"}), ALICE
    )

    after = evolve_endpoint(endpoint, updated)

    assert after is not None
    assert after.label is None
    assert after.outbound_agent_name == "retention"
    assert after.inbound_agent_name == endpoint.inbound_agent_name
    assert after.version == 2
    assert after.created_at == endpoint.created_at
    assert after.updated_at == updated.timestamp


# -- delete ---------------------------------------------------------------------------------------------------


def test_deleting_a_missing_endpoint_is_not_found() -> None:
    with pytest.raises(EndpointNotFoundError):
        decide_delete_endpoint(uuid4(), None, PhoneNumberIndex(), ALICE)


def test_deleting_an_endpoint_records_it_and_releases_its_number() -> None:
    endpoint = existing_endpoint(version=2)
    index = PhoneNumberIndex(endpoint_id=endpoint.id, version=5)

    deleted, released = decide_delete_endpoint(endpoint.id, endpoint, index, ALICE)

    assert isinstance(deleted, EndpointDeleted)
    assert deleted.originator_id == endpoint.id
    assert deleted.originator_version == 3
    assert deleted.phone_number == "+919876543210"
    assert isinstance(released, PhoneNumberReleased)
    assert released.originator_id == phone_number_index_id("+919876543210")
    assert released.originator_version == 6
    assert released.endpoint_id == endpoint.id
    assert evolve_endpoint(endpoint, deleted) is None


# -- the phone-number index -----------------------------------------------------------------------------------


def test_the_index_follows_claims_and_releases() -> None:
    endpoint_id = uuid4()
    _, claimed = decide_create_endpoint(endpoint_id, PhoneNumberIndex(), SUPPORT_LINE, ALICE)
    index = evolve_index(PhoneNumberIndex(), claimed)
    assert index == PhoneNumberIndex(endpoint_id=endpoint_id, version=1)

    endpoint = evolve_endpoint(None, endpoint_created("+919876543210", endpoint_id=endpoint_id))
    _, released = decide_delete_endpoint(endpoint_id, endpoint, index, ALICE)
    assert evolve_index(index, released) == PhoneNumberIndex(endpoint_id=None, version=2)


def test_the_index_ignores_other_events() -> None:
    index = PhoneNumberIndex(endpoint_id=uuid4(), version=4)
    assert evolve_index(index, endpoint_created()) is index


def test_the_index_id_of_a_number_is_stable() -> None:
    assert phone_number_index_id("+15551234567") == phone_number_index_id("+15551234567")
    assert phone_number_index_id("+15551234567") == uuid5(PHONE_NUMBER_NAMESPACE, "+15551234567")


def test_every_spelling_of_a_number_shares_one_index_once_normalised() -> None:
    spellings = ["+1 (555) 123-4567", "+1.555.123.4567", "+15551234567", " +1-555-123-4567"]
    assert {phone_number_index_id(to_e164(s)) for s in spellings} == {phone_number_index_id("+15551234567")}


def test_the_index_id_is_not_the_settings_id() -> None:
    assert phone_number_index_id("+15551234567") != SETTINGS_ID


@given(st.lists(st.integers(min_value=10**6, max_value=10**15 - 1).map(lambda n: f"+{n}"), min_size=2, unique=True))
def test_distinct_numbers_get_distinct_index_ids(numbers: list[str]) -> None:
    ids = [phone_number_index_id(n) for n in numbers]
    assert all(isinstance(i, UUID) for i in ids)
    assert len(set(ids)) == len(numbers)


# -- normalising a new endpoint -------------------------------------------------------------------------------


def test_a_new_endpoint_number_is_stored_in_e164() -> None:
    command = new_endpoint("+91 98765-43210", provider="exotel", label="Main support line")
    assert command == NewEndpoint(phone_number="+919876543210", provider="exotel", label="Main support line")


def test_a_new_endpoint_with_a_bad_number_names_the_phone_number_field() -> None:
    with pytest.raises(InvalidSettingsError) as caught:
        new_endpoint("5551234567", provider="twilio")
    [error] = caught.value.errors
    assert error.field == "phone_number"
    assert "5551234567" not in caught.value.detail
    assert caught.value.detail.startswith("phone_number: ")
