"""The settings file of ``config``: references to the environment, every problem at its line, the warning for a
literal secret, export that never writes a secret and reads back as it was, and the JSON Schema in step with the
loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from events import ENDPOINT_FIELDS as UPDATABLE_ENDPOINT_FIELDS
from events import PROVIDER_FIELDS, SECRET_FIELDS
from service.config import schema
from service.config.files import (
    ENDPOINT_FIELDS,
    TELEPHONY_FIELDS,
    SettingsFile,
    SettingsFileError,
    export_settings,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "settings-file.example.yaml"
TOKEN = "tok-Zq81-secret-value-5x7w"


def load(text: str, **environ: str) -> SettingsFile:
    return load_settings(text, environ)


def problems(text: str, **environ: str) -> list[str]:
    with pytest.raises(SettingsFileError) as caught:
        load(text, **environ)
    return [str(problem) for problem in caught.value.problems]


def values(settings: SettingsFile) -> dict[str, Any]:
    """The file's settings as plain values (the lines left out)."""
    return {
        "telephony": None
        if settings.telephony is None
        else {name: setting.value for name, setting in settings.telephony.items()},
        "endpoints": None
        if settings.endpoints is None
        else {
            number: {name: setting.value for name, setting in endpoint.fields.items()}
            for number, endpoint in settings.endpoints.items()
        },
    }


# -- references -------------------------------------------------------------------------------------------------------


def test_references_are_read_from_the_environment_in_any_string() -> None:
    text = """version: 1
telephony:
  twilio_auth_token: ${TWILIO_AUTH_TOKEN}
  public_base_url: https://${HOST}/voice
endpoints:
  "+15551230000":
    label: costs $${PRICE} at ${HOST}
"""
    settings = load(text, TWILIO_AUTH_TOKEN=TOKEN, HOST="voice.example.com")
    assert values(settings) == {
        "telephony": {"twilio_auth_token": TOKEN, "public_base_url": "https://voice.example.com/voice"},
        "endpoints": {"+15551230000": {"label": "costs ${PRICE} at voice.example.com"}},
    }
    assert settings.warnings == []


def test_a_missing_variable_is_an_error_that_names_it_and_its_line() -> None:
    text = "version: 1\ntelephony:\n  provider: twilio\n  twilio_auth_token: ${TWILIO_AUTH_TOKEN}\n"
    assert problems(text) == ["line 4: environment variable TWILIO_AUTH_TOKEN is not set (telephony.twilio_auth_token)"]


def test_every_missing_variable_is_reported_at_once() -> None:
    text = """version: 1
telephony:
  exotel_api_key: ${EXOTEL_API_KEY}
  exotel_api_token: ${EXOTEL_API_TOKEN}
endpoints:
  "+15551230000":
    label: ${LABEL}
"""
    assert problems(text, EXOTEL_API_KEY="k" * 12) == [
        "line 4: environment variable EXOTEL_API_TOKEN is not set (telephony.exotel_api_token)",
        "line 7: environment variable LABEL is not set (endpoint +15551230000: label)",
    ]


def test_an_empty_variable_is_an_error_not_an_empty_secret() -> None:
    text = "version: 1\ntelephony:\n  vobiz_auth_token: ${VOBIZ_AUTH_TOKEN}\n"
    assert problems(text, VOBIZ_AUTH_TOKEN="") == [
        "line 3: environment variable VOBIZ_AUTH_TOKEN is empty (telephony.vobiz_auth_token); "
        "write null to clear a setting"
    ]


@pytest.mark.parametrize("written", ["${}", "${1ABC}", "${NOT-A-NAME}", "abc${", "${UNCLOSED"])
def test_a_malformed_reference_is_an_error_that_does_not_repeat_the_value(written: str) -> None:
    text = f"version: 1\ntelephony:\n  twilio_auth_token: 'x{TOKEN}{written}'\n"
    found = problems(text)
    assert len(found) == 1
    assert found[0].startswith("line 3: telephony.twilio_auth_token has a malformed reference")
    assert TOKEN not in found[0]


