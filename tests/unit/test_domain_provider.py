"""Deciding provider updates: a partial merge, secrets that survive being sent back masked, a usable result."""

from __future__ import annotations

from functools import reduce

import pytest

from events import PROVIDER_FIELDS, SETTINGS_ID, ProviderUpdated
from projections import ProviderConfig, ProviderView, mask_secret, masked
from projections import provider as provider_projection
from service.write.commands import Actor, UpdateProvider, update_provider
from service.write.decisions import decide_update_provider, missing_settings
from service.write.errors import InvalidSettingsError
from tests.seed import EXOTEL, TWILIO, VOBIZ
from tests.unit.builders import provider_updated

ALICE = Actor(name="alice", request_id="req-7")
TWILIO_TOKEN = "twilio-auth-token-9876"

# The seed's Twilio example, with this file's own token (the tests below compare with TWILIO_TOKEN).
TWILIO_SEED = {**TWILIO, "twilio_auth_token": TWILIO_TOKEN}


def view_after(*events: ProviderUpdated) -> ProviderView:
    return reduce(provider_projection.evolve, events, provider_projection.INITIAL)


def configured_for_twilio() -> ProviderView:
    return view_after(provider_updated(1, **{k: v for k, v in TWILIO_SEED.items() if k != "provider"}))


def only_event(events: list) -> ProviderUpdated:
    [event] = events
    assert isinstance(event, ProviderUpdated)
    return event


def error_fields(caught: pytest.ExceptionInfo[InvalidSettingsError]) -> list[str]:
    return [error.field for error in caught.value.errors]


@pytest.mark.parametrize("seed", [TWILIO_SEED, EXOTEL, VOBIZ], ids=["twilio", "exotel", "vobiz"])
def test_the_first_update_with_a_seed_example_records_what_differs_from_the_defaults(seed: dict) -> None:
    event = only_event(decide_update_provider(provider_projection.INITIAL, UpdateProvider(seed), ALICE))

    defaults = ProviderConfig()
    expected = {name: value for name, value in seed.items() if getattr(defaults, name) != value}
    assert event.changes == expected
    assert event.originator_id == SETTINGS_ID
    assert event.originator_version == 1
    assert (event.actor, event.request_id) == ("alice", "req-7")


def test_changes_are_recorded_in_the_order_of_the_api_reference() -> None:
    patch = dict(reversed(list(TWILIO_SEED.items())))
    event = only_event(decide_update_provider(provider_projection.INITIAL, UpdateProvider(patch), ALICE))
    assert list(event.changes) == [name for name in PROVIDER_FIELDS if name in event.changes]


def test_a_partial_update_keeps_every_field_left_out() -> None:
    current = configured_for_twilio()
    event = only_event(decide_update_provider(current, UpdateProvider({"twilio_phone_number": "+919876543210"}), ALICE))

    assert event.changes == {"twilio_phone_number": "+919876543210"}
    after = provider_projection.evolve(current, event)
    assert after.config.twilio_auth_token == TWILIO_TOKEN
    assert after.config.public_base_url == "https://your-domain.com"


def test_the_event_version_follows_the_current_version() -> None:
    current = view_after(*[provider_updated(v, **TWILIO_SEED) for v in range(1, 8)])
    event = only_event(decide_update_provider(current, UpdateProvider({"twilio_max_concurrent": 20}), ALICE))
    assert event.originator_version == 8


def test_an_update_that_changes_nothing_stores_nothing() -> None:
    current = configured_for_twilio()
    assert decide_update_provider(current, UpdateProvider(dict(TWILIO_SEED)), ALICE) == []
    assert decide_update_provider(current, UpdateProvider({}), ALICE) == []


def test_putting_back_what_was_got_stores_nothing() -> None:
    current = configured_for_twilio()
    assert decide_update_provider(current, UpdateProvider(masked(current.config)), ALICE) == []


def test_a_masked_secret_sent_back_keeps_the_stored_secret() -> None:
    current = configured_for_twilio()
    shown = mask_secret(TWILIO_TOKEN)
    assert shown == "****9876"
    assert decide_update_provider(current, UpdateProvider({"twilio_auth_token": shown}), ALICE) == []


def test_a_short_secret_sent_back_masked_is_kept_too() -> None:
    current = view_after(provider_updated(1, **{**TWILIO_SEED, "twilio_auth_token": "tiny"}))
    assert decide_update_provider(current, UpdateProvider({"twilio_auth_token": "****"}), ALICE) == []


def test_a_masked_secret_sent_back_beside_a_real_change_records_only_the_change() -> None:
    current = configured_for_twilio()
    patch = {**masked(current.config), "twilio_max_concurrent": 25}
    assert only_event(decide_update_provider(current, UpdateProvider(patch), ALICE)).changes == {
        "twilio_max_concurrent": 25
    }


def test_a_new_secret_replaces_the_stored_one() -> None:
    current = configured_for_twilio()
    event = only_event(
        decide_update_provider(current, UpdateProvider({"twilio_auth_token": "a-brand-new-token"}), ALICE)
    )
    assert event.changes == {"twilio_auth_token": "a-brand-new-token"}


def test_null_clears_an_optional_field() -> None:
    current = configured_for_twilio()
    event = only_event(decide_update_provider(current, UpdateProvider({"twilio_phone_number": None}), ALICE))
    assert event.changes == {"twilio_phone_number": None}
    assert provider_projection.evolve(current, event).config.twilio_phone_number is None


