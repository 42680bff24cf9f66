"""Point-in-time reads for the settings GET routes: ``as_of=<UTC time>`` or ``at_position=<N>``.

The routes add these two query parameters and hand over to the functions here when one is given; the answer has
the same shape as the live one, folded from the events up to that moment (``service.audit.history``). They need the
``audit`` scope (``service.http.auth``), and carry no ETag: a past state cannot be a precondition for a change.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Response
from litestar.concurrency import sync_to_thread
from litestar.params import QueryParameter

from service.container import Container
from service.http.schemas import MAX_POSITION, EndpointOut, ProviderSettings
from service.read import past
from service.read.queries import get_endpoint, get_provider_settings
from service.write.errors import EndpointNotFoundError

AsOf = Annotated[
    str | None,
    QueryParameter(
        max_length=64,
        schema_extra={"format": "date-time"},
        description="Scope audit. The state at this time (ISO 8601, e.g. 2026-03-18T10:00:00Z; UTC when no zone). "
        "With at_position too: the earlier of the two moments.",
    ),
]
AtPosition = Annotated[
    int | None,
    QueryParameter(
        ge=0,
        le=MAX_POSITION,
        schema_extra={"minimum": 0},  # Litestar drops a falsy ge from the document of an optional parameter
        description="Scope audit. The state after the event at this store position. With as_of too: the earlier "
        "of the two moments.",
    ),
]


async def past_settings(container: Container, moment: past.Moment) -> past.PastReadModel:
    return await sync_to_thread(past.settings_at, container.app, moment)


async def past_endpoint(container: Container, endpoint_id: UUID, moment: past.Moment) -> Response[EndpointOut]:
    state = await sync_to_thread(past.endpoint_at, container.app, endpoint_id, moment)
    endpoint = get_endpoint(state, endpoint_id)
    if endpoint is None:
        raise EndpointNotFoundError(f"endpoint {endpoint_id} did not exist at that moment")
    return Response(endpoint)


async def past_provider(container: Container, moment: past.Moment) -> Response[ProviderSettings]:
    state = await sync_to_thread(past.provider_at, container.app, moment)
    return Response(get_provider_settings(state))