# -- literal secrets --------------------------------------------------------------------------------------------------


def test_a_literal_secret_is_accepted_with_a_warning_that_recommends_a_reference() -> None:
    text = f"version: 1\ntelephony:\n  provider: twilio\n  twilio_auth_token: {TOKEN}\n"
    settings = load(text)
    assert settings.telephony is not None
    assert settings.telephony["twilio_auth_token"].value == TOKEN
    assert [str(warning) for warning in settings.warnings] == [
        "line 4: twilio_auth_token is written literally; use ${TWILIO_AUTH_TOKEN}"
    ]
    assert TOKEN not in str(settings.warnings)


@pytest.mark.parametrize("written", ["${TWILIO_AUTH_TOKEN}", "prefix-${TWILIO_AUTH_TOKEN}", "null", "'****wxyz'"])
def test_a_reference_a_null_or_an_echoed_mask_draws_no_warning(written: str) -> None:
    settings = load(f"version: 1\ntelephony:\n  twilio_auth_token: {written}\n", TWILIO_AUTH_TOKEN=TOKEN)
    assert settings.warnings == []


def test_a_literal_non_secret_draws_no_warning() -> None:
    assert load("version: 1\ntelephony:\n  twilio_account_sid: AC0123\n").warnings == []


# -- malformed files ----------------------------------------------------------------------------------------------


def test_a_yaml_syntax_error_has_its_line_and_never_quotes_the_line() -> None:
    text = f"version: 1\ntelephony:\n  twilio_auth_token: {TOKEN}\n   provider: twilio\n"
    found = problems(text)
    assert len(found) == 1
    assert found[0].startswith("line 4: YAML syntax error: ")
    assert TOKEN not in found[0]


