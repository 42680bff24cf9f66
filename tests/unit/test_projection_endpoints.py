"""The endpoints view: a pure fold that keeps endpoints by id (in creation order) and by phone number."""

from __future__ import annotations

from functools import reduce
from uuid import uuid4

from events import PhoneNumberClaimed
from projections import Endpoint, EndpointsView, evolve_endpoint, inbound_webhook_url
from projections import endpoints as endpoints_projection
from tests.unit.builders import at, endpoint_created, endpoint_deleted, endpoint_updated, provider_updated


def fold(*events: object) -> EndpointsView:
    return reduce(endpoints_projection.evolve, events, EndpointsView())


# -- one endpoint ---------------------------------------------------------------------------------------------


def test_an_endpoint_is_born_from_its_creation_event() -> None:
    created = endpoint_created("+919876543210", minute=5)

    assert evolve_endpoint(None, created) == Endpoint(
        id=created.originator_id,
        phone_number="+919876543210",
        provider="exotel",
        inbound_agent_name="support-agent",
        outbound_agent_name="sales-agent",
        label="Main support line",
        is_active=True,
        created_at=at(5),
        updated_at=at(5),
        version=1,
    )


def test_an_update_changes_only_its_fields_and_moves_updated_at() -> None:
    created = endpoint_created(minute=0)
    endpoint = evolve_endpoint(None, created)

    after = evolve_endpoint(endpoint, endpoint_updated(created, 2, minute=9, is_active=False, label=None))

    assert after is not None
    assert (after.is_active, after.label) == (False, None)
    assert (after.inbound_agent_name, after.outbound_agent_name) == ("support-agent", "sales-agent")
    assert after.phone_number == endpoint.phone_number
    assert (after.created_at, after.updated_at, after.version) == (at(0), at(9), 2)


def test_a_deleted_endpoint_is_gone() -> None:
    created = endpoint_created()
    assert evolve_endpoint(evolve_endpoint(None, created), endpoint_deleted(created, 2)) is None


def test_events_of_a_missing_endpoint_leave_it_missing() -> None:
    created = endpoint_created()
    assert evolve_endpoint(None, endpoint_updated(created, 2, label="x")) is None
    assert evolve_endpoint(None, endpoint_deleted(created, 2)) is None


def test_an_unrelated_event_leaves_an_endpoint_as_it_is() -> None:
    endpoint = evolve_endpoint(None, endpoint_created())
    assert evolve_endpoint(endpoint, provider_updated(1, public_base_url="https://x.example")) is endpoint


# -- the whole view -------------------------------------------------------------------------------------------


def test_a_created_endpoint_is_found_by_id_and_by_phone_number() -> None:
    created = endpoint_created("+15551234567", provider="twilio")
    view = fold(created)
    assert view.by_id[created.originator_id].phone_number == "+15551234567"
    assert view.by_phone_number == {"+15551234567": created.originator_id}


def test_the_view_is_updated_in_place_and_returned() -> None:
    view = EndpointsView()
    assert endpoints_projection.evolve(view, endpoint_created()) is view
    assert len(view.by_id) == 1


def test_updates_keep_the_creation_order() -> None:
    first = endpoint_created("+15551234567", minute=0)
    second = endpoint_created("+919876543210", minute=1)
    third = endpoint_created("+442079460958", minute=2)

    view = fold(first, second, third, endpoint_updated(first, 2, minute=3, label="renamed"))

    assert list(view.by_id) == [first.originator_id, second.originator_id, third.originator_id]
    assert view.by_id[first.originator_id].label == "renamed"


def test_a_deleted_endpoint_leaves_both_indexes() -> None:
    kept = endpoint_created("+15551234567")
    gone = endpoint_created("+919876543210")

    view = fold(kept, gone, endpoint_deleted(gone, 2))

    assert list(view.by_id) == [kept.originator_id]
    assert view.by_phone_number == {"+15551234567": kept.originator_id}


def test_a_number_freed_by_a_delete_points_at_its_new_endpoint() -> None:
    old = endpoint_created("+919876543210", minute=0)
    other = endpoint_created("+15551234567", minute=1)
    new = endpoint_created("+919876543210", minute=3, inbound_agent_name="new-agent")

    view = fold(old, other, endpoint_deleted(old, 2), new)

    assert view.by_phone_number == {"+15551234567": other.originator_id, "+919876543210": new.originator_id}
    assert list(view.by_id) == [other.originator_id, new.originator_id]
    assert view.by_id[new.originator_id].inbound_agent_name == "new-agent"


def test_an_update_keeps_the_phone_number_index() -> None:
    created = endpoint_created("+919876543210")
    view = fold(created, endpoint_updated(created, 2, inbound_agent_name=None))
    assert view.by_phone_number == {"+919876543210": created.originator_id}


def test_events_for_an_unknown_endpoint_change_nothing() -> None:
    known = endpoint_created("+15551234567")
    stranger = endpoint_created("+919876543210")
    view = fold(known, endpoint_updated(stranger, 2, label="x"), endpoint_deleted(stranger, 3))
    assert list(view.by_id) == [known.originator_id]
    assert view.by_phone_number == {"+15551234567": known.originator_id}


def test_internal_and_provider_events_are_ignored() -> None:
    created = endpoint_created()
    claim = PhoneNumberClaimed(
        originator_id=uuid4(),
        originator_version=1,
        timestamp=at(0),
        actor="anonymous",
        request_id=None,
        phone_number="+15551234567",
        endpoint_id=uuid4(),
    )
    view = fold(created, claim, provider_updated(1, public_base_url="https://x.example"))
    assert list(view.by_id) == [created.originator_id]
    assert view.by_phone_number == {created.phone_number: created.originator_id}


# -- the webhook URL ------------------------------------------------------------------------------------------


def test_the_inbound_webhook_url_joins_base_url_provider_and_agent() -> None:
    assert (
        inbound_webhook_url("https://your-domain.com", "exotel", "support-agent")
        == "https://your-domain.com/telephony/exotel/inbound/support-agent"
    )


def test_the_inbound_webhook_url_is_null_without_a_base_url_or_an_inbound_agent() -> None:
    assert inbound_webhook_url(None, "exotel", "support-agent") is None
    assert inbound_webhook_url("", "exotel", "support-agent") is None
    assert inbound_webhook_url("https://your-domain.com", "exotel", None) is None
    assert inbound_webhook_url("https://your-domain.com", "exotel", "") is None
