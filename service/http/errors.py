"""One table from every error to its status code and JSON body (``{"detail": ..., "errors": [...]}``).

Validation messages name the field and the rule, never the submitted value (it may be a secret).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from eventsourcing.persistence import PersistenceError
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_412_PRECONDITION_FAILED,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from events import PROVIDERS
from service.audit.history import EVENT_TYPES
from service.http.etags import etag_of
from service.write.conditions import (
    BAD_IDEMPOTENCY_KEY,
    IdempotencyKeyError,
    IdempotencyKeyReusedError,
    PreconditionFailedError,
    SettingsChangedError,
)
from service.write.errors import (
    ConcurrentChangeError,
    DuplicatePhoneNumberError,
    EndpointNotFoundError,
    FieldError,
    InvalidSettingsError,
)

log = logging.getLogger("telephony_settings.http")

# msgspec reports where a value failed as a JSON path: "$.data.field" from Litestar, "$.field" from our strict pass.
_PATH = re.compile(r" - at `\$(?:\.data)?\.?([^`]*)`$")
_NAMED_FIELD = re.compile(r"field `([^`]+)`")
_QUOTED_VALUE = re.compile(r"'.*'")
CHOICES = {"provider": ", ".join(PROVIDERS), "type": ", ".join(EVENT_TYPES)}
PATTERN_MESSAGES = {
    "phone_number": "must be in international format: +, the country code and digits (spaces, dashes, dots and "
    "parentheses are tolerated)",
}


def describe_msgspec_error(text: str, fallback_field: str = "body", hints: dict[str, str] | None = None) -> FieldError:
    """A client-facing field error from a msgspec validation message, without the submitted value."""
    message, _, _ = text.partition(" - at `")
    path = _PATH.search(text)
    named = _NAMED_FIELD.search(message)
    field = named.group(1) if named else (path.group(1) if path and path.group(1) else fallback_field)
    if "unknown field" in message:
        message = (hints or {}).get(field, "is not a known field")
    elif "missing required field" in message:
        message = "is required"
    elif "Invalid enum value" in message:
        message = f"must be one of {CHOICES[field]}" if field in CHOICES else "is not one of the allowed values"
    elif "matching regex" in message:
        message = PATTERN_MESSAGES.get(field, "does not match the required pattern")
    elif message == "Invalid UUID":
        message = "must be a UUID"
    else:
        message = _QUOTED_VALUE.sub("(value)", message)  # msgspec quotes some values; never echo them
    return FieldError(field, message)


def _json(status: int, detail: str, errors: list[FieldError] | None = None, headers: dict[str, str] | None = None):
    body: dict[str, Any] = {"detail": detail}
    if errors is not None:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


def _field_error(item: dict[str, Any], cause: BaseException | None, hints: dict[str, str], handler: Any) -> FieldError:
    if item.get("source") == "body":
        # The cause is msgspec's own message, with the JSON path of the failing field.
        text = str(cause) if cause is not None else str(item.get("message", "is invalid"))
        return describe_msgspec_error(text, "body", hints)
    field = _wire_name(handler, str(item.get("key") or "query"))
    return FieldError(field, describe_msgspec_error(str(item.get("message", "is invalid")), field).message)


def _wire_name(handler: Any, key: str) -> str:
    """The name a client sent a parameter under (``Idempotency-Key``, ``type``), not the handler's (``type_``)."""
    parameter = getattr(getattr(handler, "parsed_fn_signature", None), "parameters", {}).get(key)
    definition = getattr(parameter, "kwarg_definition", None)
    for alias in ("name", "header", "query"):  # QueryParameter/HeaderParameter(name=...), Parameter(header=...)
        value = getattr(definition, alias, None)
        if isinstance(value, str) and value:
            return value
    return key


