"""HTTP side of conditional and idempotent requests: ``ETag``, ``If-Match``, ``If-None-Match``, ``Idempotency-Key``.

* Every endpoint and telephony-settings response carries a strong ``ETag``. ``If-Match`` on PUT/DELETE makes the
  change conditional: a stale tag gives 412 and changes nothing. ``If-None-Match`` on GET gives 304.
* ``Idempotency-Key`` on POST/PUT/DELETE: the first success is recorded with the change (atomically); a retry with
  the same key and body gets the first response again (``Idempotent-Replayed: true``) and stores nothing; the same key
  with another request gets 422. Keys are remembered per API key name, for good. Failed requests are not recorded.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Response
from litestar.concurrency import sync_to_thread
from litestar.params import HeaderParameter
from litestar.status_codes import HTTP_304_NOT_MODIFIED

from service.container import Container
from service.http.etags import endpoint_etag, parse_entity_tags, parse_if_match, provider_etag
from service.read.presenter import present_endpoint, present_provider
from service.read.queries import get_endpoint_versioned, get_provider_settings_versioned
from service.write.commands import Actor
from service.write.conditions import (
    IDEMPOTENCY_KEY_PATTERN,
    Conditions,
    IdempotencyRequest,
    Receipt,
)
from service.write.errors import EndpointNotFoundError

IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        required=False,
        min_length=1,
        max_length=1024,
        description="Change only if the resource still has this ETag (from a GET or a previous change); else 412. "
        "`*`: any current version.",
    ),
]
IfNoneMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-None-Match", required=False, max_length=1024, description="304 if the ETag is still current."
    ),
]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        min_length=1,
        max_length=255,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="A unique key per change (e.g. a UUID): 1-255 printable ASCII characters, no spaces. A retry with "
        "the same key and body returns the first response and stores nothing; the same key with a different "
        "request gets 422.",
    ),
]
REPLAYED = "Idempotent-Replayed"


def conditions(
    actor: Actor, if_match: str | None, idempotency_key: str | None, method: str, route: str, raw_body: bytes
) -> Conditions:
    idempotency = None
    if idempotency_key is not None:
        body: Any = msgspec.json.decode(raw_body) if raw_body else None
        idempotency = IdempotencyRequest.of(actor.name, idempotency_key, method, route, body)
    return Conditions(if_match=parse_if_match(if_match), idempotency=idempotency)


def not_modified(if_none_match: str | None, etag: str) -> Response[None] | None:
    tags = parse_entity_tags(if_none_match)
    if tags is not None and ("*" in tags or etag in tags or f"W/{etag}" in tags):
        return Response(None, status_code=HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    return None


def _headers(etag: str | None, receipt: Receipt) -> dict[str, str]:
    headers = {} if etag is None else {"ETag": etag}
    if receipt.replayed:
        headers[REPLAYED] = "true"
    return headers


def _answered_from_memory(container: Container, receipt: Receipt, conditions: Conditions) -> bool:
    """Whether the reply needs no store read: the command was not idempotent (an idempotent one answers at its
    recorded versions) and the read model has its position (the writer folds what it stores before it answers)."""
    return conditions.idempotency is None and (
        receipt.position is None or container.read_model.position >= receipt.position
    )


async def endpoint_reply(container: Container, receipt: Receipt, conditions: Conditions) -> tuple[Any, dict[str, str]]:
    """``endpoint_reply_now``, in a worker thread when it has to read the store."""
    if _answered_from_memory(container, receipt, conditions):
        return endpoint_reply_now(container, receipt, conditions)
    return await sync_to_thread(endpoint_reply_now, container, receipt, conditions)


async def provider_reply(container: Container, receipt: Receipt, conditions: Conditions) -> tuple[Any, dict[str, str]]:
    """``provider_reply_now``, in a worker thread when it has to read the store."""
    if _answered_from_memory(container, receipt, conditions):
        return provider_reply_now(container, receipt, conditions)
    return await sync_to_thread(provider_reply_now, container, receipt, conditions)


def endpoint_reply_now(container: Container, receipt: Receipt, conditions: Conditions) -> tuple[Any, dict[str, str]]:
    """The endpoint after the command (or ``None`` after a delete) and the response headers.

    An idempotent command answers from the store at the versions it recorded, so its first response and every
    replay are the same; otherwise from the read model, once it has caught up with the command.
    """
    container.read_model.follow(receipt.saved, receipt.position)
    if receipt.outcome == "deleted":
        return None, _headers(None, receipt)
    if conditions.idempotency is not None:
        app = container.app
        endpoint = app.endpoint_at(receipt.resource_id, receipt.resource_version)
        if endpoint is None:  # cannot happen for a recorded success; answer as if the endpoint were gone
            raise EndpointNotFoundError(f"endpoint {receipt.resource_id} not found")
        base_url = app.provider_at(receipt.provider_version).config.public_base_url
        etag = endpoint_etag(receipt.resource_version, receipt.provider_version)
        return present_endpoint(endpoint, base_url), _headers(etag, receipt)
    found = get_endpoint_versioned(container.read_model, receipt.resource_id)
    if found is None:  # deleted by someone else since
        raise EndpointNotFoundError(f"endpoint {receipt.resource_id} not found")
    body, version, provider_version = found
    return body, _headers(endpoint_etag(version, provider_version), receipt)


def provider_reply_now(container: Container, receipt: Receipt, conditions: Conditions) -> tuple[Any, dict[str, str]]:
    container.read_model.follow(receipt.saved, receipt.position)
    if conditions.idempotency is not None:
        view = container.app.provider_at(receipt.resource_version)
        return present_provider(view.config), _headers(provider_etag(receipt.resource_version), receipt)
    body, version = get_provider_settings_versioned(container.read_model)
    return body, _headers(provider_etag(version), receipt)
