"""``/api/settings/endpoints``: phone number -> inbound agent / outbound agent."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body, PathParameter, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from service.container import Container
from service.http.changes import SETTINGS_VERSION
from service.http.conditional import (
    IdempotencyKey,
    IfMatch,
    IfNoneMatch,
    conditions,
    endpoint_reply,
    not_modified,
)
from service.http.context import add_response_headers, provide_actor
from service.http.etags import endpoint_etag
from service.http.moments import AsOf, AtPosition, past_endpoint, past_settings
from service.http.schemas import (
    MAX_POSITION,
    EndpointCreate,
    EndpointOut,
    EndpointUpdate,
    ProviderName,
    error_responses,
    needs,
    parse_endpoint_id,
    present_fields,
)
from service.http.strict import decode_strict
from service.read.past import parse_moment
from service.read.queries import EndpointFilter, get_endpoint_versioned, list_endpoints
from service.write import commands
from service.write.commands import DeleteEndpoint
from service.write.errors import EndpointNotFoundError
from service.write.rules import PHONE_NUMBER_PATTERN, phone_number_filter

BASE = "/api/settings/endpoints"
FIXED = "is fixed for an endpoint: delete the endpoint and create a new one to change it"

CREATE_EXAMPLE = {
    "phone_number": "+919876543210",
    "provider": "exotel",
    "inbound_agent_name": "support-agent",
    "outbound_agent_name": "sales-agent",
    "label": "Main support line",
}


class EndpointsController(Controller):
    path = BASE
    tags = ["Telephony endpoints"]

    @get(
        summary="List telephony endpoints in creation order",
        description="Scope: read. With as_of or at_position (scope audit): the endpoints at that moment.",
        security=needs("read"),
        responses=error_responses(400, 401, 403, 422),
        response_headers=[
            ResponseHeader(
                name="X-Total-Count", description="Matching endpoints before paging", documentation_only=True
            ),
            ResponseHeader(
                name=SETTINGS_VERSION,
                description="The settings version (store position) this answer reflects: If-Match of a change set",
                documentation_only=True,
            ),
        ],
    )
    async def list_endpoints(
        self,
        container: NamedDependency[Container],
        provider: Annotated[ProviderName | None, QueryParameter()] = None,
        is_active: Annotated[bool | None, QueryParameter()] = None,
        phone_number: Annotated[
            str | None,
            QueryParameter(
                max_length=32,
                pattern=PHONE_NUMBER_PATTERN,
                description="Any spelling; compared as E.164 (a number no endpoint can hold matches none)",
            ),
        ] = None,
        agent: Annotated[str | None, QueryParameter(max_length=64, description="Inbound or outbound")] = None,
        page: Annotated[int | None, QueryParameter(ge=1, le=MAX_POSITION, description="From 1")] = None,
        page_size: Annotated[int | None, QueryParameter(ge=1, le=500)] = None,
        as_of: AsOf = None,
        at_position: AtPosition = None,
    ) -> Response[list[EndpointOut]]:
        moment = parse_moment(as_of, at_position)
        e164 = phone_number_filter(phone_number)
        paged = page is not None or page_size is not None
        version = container.read_model.position  # before the read: a change after it is never taken as included
        source = container.read_model if moment is None else await past_settings(container, moment)
        items, total = list_endpoints(
            source,
            EndpointFilter(provider=provider, is_active=is_active, phone_number=e164, agent=agent),
            page=(page or 1) if paged else None,
            page_size=(page_size or 100) if paged else None,
        )
        headers = {"X-Total-Count": str(total)}
        if moment is None:
            headers[SETTINGS_VERSION] = str(version)
        return Response(items, headers=headers)

    @post(
        summary="Create a telephony endpoint",
        responses=error_responses(400, 401, 403, 409, 413, 422, 503),
        security=needs("write"),
        description="Scope: write. Returns the computed inbound_webhook_url: configure it in the provider's dashboard.",
        status_code=HTTP_201_CREATED,
        response_headers=[
            ResponseHeader(name="Location", description="URL of the new endpoint", documentation_only=True)
        ],
    )
    async def create_endpoint(
        self,
        request: Request,
        container: NamedDependency[Container],
        data: Annotated[EndpointCreate, Body(examples=[Example(summary="Exotel support line", value=CREATE_EXAMPLE)])],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[EndpointOut]:
        actor, raw_body = provide_actor(request), await request.body()  # not dependencies: see provide_actor
        fields = present_fields(decode_strict(raw_body, EndpointCreate))
        command = commands.new_endpoint(**fields)
        when = conditions(actor, None, idempotency_key, "POST", BASE, raw_body)
        receipt = await container.app.execute(command, actor, when)
        body, headers = await endpoint_reply(container, receipt, when)
        headers["Location"] = f"{BASE}/{receipt.resource_id}"
        return Response(body, status_code=HTTP_201_CREATED, headers=headers)

    @get(
        "/{endpoint_id:str}",
        summary="Read one telephony endpoint",
        description="Scope: read. Carries an ETag; If-None-Match with it gives 304. "
        "With as_of or at_position (scope audit): the endpoint at that moment (404 if it did not exist then).",
        security=needs("read"),
        responses=error_responses(400, 401, 403, 404, 304, 422),
    )
    async def get_endpoint(
        self,
        container: NamedDependency[Container],
        endpoint_id: Annotated[str, PathParameter()],
        if_none_match: IfNoneMatch = None,
        as_of: AsOf = None,
        at_position: AtPosition = None,
    ) -> Response[EndpointOut]:
        parsed = parse_endpoint_id(endpoint_id)
        moment = parse_moment(as_of, at_position)
        if moment is not None:
            return await past_endpoint(container, parsed, moment)
        found = get_endpoint_versioned(container.read_model, parsed)
        if found is None:
            raise EndpointNotFoundError(f"endpoint {parsed} not found")
        body, version, provider_version = found
        etag = endpoint_etag(version, provider_version)
        return not_modified(if_none_match, etag) or Response(body, headers={"ETag": etag})  # type: ignore[return-value]

    @put(
        "/{endpoint_id:str}",
        summary="Update a telephony endpoint (partial)",
        responses=error_responses(400, 401, 403, 404, 412, 413, 422, 503),
        security=needs("write"),
        description="Scope: write. Fields: inbound_agent_name, outbound_agent_name, label, is_active; "
        "null clears an agent or the label.",
        opt={"unknown_field_hints": {"phone_number": FIXED, "provider": FIXED}},
    )
    async def update_endpoint(
        self,
        request: Request,
        container: NamedDependency[Container],
        endpoint_id: Annotated[str, PathParameter()],
        data: Annotated[EndpointUpdate, Body(examples=[Example(value={"outbound_agent_name": "sales-agent-v2"})])],
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[EndpointOut]:
        parsed = parse_endpoint_id(endpoint_id)
        actor, raw_body = provide_actor(request), await request.body()
        command = commands.patch_endpoint(parsed, present_fields(decode_strict(raw_body, EndpointUpdate)))
        when = conditions(actor, if_match, idempotency_key, "PUT", f"{BASE}/{parsed}", raw_body)
        receipt = await container.app.execute(command, actor, when)
        body, headers = await endpoint_reply(container, receipt, when)
        return Response(body, headers=headers)

    @delete(
        "/{endpoint_id:str}",
        summary="Delete a telephony endpoint",
        description="Scope: write.",
        security=needs("write"),
        responses=error_responses(400, 401, 403, 404, 412, 422, 503),
        status_code=HTTP_204_NO_CONTENT,
    )
    async def delete_endpoint(
        self,
        request: Request,
        container: NamedDependency[Container],
        endpoint_id: Annotated[str, PathParameter()],
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> None:
        parsed = parse_endpoint_id(endpoint_id)
        actor = provide_actor(request)
        when = conditions(actor, if_match, idempotency_key, "DELETE", f"{BASE}/{parsed}", b"")
        receipt = await container.app.execute(DeleteEndpoint(parsed), actor, when)
        _, headers = await endpoint_reply(container, receipt, when)
        add_response_headers(request, headers)  # a 204 handler returns None, so its headers go this way
