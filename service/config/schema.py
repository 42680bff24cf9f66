"""The JSON Schema of the settings file (``docs/settings-file.schema.json``), made from the loader's own field rules
(``service.config.files``), so an editor that validates with it accepts what ``config plan`` reads.

The schema says what the loader checks: keys, types, nulls, providers, references and the shape of a phone number.
The rules of the values themselves (agent names, URLs, ranges) are the service's, checked by a plan's dry run; the
descriptions say what they are.

Regenerate after changing the format:  ``python -m service.config.schema``
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from events import PROVIDERS, SECRET_FIELDS
from service.config.files import (
    ENDPOINT_FIELDS,
    FORMAT_VERSION,
    REFERENCE_PATTERN,
    TELEPHONY_FIELDS,
    TEXT_PATTERN,
    FieldRule,
    env_name,
)
from service.write.rules import PHONE_NUMBER_PATTERN

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "settings-file.schema.json"

DESCRIPTIONS = {
    "provider": "The active provider (telephony:) or the number's provider (an endpoint: fixed once it exists)",
    "public_base_url": "https URL of a public host that providers call back; a trailing slash is removed",
    "exotel_api_base": "https URL of a public host (the Exotel API)",
    "twilio_account_sid": "AC + 32 hex digits",
    "inbound_agent_name": "Letters, digits, '.', '_', '-'; 1-64 characters",
    "outbound_agent_name": "Letters, digits, '.', '_', '-'; 1-64 characters",
    "label": "At most 100 characters, no control characters",
    "is_active": "Whether the number takes calls (a new endpoint: true when left out)",
}
"""The service's rules for the values, which the schema does not check (a plan's dry run does)."""


def _field(name: str, rule: FieldRule) -> dict[str, Any]:
    text = {"$ref": "#/$defs/text"}
    kinds: dict[str, dict[str, Any]] = {
        "provider": {"$ref": "#/$defs/provider"},
        "text": text,
        "secret": text,
        "integer": {"type": "integer"},
        "boolean": {"type": "boolean"},
    }
    schema = kinds[rule.kind]
    if rule.nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    description = DESCRIPTIONS.get(name)
    if name in SECRET_FIELDS:
        description = f"Secret: write a reference, ${{{env_name(name)}}} (config export does); null clears it"
    elif name.endswith("_phone_number"):
        description = "International format with + and the country code; stored as E.164"
    elif name.endswith("_max_concurrent"):
        description = "An integer from 1 to 1000"
    return {**schema, "description": description} if description else schema


def settings_file_schema() -> dict[str, Any]:
    endpoint = {
        "type": "object",
        "description": "An endpoint: a field left out keeps its value (a new endpoint: the API's default); "
        "provider is required for a new number. Left empty (null): the number is kept as it is",
        "additionalProperties": False,
        "properties": {name: _field(name, rule) for name, rule in ENDPOINT_FIELDS.items()},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"telephony-settings settings file, version {FORMAT_VERSION}",
        "description": "The provider settings and the endpoints of a telephony-settings service, as code "
        "(telephony-settings config export | plan | apply). ${NAME} in any string is read from the environment; "
        "$${ is a literal ${.",
        "type": "object",
        "required": ["version"],
        "additionalProperties": False,
        "properties": {
            "version": {"const": FORMAT_VERSION},
            "telephony": {
                "description": "A partial update of the provider settings: a field left out keeps its value, null "
                "clears it. Left out or empty: the provider settings are not changed",
                "anyOf": [
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {name: _field(name, rule) for name, rule in TELEPHONY_FIELDS.items()},
                    },
                    {"type": "null"},
                ],
            },
            "endpoints": {
                "description": "Endpoints keyed by phone number (any spelling, compared as E.164). Left out or empty "
                "(null): endpoints are not managed; {} with --prune deletes every endpoint",
                "anyOf": [
                    {
                        "type": "object",
                        "propertyNames": {"pattern": PHONE_NUMBER_PATTERN},
                        "additionalProperties": {"anyOf": [endpoint, {"type": "null"}]},
                    },
                    {"type": "null"},
                ],
            },
        },
        "$defs": {
            "text": {
                "type": "string",
                "pattern": TEXT_PATTERN,
                "description": "A string; ${NAME} is the environment variable NAME, $${ a literal ${",
            },
            "provider": {
                "anyOf": [
                    {"enum": list(PROVIDERS)},
                    {"allOf": [{"$ref": "#/$defs/text"}, {"pattern": REFERENCE_PATTERN}]},
                ]
            },
        },
    }


def schema_text() -> str:
    """The committed file's text."""
    return json.dumps(settings_file_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