def test_every_type_structure_and_key_problem_is_reported_with_its_line() -> None:
    text = """version: 1
telephony:
  provider: foo
  twilio_max_concurrent: "5"
  exotel_api_key: [1]
  twilo_auth_token: x
  exotel_phone_number: +919876543210
  vobiz_max_concurrent: null
endpoints:
  "919876543210": {}
  "+1 555 123 4567":
    label: 5
    colour: red
  "+15551234567": null
  "+15551230000":
    is_active: "yes"
    provider: null
  "+15551230001": just a string
surprise: true
"""
    assert problems(text) == [
        "line 3: telephony.provider must be one of twilio, exotel, vobiz",
        "line 4: telephony.twilio_max_concurrent must be an integer, not a string",
        "line 5: telephony.exotel_api_key must be a string (a ${NAME} reference) or null, not a list",
        'line 6: unknown key "twilo_auth_token" in telephony; did you mean twilio_auth_token?',
        "line 7: telephony.exotel_phone_number must be a string or null, not a number (quote it to make it a string)",
        "line 8: telephony.vobiz_max_concurrent must be an integer, not null",
        'line 10: endpoint "919876543210": the phone number must be in international format, starting with + and '
        "the country code (E.164)",
        "line 12: endpoint +15551234567: label must be a string or null, not a number (quote it to make it a string)",
        'line 13: unknown key "colour" in endpoint +15551234567 (known: provider, inbound_agent_name, '
        "outbound_agent_name, label, is_active)",
        "line 14: endpoint +15551234567 appears twice (also at line 11)",
        "line 16: endpoint +15551230000: is_active must be true or false, not a string",
        "line 17: endpoint +15551230000: provider must be one of twilio, exotel, vobiz, not null",
        "line 18: endpoint +15551230001 must be a mapping of its fields, not a string",
        'line 19: unknown key "surprise" in the file (known: version, telephony, endpoints)',
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "line 1: the file is empty: a settings file starts with version: 1"),
        ("- a\n- b\n", "line 1: a settings file is a mapping (version, telephony, endpoints), not a list"),
        ("telephony: {}\n", "line 1: version is missing: a settings file starts with version: 1"),
        ("version: 2\n", "line 1: version must be 1 (the only format this program reads)"),
        ("version: '1'\n", "line 1: version must be 1 (the only format this program reads)"),
        ("version: 1\ntelephony: [a]\n", "line 2: telephony must be a mapping, not a list"),
        ("version: 1\nendpoints: yes\n", "line 2: endpoints must be a mapping, not true or false"),
        ("version: 1\nversion: 1\n", 'line 2: "version" appears twice in the file (also at line 1)'),
        (
            "version: 1\ntelephony:\n  exotel_token: x\n",
            'line 3: unknown key "exotel_token" in telephony; did you mean exotel_api_token?',
        ),
        (
            "version: 1\nendpoints:\n  +1 555 123 4567:\n    label: !!binary aGk=\n",
            "line 4: endpoint +15551234567: label must be a string or null, not a tag:yaml.org,2002:binary value",
        ),
        (
            "version: 1\ntelephony:\n  exotel_account_sid: é\x07\n",
            "line 3: a character YAML does not allow (#x0007): control characters are not allowed",
        ),
        (
            "version: 1\n---\nversion: 1\n",
            "line 2: YAML syntax error: expected a single document in the stream; but found another document",
        ),
    ],
)
def test_a_badly_shaped_file_gets_a_line_for_its_problem(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_sections_left_out_or_empty_are_not_managed_and_an_empty_mapping_is() -> None:
    assert values(load("version: 1\n")) == {"telephony": None, "endpoints": None}
    assert values(load("version: 1\ntelephony:\nendpoints:\n")) == {"telephony": None, "endpoints": None}
    assert values(load("version: 1\ntelephony: {}\nendpoints: {}\n")) == {"telephony": {}, "endpoints": {}}


def test_numbers_are_keyed_as_e164_in_any_spelling_quoted_or_not() -> None:
    text = """version: 1
endpoints:
  +15551230000:
    label: a
  "+1 (555) 123-0001":
  " +44 20 7946 0958 ":
    is_active: false
  +4407911123456:
"""
    settings = load(text)
    assert settings.endpoints is not None
    assert {number: (endpoint.line, endpoint.checked) for number, endpoint in settings.endpoints.items()} == {
        "+15551230000": (3, False),  # E.164 already: trusted unless the service lacks it (see the plan)
        "+15551230001": (5, True),
        "+442079460958": (6, True),
        "+4407911123456": (8, False),  # the shape of E.164 but not its form: the plan normalises it
    }


def test_integers_and_booleans_as_yaml_and_json_schema_read_them() -> None:
    text = "version: 1.0\ntelephony:\n  twilio_max_concurrent: 12.0\nendpoints:\n  '+15551230000':\n    is_active: no\n"
    assert values(load(text)) == {
        "telephony": {"twilio_max_concurrent": 12},
        "endpoints": {"+15551230000": {"is_active": False}},
    }
    assert problems("version: 1\ntelephony:\n  twilio_max_concurrent: 12.5\n") == [
        "line 3: telephony.twilio_max_concurrent must be an integer, not a number"
    ]
    assert problems("version: 1\ntelephony:\n  twilio_max_concurrent: true\n") == [
        "line 3: telephony.twilio_max_concurrent must be an integer, not true or false"
    ]


# -- export -----------------------------------------------------------------------------------------------------------

MASKED = {
    "provider": "exotel",
    "public_base_url": "https://voice.example.com",
    "twilio_account_sid": None,
    "twilio_auth_token": "****Qw3r",
    "twilio_phone_number": None,
    "twilio_max_concurrent": 10,
    "exotel_account_sid": "my-sid",
    "exotel_api_key": "****Zk9p",
    "exotel_api_token": "****",
    "exotel_phone_number": "+919876543210",
    "exotel_api_base": "https://api.exotel.com",
    "exotel_max_concurrent": 5,
    "vobiz_auth_id": None,
    "vobiz_auth_token": None,
    "vobiz_phone_number": None,
    "vobiz_max_concurrent": 5,
}


def endpoint(number: str, **fields: Any) -> dict[str, Any]:
    base = {
        "id": f"id-{number}",
        "phone_number": number,
        "provider": "exotel",
        "inbound_agent_name": None,
        "outbound_agent_name": None,
        "label": None,
        "is_active": True,
        "created_at": "2026-01-01T00:00:00",
        "updated_at": "2026-01-01T00:00:00",
        "inbound_webhook_url": None,
    }
    return {**base, **fields}


def test_export_writes_secrets_as_references_or_null_and_never_a_value_or_mask() -> None:
    text = export_settings(MASKED, [])
    for name in SECRET_FIELDS:
        assert f"  {name}: " in text
    assert "  twilio_auth_token: ${TWILIO_AUTH_TOKEN}\n" in text
    assert "  exotel_api_key: ${EXOTEL_API_KEY}\n" in text
    assert "  exotel_api_token: ${EXOTEL_API_TOKEN}\n" in text  # set, but too short for the mask to show any of it
    assert "  vobiz_auth_token: null\n" in text
    assert "****" not in text
    assert "Qw3r" not in text
    assert "Zk9p" not in text
    assert text.startswith("# telephony-settings (config export); secrets are ${ENV} references\nversion: 1\n")
    assert text.endswith("endpoints: {}\n")


def test_export_keys_and_sorts_endpoints_by_number_and_reads_back_as_it_was() -> None:
    endpoints = [
        endpoint("+919876543210", inbound_agent_name="support-agent", label="Main support line"),
        endpoint("+15551230000", provider="twilio", outbound_agent_name="sales", is_active=False),
        endpoint("+442079460958", label="true"),
    ]
    text = export_settings(MASKED, endpoints)
    keys = [line for line in text.splitlines() if line.startswith('  "+')]
    assert keys == ['  "+15551230000":', '  "+442079460958":', '  "+919876543210":']
    environ = {"TWILIO_AUTH_TOKEN": "t" * 12, "EXOTEL_API_KEY": "k" * 12, "EXOTEL_API_TOKEN": "x" * 12}
    settings = load_settings(text, environ)
    secrets = {name: environ.get(name.upper()) for name in SECRET_FIELDS}
    assert values(settings) == {
        "telephony": {**MASKED, **secrets},
        "endpoints": {item["phone_number"]: {name: item[name] for name in ENDPOINT_FIELDS} for item in endpoints},
    }
    assert settings.warnings == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40) | st.sampled_from(["${X}", "$${X}", "$$${", "a: b", "#x", "- x", "null", "+1", "1:30"]))
