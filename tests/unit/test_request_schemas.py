"""Request bodies: the shape rules the schemas enforce before any domain rule runs."""

from __future__ import annotations

import msgspec
import pytest

from events import PROVIDER_FIELDS
from service.http.schemas import (
    EndpointCreate,
    EndpointUpdate,
    ProviderSettings,
    ProviderSettingsUpdate,
    present_fields,
)


def decode(body: dict, schema: type) -> object:
    return msgspec.json.decode(msgspec.json.encode(body), type=schema)


def test_the_provider_response_has_exactly_the_fields_of_the_api_reference() -> None:
    assert ProviderSettings.__struct_fields__ == PROVIDER_FIELDS
    assert ProviderSettingsUpdate.__struct_fields__ == PROVIDER_FIELDS


def test_a_partial_provider_update_holds_only_what_was_sent_and_null_means_clear() -> None:
    update = decode({"twilio_phone_number": None, "twilio_max_concurrent": 3}, ProviderSettingsUpdate)
    assert present_fields(update) == {"twilio_phone_number": None, "twilio_max_concurrent": 3}


@pytest.mark.parametrize(
    "body",
    [
        {"provider": "plivo"},
        {"provider": None},
        {"unknown_field": 1},
        {"twilio_account_sid": "AC123"},
        {"twilio_account_sid": "AX" + "0" * 32},
        {"twilio_account_sid": "AC" + "g" * 32},
        {"twilio_max_concurrent": 0},
        {"twilio_max_concurrent": 1001},
        {"exotel_max_concurrent": True},
        {"vobiz_max_concurrent": 2.5},
        {"vobiz_max_concurrent": None},
        {"twilio_auth_token": ""},
    ],
)
def test_a_provider_update_breaking_a_shape_rule_is_refused(body: dict) -> None:
    with pytest.raises(msgspec.ValidationError):
        decode(body, ProviderSettingsUpdate)


@pytest.mark.parametrize("limit", [1, 1000])
def test_max_concurrent_accepts_one_to_a_thousand(limit: int) -> None:
    assert decode({"exotel_max_concurrent": limit}, ProviderSettingsUpdate).exotel_max_concurrent == limit


def test_a_twilio_account_sid_is_ac_and_32_hex_digits() -> None:
    sid = "AC" + "0123456789abcdefABCDEF0123456789"
    assert decode({"twilio_account_sid": sid}, ProviderSettingsUpdate).twilio_account_sid == sid


def test_a_new_endpoint_needs_only_number_and_provider_and_is_active_by_default() -> None:
    create = decode({"phone_number": "+15551234567", "provider": "twilio"}, EndpointCreate)
    assert create.is_active is True
    assert (create.inbound_agent_name, create.outbound_agent_name, create.label) == (None, None, None)


@pytest.mark.parametrize(
    "body",
    [
        {"provider": "twilio"},
        {"phone_number": "+15551234567"},
        {"phone_number": "+15551234567", "provider": "sip"},
        {"phone_number": "+15551234567", "provider": "twilio", "inbound_agent_name": "-starts-with-dash"},
        {"phone_number": "+15551234567", "provider": "twilio", "inbound_agent_name": "has/slash"},
        {"phone_number": "+15551234567", "provider": "twilio", "outbound_agent_name": "a" * 65},
        {"phone_number": "+15551234567", "provider": "twilio", "outbound_agent_name": ""},
        {"phone_number": "+15551234567", "provider": "twilio", "label": "x" * 101},
        {"phone_number": "+15551234567", "provider": "twilio", "id": "mine"},
    ],
)
def test_a_new_endpoint_breaking_a_shape_rule_is_refused(body: dict) -> None:
    with pytest.raises(msgspec.ValidationError):
        decode(body, EndpointCreate)


def test_agent_names_up_to_64_characters_and_labels_up_to_100_are_accepted() -> None:
    body = {
        "phone_number": "+919876543210",
        "provider": "exotel",
        "inbound_agent_name": "A" + "b.c_d-9" * 9,
        "label": "x" * 100,
    }
    create = decode(body, EndpointCreate)
    assert len(create.inbound_agent_name) == 64
    assert len(create.label) == 100


@pytest.mark.parametrize("fixed", ["phone_number", "provider"])
def test_an_endpoint_update_cannot_change_number_or_provider(fixed: str) -> None:
    with pytest.raises(msgspec.ValidationError):
        decode({fixed: "+15551234567"}, EndpointUpdate)


def test_an_endpoint_update_holds_only_what_was_sent() -> None:
    update = decode({"label": None, "is_active": False}, EndpointUpdate)
    assert present_fields(update) == {"label": None, "is_active": False}