def on_validation_exception(request: Request, exc: ValidationException) -> Response:
    cause = exc.__cause__
    if cause is not None and "missing required field `data`" in str(cause):
        return _json(HTTP_400_BAD_REQUEST, "the request body must be a JSON object")
    hints = request.route_handler.opt.get("unknown_field_hints", {})
    items = exc.extra if isinstance(exc.extra, list) else []
    errors = [_field_error(item, cause, hints, request.route_handler) for item in items if isinstance(item, dict)]
    if not errors:
        errors = [FieldError("body", "is invalid")]
    if any(error.field == "Idempotency-Key" for error in errors):
        return _json(HTTP_400_BAD_REQUEST, BAD_IDEMPOTENCY_KEY)  # a malformed header, as documented: 400
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return _json(HTTP_422_UNPROCESSABLE_ENTITY, detail, errors)


def on_invalid_settings(_: Request, exc: InvalidSettingsError) -> Response:
    return _json(HTTP_422_UNPROCESSABLE_ENTITY, exc.detail, exc.errors)


def on_not_found(_: Request, exc: EndpointNotFoundError) -> Response:
    return _json(HTTP_404_NOT_FOUND, exc.detail)


def on_conflict(_: Request, exc: DuplicatePhoneNumberError | ConcurrentChangeError) -> Response:
    return _json(HTTP_409_CONFLICT, exc.detail)


def on_precondition_failed(_: Request, exc: PreconditionFailedError) -> Response:
    headers = {"ETag": etag_of(exc.current)} if exc.current is not None else None
    if isinstance(exc, SettingsChangedError):
        headers = {"X-Settings-Version": str(exc.settings_version)}
    return _json(HTTP_412_PRECONDITION_FAILED, exc.detail, headers=headers)


def on_bad_idempotency_key(_: Request, exc: IdempotencyKeyError) -> Response:
    return _json(HTTP_400_BAD_REQUEST, exc.detail)


def on_idempotency_key_reused(_: Request, exc: IdempotencyKeyReusedError) -> Response:
    return _json(
        HTTP_422_UNPROCESSABLE_ENTITY, exc.detail, [FieldError("Idempotency-Key", "was used for another request")]
    )


def on_store_unavailable(request: Request, exc: PersistenceError) -> Response:
    log.error("event store error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return _json(
        HTTP_503_SERVICE_UNAVAILABLE, "the event store is unavailable; try again shortly", headers={"Retry-After": "1"}
    )


def on_too_deep(_: Request, __: RecursionError) -> Response:
    # The JSON decoder gives up on absurd nesting with RecursionError; that is the client's fault, not ours.
    return _json(HTTP_400_BAD_REQUEST, "JSON is nested too deeply")


def on_http_exception(request: Request, exc: HTTPException) -> Response:
    detail = str(exc.detail)
    if exc.status_code == HTTP_413_REQUEST_ENTITY_TOO_LARGE and detail == "Request Entity Too Large":
        resolve = getattr(request.route_handler, "resolve_request_max_body_size", None)
        limit = resolve() if resolve is not None else None
        if limit:
            detail = f"the request body is larger than this route's limit of {limit:,} bytes"
    return _json(exc.status_code, detail, headers=dict(exc.headers or {}))


def on_unexpected(request: Request, exc: Exception) -> Response:
    # Log the type and where, not the exception text: it may quote request data.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
    return _json(HTTP_500_INTERNAL_SERVER_ERROR, "internal server error")


EXCEPTION_HANDLERS = {
    ValidationException: on_validation_exception,
    InvalidSettingsError: on_invalid_settings,
    EndpointNotFoundError: on_not_found,
    DuplicatePhoneNumberError: on_conflict,
    ConcurrentChangeError: on_conflict,
    PreconditionFailedError: on_precondition_failed,
    IdempotencyKeyError: on_bad_idempotency_key,
    IdempotencyKeyReusedError: on_idempotency_key_reused,
    PersistenceError: on_store_unavailable,
    HTTPException: on_http_exception,
    RecursionError: on_too_deep,
    Exception: on_unexpected,
}