def test_export_writes_any_string_so_that_it_reads_back_the_same(label: str) -> None:
    text = export_settings(MASKED, [endpoint("+15551230000", label=label, inbound_agent_name=label)])
    settings = load_settings(text, {"TWILIO_AUTH_TOKEN": "t", "EXOTEL_API_KEY": "k", "EXOTEL_API_TOKEN": "x"})
    assert settings.endpoints is not None
    fields = settings.endpoints["+15551230000"].fields
    assert (fields["label"].value, fields["inbound_agent_name"].value) == (label, label)


# -- the format's description -----------------------------------------------------------------------------------------


def test_the_field_rules_follow_the_api_fields() -> None:
    assert tuple(TELEPHONY_FIELDS) == PROVIDER_FIELDS
    assert {name for name, rule in TELEPHONY_FIELDS.items() if rule.kind == "secret"} == SECRET_FIELDS
    assert tuple(ENDPOINT_FIELDS) == ("provider", *UPDATABLE_ENDPOINT_FIELDS)


def test_the_committed_schema_is_the_generated_one() -> None:
    assert schema.SCHEMA_FILE == ROOT / "docs" / "settings-file.schema.json"
    assert schema.SCHEMA_FILE.read_text(encoding="utf-8") == schema.schema_text(), (
        "regenerate with `python -m service.config.schema`"
    )


