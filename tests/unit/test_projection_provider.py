"""The provider view, the masking every response applies, and the settings view that holds both."""

from __future__ import annotations

from functools import reduce

from events import SECRET_FIELDS
from projections import ProviderConfig, SettingsView, mask_secret, masked
from projections import provider as provider_projection
from projections import settings as settings_projection
from tests.seed import SEED_DEFAULTS
from tests.unit.builders import at, endpoint_created, endpoint_deleted, provider_updated


def test_before_any_change_the_provider_is_twilio_with_default_limits_and_nothing_else() -> None:
    shown = masked(provider_projection.INITIAL.config)
    assert shown == SEED_DEFAULTS
    assert provider_projection.INITIAL.version == 0
    assert provider_projection.INITIAL.updated_at is None


def test_masked_shows_exactly_the_seed_fields_in_order() -> None:
    assert list(masked(ProviderConfig())) == list(SEED_DEFAULTS)


def test_masked_hides_every_secret_and_nothing_else() -> None:
    config = ProviderConfig(
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="twilio-token-1234",
        exotel_account_sid="your_sid",
        exotel_api_key="exotel-key-5678",
        exotel_api_token="exotel-token-9012",
        vobiz_auth_id="your_auth_id",
        vobiz_auth_token="vobiz-token-3456",
    )
    shown = masked(config)
    assert {name: shown[name] for name in SECRET_FIELDS} == {
        "twilio_auth_token": "****1234",
        "exotel_api_key": "****5678",
        "exotel_api_token": "****9012",
        "vobiz_auth_token": "****3456",
    }
    assert shown["twilio_account_sid"] == "AC" + "0" * 32
    assert shown["exotel_account_sid"] == "your_sid"
    assert shown["vobiz_auth_id"] == "your_auth_id"


def test_a_long_secret_shows_only_its_last_four_characters() -> None:
    assert mask_secret("your_auth_token") == "****oken"
    assert mask_secret("12345678") == "****5678"


def test_a_secret_shorter_than_eight_characters_shows_none_of_itself() -> None:
    for secret in ["a", "abcd", "abcdefg", "1234567"]:
        shown = mask_secret(secret)
        assert shown == "****"
        assert not any(ch in shown for ch in secret)


def test_an_unset_secret_stays_null() -> None:
    assert mask_secret(None) is None


def test_a_provider_update_merges_its_changes_into_the_view() -> None:
    view = reduce(
        provider_projection.evolve,
        [
            provider_updated(1, minute=1, public_base_url="https://your-domain.com", twilio_auth_token="t" * 10),
            provider_updated(2, minute=4, twilio_max_concurrent=20, twilio_auth_token=None),
        ],
        provider_projection.INITIAL,
    )
    assert view.config.public_base_url == "https://your-domain.com"
    assert view.config.twilio_auth_token is None
    assert view.config.twilio_max_concurrent == 20
    assert view.config.exotel_max_concurrent == 5
    assert (view.version, view.updated_at) == (2, at(4))


def test_the_provider_view_ignores_endpoint_events() -> None:
    assert provider_projection.evolve(provider_projection.INITIAL, endpoint_created()) is provider_projection.INITIAL


def test_the_provider_fold_does_not_touch_the_view_it_was_given() -> None:
    before = provider_projection.INITIAL
    after = provider_projection.evolve(before, provider_updated(1, provider="exotel"))
    assert before.config.provider == "twilio"
    assert after.config.provider == "exotel"


def test_the_settings_view_folds_both_views_and_tracks_the_position() -> None:
    created = endpoint_created("+919876543210")
    view = SettingsView()
    assert view.position == 0

    settings_projection.evolve(view, created, 3)
    settings_projection.evolve(view, provider_updated(1, public_base_url="https://your-domain.com"), 4)
    assert view.position == 4
    assert list(view.endpoints.by_id) == [created.originator_id]
    assert view.provider.config.public_base_url == "https://your-domain.com"

    assert settings_projection.evolve(view, endpoint_deleted(created, 2), 9) is view
    assert view.position == 9
    assert view.endpoints.by_id == {}


def test_an_event_neither_view_knows_still_advances_the_position() -> None:
    view = settings_projection.evolve(SettingsView(), object(), 12)
    assert view.position == 12
    assert view.provider is provider_projection.INITIAL
    assert view.endpoints.by_id == {}


def test_two_settings_views_share_no_state() -> None:
    first, second = SettingsView(), SettingsView()
    settings_projection.evolve(first, endpoint_created(), 1)
    assert second.endpoints.by_id == {}
