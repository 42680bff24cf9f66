"""Request and response bodies of the REST API (msgspec structs; their constraints appear in OpenAPI).

Types and shapes are checked here; rules that need code (E.164 numbers, public URLs, the provider's required
credentials) live in ``service.write.rules`` and ``service.write.decisions``.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar.openapi.datastructures import ResponseSpec
from msgspec import UNSET, Meta, Struct, UnsetType

from events.provider import ProviderName
from events.wire import EndpointState
from service.read.presenter import ProviderSettings
from service.write.errors import EndpointNotFoundError
from service.write.rules import AGENT_NAME_PATTERN, LABEL_MAX_LENGTH, TWILIO_ACCOUNT_SID_PATTERN

__all__ = ["ProviderName", "ProviderSettings"]  # the response bodies are the read side's, documented here
AgentName = Annotated[
    str, Meta(pattern=AGENT_NAME_PATTERN, description="Letters, digits, '.', '_', '-'; 1-64 characters; goes into URLs")
]
# The patterns of labels, phone numbers, URLs and credentials are checked by ``service.write.rules`` (every bad field
# named at once, with a message that says what is wrong) and shown in the OpenAPI document by ``service.http.openapi``.
Label = Annotated[str, Meta(max_length=LABEL_MAX_LENGTH, description="Human-readable label; no control characters")]
PHONE_NUMBER_DESCRIPTION = (
    "International format with + and country code (spaces, dashes, dots and parentheses tolerated); it must be a "
    "possible number for its country code (libphonenumber); stored as E.164"
)
PhoneNumber = Annotated[str, Meta(max_length=32, description=PHONE_NUMBER_DESCRIPTION)]
PublicUrl = Annotated[
    str,
    Meta(
        max_length=2048,
        description="https URL of a public host (no localhost, loopback, private or link-local address), without "
        "credentials, query or fragment; a trailing slash is removed",
    ),
]
MaxConcurrent = Annotated[int, Meta(ge=1, le=1000)]
Secret = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=512,
        description="Write-only in effect: reads show it masked. Sending back the current mask keeps the secret; "
        "any other masked value (**** and up to 4 characters) is refused",
    ),
]
Identifier = Annotated[str, Meta(min_length=1, max_length=256)]
TwilioAccountSid = Annotated[str, Meta(pattern=TWILIO_ACCOUNT_SID_PATTERN, description="AC + 32 hex digits")]


def present_fields(struct: Struct) -> dict[str, Any]:
    """The fields a client actually sent (``UNSET`` ones left out), for partial updates."""
    return {name: value for name in struct.__struct_fields__ if (value := getattr(struct, name)) is not UNSET}


class ProviderSettingsUpdate(Struct, forbid_unknown_fields=True, kw_only=True):
    """Partial update: a field left out keeps its value; ``null`` clears it."""

    provider: ProviderName | UnsetType = UNSET
    public_base_url: PublicUrl | None | UnsetType = UNSET
    twilio_account_sid: TwilioAccountSid | None | UnsetType = UNSET
    twilio_auth_token: Secret | None | UnsetType = UNSET
    twilio_phone_number: PhoneNumber | None | UnsetType = UNSET
    twilio_max_concurrent: MaxConcurrent | UnsetType = UNSET
    exotel_account_sid: Identifier | None | UnsetType = UNSET
    exotel_api_key: Secret | None | UnsetType = UNSET
    exotel_api_token: Secret | None | UnsetType = UNSET
    exotel_phone_number: PhoneNumber | None | UnsetType = UNSET
    exotel_api_base: PublicUrl | None | UnsetType = UNSET
    exotel_max_concurrent: MaxConcurrent | UnsetType = UNSET
    vobiz_auth_id: Identifier | None | UnsetType = UNSET
    vobiz_auth_token: Secret | None | UnsetType = UNSET
    vobiz_phone_number: PhoneNumber | None | UnsetType = UNSET
    vobiz_max_concurrent: MaxConcurrent | UnsetType = UNSET


class EndpointCreate(Struct, forbid_unknown_fields=True, kw_only=True):
    phone_number: PhoneNumber
    provider: ProviderName
    inbound_agent_name: AgentName | None = None
    outbound_agent_name: AgentName | None = None
    label: Label | None = None
    is_active: bool = True


class EndpointUpdate(Struct, forbid_unknown_fields=True, kw_only=True):
    """Partial update; ``null`` clears an agent or the label. Number and provider are fixed."""

    inbound_agent_name: AgentName | None | UnsetType = UNSET
    outbound_agent_name: AgentName | None | UnsetType = UNSET
    label: Label | None | UnsetType = UNSET
    is_active: bool | UnsetType = UNSET


EndpointOut = EndpointState
"""An endpoint as GET/POST/PUT return it: the same type as the ``endpoint`` of every NATS message."""


class ErrorItem(Struct):
    field: str
    message: str


class ErrorBody(Struct, kw_only=True):
    detail: str
    errors: list[ErrorItem] | UnsetType = UNSET


MAX_POSITION = 2**53 - 1
"""The bound of every integer query parameter: within what both stores hold (64-bit signed), and the largest integer
every JSON client reads exactly (a double), so the bound in the OpenAPI document is the bound the server applies. A
larger value is a 422, not an overflow deep in the database driver."""

BEARER = "BearerKey"


def needs(scope: str) -> list[dict[str, list[str]]]:
    """OpenAPI security requirement: an API key with ``scope``."""
    return [{BEARER: [scope]}]


def error_responses(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI descriptions of the error responses a route can give (bodies are ``ErrorBody``)."""
    meaning = {
        304: "Not modified: If-None-Match names the current ETag",
        400: "Malformed JSON, a missing body, a JSON body nested absurdly deep, or a malformed Idempotency-Key",
        401: "No API key, or an unknown one (see WWW-Authenticate)",
        403: "The API key lacks the scope this route needs",
        404: "No endpoint with that id (also for a malformed id)",
        409: "Another endpoint already holds the phone number",
        412: "If-Match does not name the current ETag: nothing was changed; read again and resend",
        413: "Body larger than 64 KiB",
        422: "A field breaks a rule (`errors` names each field), or the Idempotency-Key was used for another request",
        503: "The event store is unreachable; retry",
    }
    return {
        code: ResponseSpec(
            data_container=None if code == 304 else ErrorBody, generate_examples=False, description=meaning[code]
        )
        for code in codes
    }


def parse_endpoint_id(raw: str) -> UUID:
    """A malformed id names no endpoint: 404, like an unknown one."""
    try:
        return UUID(raw)
    except ValueError:
        raise EndpointNotFoundError("endpoint not found (not a valid endpoint id)") from None