def committed_schema() -> Any:
    return jsonschema_rs.validator_for(json.loads(schema.SCHEMA_FILE.read_text(encoding="utf-8")))


ENVIRON = {"TOKEN": TOKEN, "PROVIDER": "vobiz", "HOST": "example.com"}
DOCUMENTS = [
    # accepted by both
    "version: 1\n",
    "version: 1\ntelephony:\nendpoints:\n",
    "version: 1\ntelephony: {}\nendpoints: {}\n",
    "version: 1\ntelephony:\n  provider: exotel\n  exotel_max_concurrent: 7\n  exotel_api_key: ${TOKEN}\n",
    "version: 1\ntelephony:\n  provider: ${PROVIDER}\n  public_base_url: https://${HOST}\n",
    "version: 1\ntelephony:\n  twilio_auth_token: null\n  twilio_phone_number: '+1 555 123 4567'\n",
    "version: 1\ntelephony:\n  vobiz_auth_token: 'a$${b}'\n",
    "version: 1\nendpoints:\n  '+15551230000':\n",
    "version: 1\nendpoints:\n  '+1 (555) 123-0000':\n    provider: twilio\n    label: null\n    is_active: false\n",
    "version: 1\nendpoints:\n  '+15551230000':\n    inbound_agent_name: a\n    outbound_agent_name: b\n",
    # refused by both
    "telephony: {}\n",
    "version: 2\n",
    "version: '1'\n",
    "version: 1\nextra: 1\n",
    "version: 1\ntelephony: []\n",
    "version: 1\ntelephony:\n  provider: foo\n",
    "version: 1\ntelephony:\n  provider: null\n",
    "version: 1\ntelephony:\n  twilio_max_concurrent: '5'\n",
    "version: 1\ntelephony:\n  twilio_max_concurrent: null\n",
    "version: 1\ntelephony:\n  twilio_max_concurrent: 1.5\n",
    "version: 1\ntelephony:\n  twilio_max_concurrent: true\n",
    "version: 1\ntelephony:\n  twilio_auth_token: 5\n",
    "version: 1\ntelephony:\n  twilio_auth_token: 'a${'\n",
    "version: 1\ntelephony:\n  twilio_auth_token: '${1X}'\n",
    "version: 1\ntelephony:\n  provider: '$${PROVIDER}'\n",
    "version: 1\ntelephony:\n  unknown: 1\n",
    "version: 1\nendpoints: []\n",
    "version: 1\nendpoints:\n  'not a number':\n",
    "version: 1\nendpoints:\n  '+15551230000': []\n",
    "version: 1\nendpoints:\n  '+15551230000':\n    is_active: null\n",
    "version: 1\nendpoints:\n  '+15551230000':\n    is_active: 'true'\n",
    "version: 1\nendpoints:\n  '+15551230000':\n    label: 12\n",
    "version: 1\nendpoints:\n  '+15551230000':\n    provider: null\n",
    "version: 1\nendpoints:\n  '+15551230000':\n    phone_number: '+15551230000'\n",
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_the_schema_accepts_what_the_loader_accepts(text: str) -> None:
    try:
        load_settings(text, ENVIRON)
        loaded = True
    except SettingsFileError:
        loaded = False
    assert committed_schema().is_valid(yaml.safe_load(text)) == loaded


def test_the_example_is_a_valid_file() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert committed_schema().is_valid(yaml.safe_load(text))
    settings = load_settings(text, {"EXOTEL_API_KEY": "k" * 12, "EXOTEL_API_TOKEN": "x" * 12, "REGION": "west"})
    assert settings.warnings == []
    assert settings.endpoints is not None
    assert sorted(settings.endpoints) == ["+919876543210", "+919876543211"]
