"""``/api/settings/telephony``: the provider configuration."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, put
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body

from service.container import Container
from service.http.changes import SETTINGS_VERSION
from service.http.conditional import (
    IdempotencyKey,
    IfMatch,
    IfNoneMatch,
    conditions,
    not_modified,
    provider_reply,
)
from service.http.context import provide_actor
from service.http.etags import provider_etag
from service.http.moments import AsOf, AtPosition, past_provider
from service.http.schemas import ProviderSettings, ProviderSettingsUpdate, error_responses, needs, present_fields
from service.http.strict import decode_strict
from service.read.past import parse_moment
from service.read.queries import get_provider_credentials, get_provider_settings_versioned
from service.write import commands

TWILIO_EXAMPLE = {
    "provider": "twilio",
    "public_base_url": "https://your-domain.com",
    "twilio_account_sid": "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".replace("x", "0"),
    "twilio_auth_token": "your_auth_token",
    "twilio_phone_number": "+15551234567",
    "twilio_max_concurrent": 10,
}
EXOTEL_EXAMPLE = {
    "provider": "exotel",
    "public_base_url": "https://your-domain.com",
    "exotel_account_sid": "your_sid",
    "exotel_api_key": "your_api_key",
    "exotel_api_token": "your_api_token",
    "exotel_phone_number": "+919876543210",
    "exotel_api_base": "https://api.exotel.com",
    "exotel_max_concurrent": 5,
}
VOBIZ_EXAMPLE = {
    "provider": "vobiz",
    "public_base_url": "https://your-domain.com",
    "vobiz_auth_id": "your_auth_id",
    "vobiz_auth_token": "your_auth_token",
    "vobiz_phone_number": "+919876543210",
    "vobiz_max_concurrent": 5,
}


class TelephonyController(Controller):
    path = "/api/settings/telephony"
    tags = ["Telephony provider"]

    @get(
        summary="Read the telephony provider configuration (secrets masked)",
        description="Scope: read. Carries an ETag; If-None-Match with it gives 304. "
        "With as_of or at_position (scope audit): the configuration at that moment, without ETag.",
        security=needs("read"),
        responses=error_responses(304, 401, 403, 422),
        response_headers=[
            ResponseHeader(
                name=SETTINGS_VERSION,
                description="The settings version (store position) this answer reflects: If-Match of a change set",
                documentation_only=True,
            )
        ],
    )
    async def get_telephony(
        self,
        container: NamedDependency[Container],
        if_none_match: IfNoneMatch = None,
        as_of: AsOf = None,
        at_position: AtPosition = None,
    ) -> Response[ProviderSettings]:
        moment = parse_moment(as_of, at_position)
        if moment is not None:
            return await past_provider(container, moment)
        settings_version = container.read_model.position  # before the read (see the endpoint list)
        body, version = get_provider_settings_versioned(container.read_model)
        etag = provider_etag(version)
        headers = {"ETag": etag, SETTINGS_VERSION: str(settings_version)}
        return not_modified(if_none_match, etag) or Response(body, headers=headers)  # type: ignore[return-value]

    @get(
        "/credentials",
        summary="Read the provider credentials unmasked",
        description="Scope: secrets. For call routers that must place calls. Never cached.",
        opt={"scope": "secrets"},
        security=needs("secrets"),
        responses=error_responses(401, 403),
    )
    async def get_credentials(self, container: NamedDependency[Container]) -> Response[ProviderSettings]:
        return Response(get_provider_credentials(container.read_model), headers={"Cache-Control": "no-store"})

    @put(
        summary="Update the telephony provider configuration (partial)",
        responses=error_responses(400, 401, 403, 412, 413, 422, 503),
        security=needs("write"),
        description=(
            "Scope: write. A field left out keeps its value; null clears it. "
            "Sending back a masked secret keeps the stored one. "
            "After the merge, public_base_url and the active provider's credentials must be set."
        ),
    )
    async def put_telephony(
        self,
        request: Request,
        container: NamedDependency[Container],
        data: Annotated[
            ProviderSettingsUpdate,
            Body(
                examples=[
                    Example(summary="Twilio", value=TWILIO_EXAMPLE),
                    Example(summary="Exotel", value=EXOTEL_EXAMPLE),
                    Example(summary="Vobiz", value=VOBIZ_EXAMPLE),
                ]
            ),
        ],
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[ProviderSettings]:
        actor, raw_body = provide_actor(request), await request.body()
        command = commands.update_provider(present_fields(decode_strict(raw_body, ProviderSettingsUpdate)))
        when = conditions(actor, if_match, idempotency_key, "PUT", "/api/settings/telephony", raw_body)
        receipt = await container.app.execute(command, actor, when)
        body, headers = await provider_reply(container, receipt, when)
        return Response(body, headers=headers)