def test_clearing_a_required_credential_is_rejected_and_names_it() -> None:
    with pytest.raises(InvalidSettingsError) as caught:
        decide_update_provider(configured_for_twilio(), UpdateProvider({"twilio_auth_token": None}), ALICE)
    assert error_fields(caught) == ["twilio_auth_token"]
    assert "twilio_auth_token" in caught.value.detail


@pytest.mark.parametrize(
    ("provider", "required"),
    [
        ("twilio", ["twilio_account_sid", "twilio_auth_token"]),
        ("exotel", ["exotel_account_sid", "exotel_api_key", "exotel_api_token"]),
        ("vobiz", ["vobiz_auth_id", "vobiz_auth_token"]),
    ],
)
def test_the_active_provider_needs_its_credentials_and_each_missing_one_is_named(
    provider: str, required: list[str]
) -> None:
    patch = {"provider": provider, "public_base_url": "https://your-domain.com"}
    with pytest.raises(InvalidSettingsError) as caught:
        decide_update_provider(provider_projection.INITIAL, UpdateProvider(patch), ALICE)
    assert error_fields(caught) == required
    for name in required:
        assert name in caught.value.detail
    assert all(provider in error.message for error in caught.value.errors)


def test_public_base_url_is_required_for_every_provider() -> None:
    patch = {k: v for k, v in TWILIO_SEED.items() if k != "public_base_url"}
    with pytest.raises(InvalidSettingsError) as caught:
        decide_update_provider(provider_projection.INITIAL, UpdateProvider(patch), ALICE)
    assert error_fields(caught) == ["public_base_url"]


def test_an_empty_update_of_the_unconfigured_settings_lists_everything_missing() -> None:
    with pytest.raises(InvalidSettingsError) as caught:
        decide_update_provider(provider_projection.INITIAL, UpdateProvider({}), ALICE)
    assert error_fields(caught) == ["public_base_url", "twilio_account_sid", "twilio_auth_token"]


def test_switching_to_a_provider_whose_credentials_are_stored_records_only_the_switch() -> None:
    current = view_after(provider_updated(1, **TWILIO_SEED), provider_updated(2, **VOBIZ))
    assert current.config.provider == "vobiz"
    event = only_event(decide_update_provider(current, UpdateProvider({"provider": "twilio"}), ALICE))
    assert event.changes == {"provider": "twilio"}
    assert event.originator_version == 3


def test_credentials_of_an_inactive_provider_may_be_cleared() -> None:
    current = view_after(provider_updated(1, **TWILIO_SEED), provider_updated(2, **{**EXOTEL, "provider": "twilio"}))
    event = only_event(decide_update_provider(current, UpdateProvider({"exotel_api_key": None}), ALICE))
    assert event.changes == {"exotel_api_key": None}


def test_rejections_never_quote_a_secret() -> None:
    patch = {"provider": "exotel", "exotel_api_key": "sk-very-secret-key", "twilio_auth_token": "tw-secret-42"}
    with pytest.raises(InvalidSettingsError) as caught:
        decide_update_provider(provider_projection.INITIAL, UpdateProvider(patch), ALICE)
    for error in caught.value.errors:
        assert "secret" not in error.message
    assert "secret" not in caught.value.detail


def test_a_complete_configuration_misses_nothing() -> None:
    assert missing_settings(configured_for_twilio().config) == []


# -- field-by-field normalisation -----------------------------------------------------------------------------


def test_urls_are_normalised() -> None:
    patch = {"public_base_url": "https://Your-Domain.com/voice/", "exotel_api_base": "https://API.exotel.com/"}
    assert update_provider(patch).changes == {
        "public_base_url": "https://your-domain.com/voice",
        "exotel_api_base": "https://api.exotel.com",
    }


def test_every_providers_phone_number_becomes_e164() -> None:
    patch = {
        "twilio_phone_number": "+1 (555) 123-4567",
        "exotel_phone_number": "+91 98765 43210",
        "vobiz_phone_number": "+91.98765.43210",
    }
    assert update_provider(patch).changes == {
        "twilio_phone_number": "+15551234567",
        "exotel_phone_number": "+919876543210",
        "vobiz_phone_number": "+919876543210",
    }


def test_null_and_numbers_pass_through_and_text_is_trimmed() -> None:
    patch = {
        "twilio_phone_number": None,
        "public_base_url": None,
        "twilio_max_concurrent": 42,
        "exotel_account_sid": "  your_sid ",
        "provider": "exotel",
    }
    assert update_provider(patch).changes == {
        "twilio_phone_number": None,
        "public_base_url": None,
        "twilio_max_concurrent": 42,
        "exotel_account_sid": "your_sid",
        "provider": "exotel",
    }


@pytest.mark.parametrize("name", ["exotel_account_sid", "exotel_api_key", "vobiz_auth_id", "twilio_auth_token"])
@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_an_empty_string_is_rejected_with_a_hint_to_send_null(name: str, blank: str) -> None:
    with pytest.raises(InvalidSettingsError) as caught:
        update_provider({name: blank})
    [error] = caught.value.errors
    assert error.field == name
    assert "null" in error.message


def test_every_bad_field_is_reported_at_once_without_its_value() -> None:
    patch = {
        "public_base_url": "http://your-domain.com",
        "exotel_api_base": "https://10.0.0.7",
        "twilio_phone_number": "5551234567",
        "vobiz_auth_id": "",
        "vobiz_auth_token": "fine-token",
    }
    with pytest.raises(InvalidSettingsError) as caught:
        update_provider(patch)
    assert error_fields(caught) == ["public_base_url", "exotel_api_base", "twilio_phone_number", "vobiz_auth_id"]
    for value in ("http://your-domain.com", "10.0.0.7", "5551234567"):
        assert value not in caught.value.detail
