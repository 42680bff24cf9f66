"""Queries over the read model: filters, paging and the shape every endpoint response has."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from uuid import UUID, uuid4

from projections import SettingsView, evolve_endpoint
from projections import settings as settings_projection
from service.read.presenter import format_time
from service.read.queries import EndpointFilter, get_endpoint, get_provider_settings, list_endpoints
from tests.unit.builders import endpoint_created, endpoint_deleted, provider_updated


class InMemoryReadModel:
    """The part of ``service.read.read_model.ReadModel`` a query uses: a view to read."""

    def __init__(self, *events: object) -> None:
        self.view = SettingsView()
        for position, event in enumerate(events, start=1):
            settings_projection.evolve(self.view, event, position)

    @contextmanager
    def reading(self) -> Iterator[SettingsView]:
        yield self.view


SUPPORT = endpoint_created("+919876543210", provider="exotel", inbound_agent_name="support-agent", minute=0)
SALES = endpoint_created(
    "+15551234567", provider="twilio", inbound_agent_name=None, outbound_agent_name="sales-agent", minute=1
)
IDLE = endpoint_created(
    "+442079460958", provider="twilio", is_active=False, outbound_agent_name="support-agent", minute=2
)


def ids(endpoints: list) -> list:
    return [UUID(endpoint.id) for endpoint in endpoints]


def test_times_are_shown_in_utc_to_the_second() -> None:
    moment = datetime(2026, 3, 18, 15, 30, 45, 999_999, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert format_time(moment) == "2026-03-18T10:00:45"


def test_an_endpoint_is_shown_with_its_webhook_url_and_seed_times() -> None:
    read_model = InMemoryReadModel(SUPPORT, provider_updated(1, public_base_url="https://your-domain.com"))
    shown = get_endpoint(read_model, SUPPORT.originator_id)
    assert shown is not None
    assert shown.inbound_webhook_url == "https://your-domain.com/telephony/exotel/inbound/support-agent"
    assert shown.created_at == shown.updated_at == "2026-03-18T10:00:00"
    assert shown.phone_number == "+919876543210"


def test_every_webhook_url_follows_a_later_change_of_the_base_url() -> None:
    read_model = InMemoryReadModel(
        SUPPORT,
        provider_updated(1, public_base_url="https://old.example"),
        provider_updated(2, public_base_url="https://new.example/voice"),
    )
    shown = get_endpoint(read_model, SUPPORT.originator_id)
    assert shown.inbound_webhook_url == "https://new.example/voice/telephony/exotel/inbound/support-agent"


def test_the_webhook_url_is_null_until_a_base_url_is_set() -> None:
    shown = get_endpoint(InMemoryReadModel(SUPPORT), SUPPORT.originator_id)
    assert shown.inbound_webhook_url is None


def test_an_unknown_or_deleted_endpoint_is_not_found() -> None:
    read_model = InMemoryReadModel(SUPPORT, endpoint_deleted(SUPPORT, 2))
    assert get_endpoint(read_model, SUPPORT.originator_id) is None
    assert get_endpoint(read_model, uuid4()) is None


def test_all_endpoints_are_listed_in_creation_order_with_the_total() -> None:
    endpoints, total = list_endpoints(InMemoryReadModel(SUPPORT, SALES, IDLE), EndpointFilter())
    assert ids(endpoints) == [SUPPORT.originator_id, SALES.originator_id, IDLE.originator_id]
    assert total == 3


def test_filters_combine() -> None:
    read_model = InMemoryReadModel(SUPPORT, SALES, IDLE)
    assert ids(list_endpoints(read_model, EndpointFilter(provider="twilio"))[0]) == [
        SALES.originator_id,
        IDLE.originator_id,
    ]
    assert ids(list_endpoints(read_model, EndpointFilter(provider="twilio", is_active=True))[0]) == [
        SALES.originator_id
    ]
    assert ids(list_endpoints(read_model, EndpointFilter(is_active=False))[0]) == [IDLE.originator_id]


def test_the_agent_filter_matches_inbound_or_outbound() -> None:
    read_model = InMemoryReadModel(SUPPORT, SALES, IDLE)
    assert ids(list_endpoints(read_model, EndpointFilter(agent="support-agent"))[0]) == [
        SUPPORT.originator_id,
        IDLE.originator_id,
    ]
    assert list_endpoints(read_model, EndpointFilter(agent="nobody")) == ([], 0)


def test_the_phone_number_filter_finds_the_one_endpoint_holding_it() -> None:
    read_model = InMemoryReadModel(SUPPORT, SALES)
    assert ids(list_endpoints(read_model, EndpointFilter(phone_number="+15551234567"))[0]) == [SALES.originator_id]
    assert list_endpoints(read_model, EndpointFilter(phone_number="+15550000000")) == ([], 0)
    assert list_endpoints(read_model, EndpointFilter(phone_number="+15551234567", provider="exotel")) == ([], 0)


def test_a_page_holds_its_slice_and_the_total_counts_every_match() -> None:
    read_model = InMemoryReadModel(SUPPORT, SALES, IDLE)
    page_two, total = list_endpoints(read_model, EndpointFilter(), page=2, page_size=2)
    assert ids(page_two) == [IDLE.originator_id]
    assert total == 3
    assert list_endpoints(read_model, EndpointFilter(), page=3, page_size=2) == ([], 3)


def test_an_endpoint_filter_matches_on_every_field_it_sets() -> None:
    endpoint = evolve_endpoint(None, SALES)
    assert EndpointFilter().matches(endpoint)
    assert EndpointFilter(provider="twilio", is_active=True, agent="sales-agent").matches(endpoint)
    assert not EndpointFilter(provider="exotel").matches(endpoint)
    assert not EndpointFilter(agent=None, is_active=False).matches(endpoint)


def test_the_provider_settings_are_shown_masked() -> None:
    read_model = InMemoryReadModel(provider_updated(1, twilio_auth_token="your_auth_token"))
    shown = get_provider_settings(read_model)
    assert shown.twilio_auth_token == "****oken"
    assert shown.provider == "twilio"
    assert shown.twilio_max_concurrent == 10
