"""The audit routes: the change history, for all settings and per endpoint or provider. Scope ``audit``.

The point-in-time reads (``as_of`` / ``at_position`` on the settings GET routes) are in those routes' controllers;
they call ``service.audit.history`` too and need the same scope.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter

from events import SETTINGS_ID
from service.audit.history import EVENT_TYPES, TOPICS, AuditFilter, AuditPage, list_events
from service.container import Container
from service.http.schemas import MAX_POSITION, error_responses, needs, parse_endpoint_id
from service.read.past import parse_time
from service.write.errors import EndpointNotFoundError
from service.write.log import aggregate_notifications
from service.write.rules import PHONE_NUMBER_PATTERN, phone_number_filter

After = Annotated[
    int, QueryParameter(ge=0, le=MAX_POSITION, description="Events after this position (0: from the start)")
]
Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="At most this many events")]
TimeParameter = Annotated[
    str | None,
    QueryParameter(
        max_length=64,
        schema_extra={"format": "date-time"},
        description="ISO 8601, e.g. 2026-03-18T10:00:00Z; UTC when no zone",
    ),
]
EventType = Literal[tuple(EVENT_TYPES)]  # type: ignore[valid-type]  # the enum of the document: the public types
PAGING = (
    "Secrets are masked. Follow `next_after` (pass it as `after`) until it is null; a page may hold fewer than "
    "`limit` events and still have a `next_after`."
)


class AuditController(Controller):
    path = "/api"
    tags = ["Audit"]
    opt = {"scope": "audit"}

    @get(
        "/audit/events",
        summary="The change history: who changed what, when",
        description="Scope: audit. " + PAGING + " Types: " + ", ".join(EVENT_TYPES) + ".",
        security=needs("audit"),
        responses=error_responses(400, 401, 403, 422, 503),
        sync_to_thread=True,
    )
    def list_audit_events(
        self,
        container: NamedDependency[Container],
        after: After = 0,
        limit: Limit = 100,
        type_: Annotated[EventType | None, QueryParameter(name="type")] = None,
        aggregate_id: Annotated[UUID | None, QueryParameter(description="An endpoint's id, or the provider's")] = None,
        phone_number: Annotated[
            str | None,
            QueryParameter(
                max_length=32,
                pattern=PHONE_NUMBER_PATTERN,
                description="Any spelling; endpoint and provider numbers (a number no endpoint can hold matches none)",
            ),
        ] = None,
        # the query parameter "actor": a Python name of its own keeps it apart from the event field it filters
        actor_name: Annotated[
            str | None, QueryParameter(name="actor", max_length=64, description="The API key's name")
        ] = None,
        since: TimeParameter = None,
        until: TimeParameter = None,
        change_set: Annotated[
            UUID | None, QueryParameter(description="The events of one change set (POST /api/settings/changes)")
        ] = None,
    ) -> AuditPage:
        where = AuditFilter(
            types=(type_,) if type_ is not None else (),
            aggregate_id=aggregate_id,
            phone_number=phone_number_filter(phone_number),
            actor=actor_name,
            since=parse_time("since", since),
            until=parse_time("until", until),
            change_set=change_set,
        )
        return list_events(container.app, where, after=after, limit=limit)

    @get(
        "/settings/endpoints/{endpoint_id:str}/history",
        summary="The history of one endpoint (also after its deletion)",
        description="Scope: audit. " + PAGING,
        security=needs("audit"),
        responses=error_responses(401, 403, 404, 422, 503),
        sync_to_thread=True,
    )
    def endpoint_history(
        self,
        container: NamedDependency[Container],
        endpoint_id: Annotated[str, PathParameter()],
        after: After = 0,
        limit: Limit = 100,
    ) -> AuditPage:
        parsed = parse_endpoint_id(endpoint_id)
        stored = aggregate_notifications(container.app.recorder, parsed)
        if not stored or stored[0].topic != TOPICS["EndpointCreated"]:
            raise EndpointNotFoundError(f"endpoint {parsed} not found (it never existed)")
        return list_events(container.app, AuditFilter(aggregate_id=parsed), after=after, limit=limit)

    @get(
        "/settings/telephony/history",
        summary="The history of the provider configuration",
        description="Scope: audit. " + PAGING,
        security=needs("audit"),
        responses=error_responses(401, 403, 422, 503),
        sync_to_thread=True,
    )
    def telephony_history(
        self, container: NamedDependency[Container], after: After = 0, limit: Limit = 100
    ) -> AuditPage:
        return list_events(container.app, AuditFilter(aggregate_id=SETTINGS_ID), after=after, limit=limit)
