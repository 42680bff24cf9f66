"""Stories of ``/api/settings/telephony`` on a real store (SQLite file and PostgreSQL)."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from service.container import Container
from tests.integration.support import (
    TELEPHONY,
    assert_error,
    assert_validation_error,
    configure,
    expected_view,
    head,
)
from tests.seed import EXOTEL, SEED_DEFAULTS, TWILIO, TWILIO_SID, VOBIZ


def test_a_fresh_service_shows_the_sixteen_seed_fields_with_their_defaults(client: TestClient) -> None:
    response = client.get(TELEPHONY)

    assert response.status_code == 200
    assert response.json() == SEED_DEFAULTS
    assert len(response.json()) == 16


@pytest.mark.parametrize("example", [TWILIO, EXOTEL, VOBIZ], ids=["twilio", "exotel", "vobiz"])
def test_an_operator_configures_a_provider_with_the_seed_example_and_reads_it_back_masked(
    client: TestClient, container: Container, example: dict
) -> None:
    before = head(container)

    response = client.put(TELEPHONY, json=example)

    assert response.status_code == 200, response.text
    assert response.json() == expected_view(example)
    assert client.get(TELEPHONY).json() == expected_view(example)
    assert head(container) > before


def test_the_masks_show_four_stars_and_the_last_four_characters_of_each_secret(client: TestClient) -> None:
    body = configure(
        client,
        {**EXOTEL, "exotel_api_key": "key-0123456789-WXYZ", "exotel_api_token": "tok-abcdefgh-9876"},
        {**TWILIO, "twilio_auth_token": "tw-auth-token-1A2B"},
        {"vobiz_auth_id": "MA1234", "vobiz_auth_token": "vz-secret-token-Q7Q7"},
    )

    assert body["twilio_auth_token"] == "****1A2B"
    assert body["exotel_api_key"] == "****WXYZ"
    assert body["exotel_api_token"] == "****9876"
    assert body["vobiz_auth_token"] == "****Q7Q7"
    assert client.get(TELEPHONY).json() == body
    text = client.get(TELEPHONY).text
    for secret in ("key-0123456789-WXYZ", "tok-abcdefgh-9876", "tw-auth-token-1A2B", "vz-secret-token-Q7Q7"):
        assert secret not in text
    assert body["vobiz_auth_id"] == "MA1234"  # identifiers are not secrets


def test_a_partial_update_changes_only_the_fields_it_sends(client: TestClient) -> None:
    configure(client, TWILIO)

    body = configure(client, {"twilio_max_concurrent": 25})
    assert body == expected_view(TWILIO, {"twilio_max_concurrent": 25})

    body = configure(client, {"public_base_url": "https://voice.example.org"})
    assert body == expected_view(TWILIO, {"twilio_max_concurrent": 25, "public_base_url": "https://voice.example.org"})
    assert client.get(TELEPHONY).json() == body


def test_switching_to_exotel_keeps_the_twilio_configuration_for_later(client: TestClient) -> None:
    configure(client, TWILIO)

    body = configure(client, EXOTEL)

    assert body == expected_view(TWILIO, EXOTEL)
    assert body["provider"] == "exotel"
    assert body["twilio_account_sid"] == TWILIO_SID
    body = configure(client, {"provider": "twilio"})
    assert body == expected_view(TWILIO, EXOTEL, {"provider": "twilio"})


def test_a_fresh_service_refuses_a_put_without_base_url_and_twilio_credentials(
    client: TestClient, container: Container
) -> None:
    before = head(container)

    assert_validation_error(
        client.put(TELEPHONY, json={}), "public_base_url", "twilio_account_sid", "twilio_auth_token"
    )
    assert_validation_error(
        client.put(TELEPHONY, json={"provider": "twilio", "twilio_max_concurrent": 20}),
        "public_base_url",
        "twilio_account_sid",
        "twilio_auth_token",
    )
    assert_validation_error(
        client.put(TELEPHONY, json={k: v for k, v in TWILIO.items() if k != "public_base_url"}), "public_base_url"
    )
    assert_validation_error(
        client.put(TELEPHONY, json={k: v for k, v in TWILIO.items() if k != "twilio_auth_token"}), "twilio_auth_token"
    )

    assert head(container) == before
    assert client.get(TELEPHONY).json() == SEED_DEFAULTS


@pytest.mark.parametrize(
    ("example", "credentials"),
    [
        (EXOTEL, ("exotel_account_sid", "exotel_api_key", "exotel_api_token")),
        (VOBIZ, ("vobiz_auth_id", "vobiz_auth_token")),
        (TWILIO, ("twilio_account_sid", "twilio_auth_token")),
    ],
    ids=["exotel", "vobiz", "twilio"],
)
def test_activating_a_provider_without_its_credentials_names_each_missing_one(
    client: TestClient, container: Container, example: dict, credentials: tuple[str, ...]
) -> None:
    other = VOBIZ if example is TWILIO else TWILIO
    configure(client, other)
    before = head(container)

    assert_validation_error(client.put(TELEPHONY, json={"provider": example["provider"]}), *credentials)
    for missing in credentials:
        partial = {k: v for k, v in example.items() if k != missing}
        errors = assert_validation_error(client.put(TELEPHONY, json=partial), missing)
        assert example["provider"] in errors[0]["message"]

    assert head(container) == before
    assert client.get(TELEPHONY).json() == expected_view(other)


def test_null_clears_a_credential_but_not_one_the_active_provider_needs(
    client: TestClient, container: Container
) -> None:
    configure(client, EXOTEL, TWILIO)

    body = configure(client, {"exotel_api_key": None, "exotel_phone_number": None})
    assert body["exotel_api_key"] is None
    assert body["exotel_phone_number"] is None
    assert body == expected_view(EXOTEL, TWILIO, {"exotel_api_key": None, "exotel_phone_number": None})

    before = head(container)
    assert_validation_error(client.put(TELEPHONY, json={"twilio_auth_token": None}), "twilio_auth_token")
    assert_validation_error(client.put(TELEPHONY, json={"twilio_account_sid": None}), "twilio_account_sid")
    assert_validation_error(client.put(TELEPHONY, json={"public_base_url": None}), "public_base_url")
    assert_validation_error(client.put(TELEPHONY, json={"provider": "exotel"}), "exotel_api_key")
    assert head(container) == before
    assert client.get(TELEPHONY).json() == body


def test_a_client_can_put_back_exactly_what_it_got_without_changing_a_secret(
    client: TestClient, container: Container
) -> None:
    configure(client, VOBIZ, EXOTEL, TWILIO)
    shown = client.get(TELEPHONY).json()
    assert shown["twilio_auth_token"] == "****oken"
    before = head(container)

    response = client.put(TELEPHONY, json=shown)

    assert response.status_code == 200, response.text
    assert response.json() == shown
    assert head(container) == before  # nothing changed, nothing stored
    stored = container.app.load_provider().config
    assert stored.twilio_auth_token == "your_auth_token"
    assert stored.exotel_api_key == "your_api_key"
    assert stored.exotel_api_token == "your_api_token"
    assert stored.vobiz_auth_token == "your_auth_token"

    # A masked secret next to a real change keeps the secret and stores only the change.
    body = configure(client, {**shown, "twilio_max_concurrent": 11})
    assert body == {**shown, "twilio_max_concurrent": 11}
    assert container.app.load_provider().config.twilio_auth_token == "your_auth_token"

    # A new secret shows its own last four characters.
    body = configure(client, {"twilio_auth_token": "rotated-token-9Z9Z"})
    assert body["twilio_auth_token"] == "****9Z9Z"
    assert client.get(TELEPHONY).json()["twilio_auth_token"] == "****9Z9Z"


def test_a_new_secret_that_ends_like_the_old_one_is_still_stored(client: TestClient, container: Container) -> None:
    configure(client, TWILIO)
    before = head(container)

    body = configure(client, {"twilio_auth_token": "a-completely-new-token"})

    assert body["twilio_auth_token"] == "****oken"  # same mask as "your_auth_token"
    assert head(container) > before
    assert container.app.load_provider().config.twilio_auth_token == "a-completely-new-token"


def test_urls_must_be_public_https_without_credentials_query_or_fragment(
    client: TestClient, container: Container
) -> None:
    configure(client, TWILIO)
    before = head(container)
    shown = client.get(TELEPHONY).json()
    refused = [
        "http://your-domain.com",
        "ftp://your-domain.com",
        "your-domain.com",
        "https://",
        "https://localhost",
        "https://localhost:8443/hooks",
        "https://voice.localhost",
        "https://127.0.0.1",
        "https://10.1.2.3",
        "https://172.16.0.5",
        "https://192.168.1.10",
        "https://169.254.169.254",
        "https://[::1]",
        "https://[fe80::1]",
        "https://your-domain.com/hooks?token=abc",
        "https://your-domain.com/#section",
        "https://user:password@your-domain.com",
        "https://your-domain.com:notaport",
        "",
    ]

    for field in ("public_base_url", "exotel_api_base"):
        for url in refused:
            errors = assert_validation_error(client.put(TELEPHONY, json={field: url}), field)
            assert url not in errors[0]["message"] or not url

    assert head(container) == before
    assert client.get(TELEPHONY).json() == shown


def test_urls_lose_their_trailing_slash(client: TestClient) -> None:
    configure(client, TWILIO)

    for field in ("public_base_url", "exotel_api_base"):
        assert configure(client, {field: "https://your-domain.com/"})[field] == "https://your-domain.com"
        assert configure(client, {field: "https://your-domain.com/voice/"})[field] == "https://your-domain.com/voice"
        assert (
            configure(client, {field: "https://Voice.Example.com:8443/a/b/"})[field]
            == "https://voice.example.com:8443/a/b"
        )
        assert configure(client, {field: "https://8.8.8.8/"})[field] == "https://8.8.8.8"
        assert client.get(TELEPHONY).json()[field] == "https://8.8.8.8"


def test_provider_phone_numbers_are_stored_in_e164(client: TestClient, container: Container) -> None:
    body = configure(
        client,
        {
            **TWILIO,
            "twilio_phone_number": "+1 (555) 123-4567",
            "exotel_phone_number": "+91 98765-43210",
            "vobiz_phone_number": "+91.98765.43210",
        },
    )
    assert body["twilio_phone_number"] == "+15551234567"
    assert body["exotel_phone_number"] == "+919876543210"
    assert body["vobiz_phone_number"] == "+919876543210"

    before = head(container)
    for field in ("twilio_phone_number", "exotel_phone_number", "vobiz_phone_number"):
        for bad in ("5551234567", "+1 555 CALL NOW", "+1555", "+999 123456"):
            assert_validation_error(client.put(TELEPHONY, json={field: bad}), field)
    assert head(container) == before


def test_twilio_account_sid_must_be_ac_and_32_hex_digits(client: TestClient, container: Container) -> None:
    configure(client, TWILIO)
    before = head(container)

    for bad in ("AC123", "AC" + "0" * 31, "AC" + "0" * 33, "XX" + "0" * 32, "AC" + "g" * 32, "ac" + "0" * 32, ""):
        assert_validation_error(client.put(TELEPHONY, json={"twilio_account_sid": bad}), "twilio_account_sid")
    assert head(container) == before

    upper = "AC" + "ABCDEF0123456789" * 2
    assert configure(client, {"twilio_account_sid": upper})["twilio_account_sid"] == upper


def test_max_concurrent_is_an_integer_from_1_to_1000(client: TestClient, container: Container) -> None:
    configure(client, TWILIO)
    fields = ("twilio_max_concurrent", "exotel_max_concurrent", "vobiz_max_concurrent")

    for field in fields:
        assert configure(client, {field: 1})[field] == 1
        assert configure(client, {field: 1000})[field] == 1000
    before = head(container)
    for field in fields:
        for bad in (0, -1, 1001, 10**12, 1.5, True, "ten", None, [5], {"value": 5}):
            assert_validation_error(client.put(TELEPHONY, json={field: bad}), field)
    assert head(container) == before
    assert [client.get(TELEPHONY).json()[field] for field in fields] == [1000, 1000, 1000]


def test_unknown_fields_and_unknown_providers_are_refused(client: TestClient, container: Container) -> None:
    configure(client, TWILIO)
    before = head(container)

    assert_validation_error(client.put(TELEPHONY, json={"plivo_auth_id": "x"}), "plivo_auth_id")
    assert_validation_error(client.put(TELEPHONY, json={**TWILIO, "region": "eu"}), "region")
    assert_validation_error(client.put(TELEPHONY, json={"provider": "plivo"}), "provider")
    assert_validation_error(client.put(TELEPHONY, json={"provider": "Twilio"}), "provider")
    assert_validation_error(client.put(TELEPHONY, json={"provider": None}), "provider")

    assert head(container) == before
    assert client.get(TELEPHONY).json() == expected_view(TWILIO)


def test_a_put_that_changes_nothing_stores_no_event(client: TestClient, container: Container) -> None:
    configure(client, TWILIO, EXOTEL)
    shown = client.get(TELEPHONY).json()
    before = head(container)

    for same in (
        {},
        EXOTEL,
        {"provider": "exotel"},
        {"twilio_phone_number": "+1 555-123-4567"},  # the same number, spelled differently
        {"public_base_url": "https://your-domain.com/"},  # the same URL once normalised
        {"exotel_api_key": "****_key"},  # the mask of the stored key
        {"vobiz_auth_id": None},  # already null
    ):
        response = client.put(TELEPHONY, json=same)
        assert response.status_code == 200, (same, response.text)
        assert response.json() == shown

    assert head(container) == before


def test_validation_messages_never_echo_a_secret(client: TestClient) -> None:
    configure(client, TWILIO)
    secret = "sk_live_9f8e7d6c5b4a39281706"
    attempts = [
        {"twilio_auth_token": secret, "public_base_url": "http://your-domain.com"},
        {"twilio_account_sid": secret},
        {"public_base_url": secret},
        {"exotel_api_base": secret},
        {"twilio_phone_number": secret},
        {"twilio_max_concurrent": secret},
        {"twilio_auth_token": secret * 40},  # too long
        {"exotel_api_key": secret, "provider": "exotel"},  # credentials missing
        {"vobiz_auth_token": secret, "unexpected": secret},
    ]

    for attempt in attempts:
        response = client.put(TELEPHONY, json=attempt)
        assert response.status_code == 422, (attempt, response.text)
        assert secret not in response.text, attempt


def test_a_body_that_is_not_a_json_object_is_refused(client: TestClient, container: Container) -> None:
    configure(client, TWILIO)
    before = head(container)

    assert_error(
        client.put(TELEPHONY, content=b'{"provider": "twilio",', headers={"Content-Type": "application/json"}), 400
    )
    assert_error(client.put(TELEPHONY, content=b"not json", headers={"Content-Type": "application/json"}), 400)
    assert_error(client.put(TELEPHONY, content=b"", headers={"Content-Type": "application/json"}), 400)
    assert client.put(TELEPHONY, json=[TWILIO]).status_code in (400, 422)
    assert client.put(TELEPHONY, json="twilio").status_code in (400, 422)

    assert head(container) == before


def test_a_stale_masked_secret_put_back_after_a_rotation_is_refused_and_the_new_secret_kept(
    client: TestClient, container: Container
) -> None:
    configure(client, {**TWILIO, "twilio_auth_token": "originalTOKEN_5678"})
    read_by_a = client.get(TELEPHONY).json()
    assert read_by_a["twilio_auth_token"] == "****5678"
    configure(client, {"twilio_auth_token": "rotatedTOKEN_abcd"})  # B rotates the token
    before = head(container)

    response = client.put(TELEPHONY, json=read_by_a)  # A puts back what it read, without If-Match

    assert_validation_error(response, "twilio_auth_token")
    assert head(container) == before
    assert container.app.load_provider().config.twilio_auth_token == "rotatedTOKEN_abcd"
    assert client.get(TELEPHONY).json()["twilio_auth_token"] == "****abcd"


@pytest.mark.parametrize("masked_value", ["****", "****5678", "****x"])
def test_a_masked_value_is_never_stored_as_a_secret(
    client: TestClient, container: Container, masked_value: str
) -> None:
    configure(client, TWILIO)  # exotel's secrets are unset
    before = head(container)

    response = client.put(TELEPHONY, json={"exotel_api_key": masked_value, "twilio_auth_token": masked_value})

    errors = assert_validation_error(response, "exotel_api_key", "twilio_auth_token")
    assert all("mask" in error["message"] for error in errors)
    assert head(container) == before
    assert container.app.load_provider().config.exotel_api_key is None


def test_a_secret_that_only_starts_with_stars_is_a_real_secret(client: TestClient, container: Container) -> None:
    configure(client, TWILIO)

    body = configure(client, {"twilio_auth_token": "****-a-long-token-that-starts-with-stars"})

    assert body["twilio_auth_token"] == "****tars"
    assert container.app.load_provider().config.twilio_auth_token == "****-a-long-token-that-starts-with-stars"
