"""The OpenAPI document and its UI.

The document says more than what Litestar derives from the handlers, so that it is as strict as the server: clients
(and schemathesis) that follow it then send nothing that can only be refused.

* ``additionalProperties: false`` on every request body that refuses unknown fields (a ``forbid_unknown_fields``
  struct); Litestar leaves it out.
* Fields whose rules are code (``service.write.rules``, which names every bad field at once with a precise message) get
  the pattern of what passes those rules: phone numbers ``events.phone_numbers.possible_number_pattern()`` (the
  canonical E.164 form: country codes and lengths from libphonenumber), labels and credentials without control
  characters. (The ``phone_number`` filters keep the shape Litestar checks: any number of that shape is a fine
  question, answered with no match when no endpoint can hold it.)
* The URL fields get ``PUBLIC_HOST_URL``: an https URL whose host is a fully qualified ASCII name (not localhost),
  the form every valid value in practice has. The server also accepts internationalised names and public IP
  addresses, which no pattern separates from private ones; the document leaves those out rather than admit
  ``https://10.0.0.1``.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, Request, Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, Reference, RequestBody, Schema
from litestar.static_files import create_static_files_router

from events.phone_numbers import possible_number_pattern
from service.http import schemas
from service.write.rules import LABEL_PATTERN, TEXT_PATTERN

PHONE_NUMBER_FIELDS = ("phone_number", "twilio_phone_number", "exotel_phone_number", "vobiz_phone_number")
URL_FIELDS = ("public_base_url", "exotel_api_base")
TEXT_FIELDS = (
    "twilio_auth_token",
    "exotel_account_sid",
    "exotel_api_key",
    "exotel_api_token",
    "vobiz_auth_id",
    "vobiz_auth_token",
)
REQUEST_BODIES = ("EndpointCreate", "EndpointUpdate", "ProviderSettingsUpdate")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TOP_LABEL = r"(?!localhost\.?(?::|/|\s*$))[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
PUBLIC_HOST_URL = rf"^\s*[Hh][Tt][Tt][Pp][Ss]://(?:{_LABEL}\.)+{_TOP_LABEL}\.?{_PORT}(?:/[^\s?#]*)?\s*$"


DOCS_PATH = "/schema"
_TIGHTENED = "openapi_tightened"


def document(app: Litestar) -> OpenAPI:
    """The app's OpenAPI document, tightened (once, when it is first needed: building it costs more than the rest
    of ``create_app``, and most apps, a test's, never serve it)."""
    built = app.openapi_schema
    if not app.state.get(_TIGHTENED):
        forbid_unknown_fields(built)
        document_patterns(built)
        document_change_sets(built)
        app.state[_TIGHTENED] = True  # both steps are idempotent: a concurrent first request may run them twice
    return built


async def tighten_before_serving(request: Request) -> None:
    """``before_request`` hook: the document is tightened before the docs routes serialise it."""
    if request.scope["path"].startswith(DOCS_PATH):
        document(request.app)


def forbid_unknown_fields(document: OpenAPI) -> None:
    for name, component in (document.components.schemas or {}).items():
        body = getattr(schemas, name, None)
        if isinstance(body, type) and issubclass(body, msgspec.Struct) and body.__struct_config__.forbid_unknown_fields:
            component.additional_properties = False


def field_patterns() -> dict[str, str]:
    """Request body field -> the pattern the server's rules (``service.write.rules``) hold it to."""
    phone_number = possible_number_pattern()
    return {
        **dict.fromkeys(PHONE_NUMBER_FIELDS, phone_number),
        **dict.fromkeys(URL_FIELDS, PUBLIC_HOST_URL),
        **dict.fromkeys(TEXT_FIELDS, TEXT_PATTERN),
        "label": LABEL_PATTERN,
    }


def document_patterns(document: OpenAPI) -> None:
    patterns = field_patterns()
    for name, component in (document.components.schemas or {}).items():
        if name in REQUEST_BODIES:
            for field, schema in (component.properties or {}).items():
                if field in patterns:
                    _set_pattern(schema, patterns[field])


def document_change_sets(document: OpenAPI) -> None:
    """The body of ``POST /api/settings/changes``, which its handler decodes itself (to name every bad item, not
    only the first): its schema from ``ChangeSetDocument`` (msgspec's, with the patterns above; an update or a
    delete names its endpoint by ``id`` or ``phone_number``)."""
    from service.http.changes import PATH, ChangeSetDocument  # it imports this module's importers

    operation = document.paths[PATH].post if document.paths and PATH in document.paths else None
    if operation is None or operation.request_body is not None:
        return
    _, components = msgspec.json.schema_components([ChangeSetDocument], ref_template="#/components/schemas/{name}")
    known = document.components.schemas if document.components.schemas is not None else {}
    patterns = field_patterns()
    for name, schema in components.items():
        if name in known:  # e.g. ProviderSettingsUpdate: Litestar's, as for PUT /api/settings/telephony
            continue
        for field, property_schema in schema.get("properties", {}).items():
            if field in patterns:
                branches = [b for b in property_schema.get("anyOf", [property_schema]) if b.get("type") == "string"]
                for branch in branches:
                    branch["pattern"] = patterns[field]
        if name in ("UpdateItem", "DeleteItem"):
            schema["oneOf"] = [{"required": ["id"]}, {"required": ["phone_number"]}]
        known[name] = schema  # a plain dict: the document serialises it as it is
    document.components.schemas = known
    operation.request_body = RequestBody(
        content={"application/json": OpenAPIMediaType(schema=Reference(ref="#/components/schemas/ChangeSetDocument"))},
        required=True,
    )


def _set_pattern(schema: Any, pattern: str) -> None:
    """Set the pattern of the string in the field's schema (itself, or a branch of its ``oneOf``)."""
    if not isinstance(schema, Schema):
        return
    branches = [branch for branch in schema.one_of or () if isinstance(branch, Schema) and branch.type == "string"]
    if schema.one_of and not branches:
        return
    target = schema if not branches else branches[0]
    target.pattern = pattern
    if target is not schema:
        schema.pattern = None


DOCS_ASSETS = f"{DOCS_PATH}/assets"
"""Where the docs UI's scripts and styles are served from: the service itself, so ``/schema`` works offline."""


def docs_ui() -> tuple[SwaggerRenderPlugin, Router]:
    """Swagger UI at ``/schema`` (and ``/schema/swagger``), with its assets from the ``swagger-ui-py`` package
    served at ``DOCS_ASSETS`` instead of a CDN (Litestar's default), and the route that serves them."""
    static = Path(str(importlib.resources.files("swagger_ui") / "static"))
    plugin = SwaggerRenderPlugin(
        path=["/", "/swagger"],
        js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{DOCS_ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{DOCS_ASSETS}/favicon-32x32.png'>",
    )
    assets = create_static_files_router(
        path=DOCS_ASSETS,
        directories=[static],
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=86400),
    )
    return plugin, assets
