"""Strict request bodies. Litestar converts bodies leniently (``"42"`` becomes 42, ``"false"`` becomes False);
the API promises JSON types, so every command decodes its raw body once more with msgspec's strict rules. The
Litestar-parsed ``data`` parameter stays on the handlers because it is what documents the body in OpenAPI.

One leniency is JSON Schema's own: a number with a zero fractional part (``12.0``) is an ``integer`` there, so it
is taken as one (msgspec alone would refuse it); ``12.5``, ``"12"`` and ``true`` are still refused."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.openapi.spec import OpenAPI, Parameter

from service.http.errors import describe_msgspec_error
from service.http.openapi import document
from service.write.errors import FieldError, InvalidSettingsError

T = TypeVar("T")


def decode_strict(raw: bytes, body_type: type[T]) -> T:
    try:
        return msgspec.json.decode(raw, type=body_type)
    except msgspec.ValidationError as exc:
        problem = str(exc)
    integral = _integral_floats_as_ints(raw)
    if integral is not None:
        try:
            return msgspec.convert(integral, type=body_type, strict=True)
        except msgspec.ValidationError as exc:
            problem = str(exc)
    raise InvalidSettingsError([describe_msgspec_error(problem)])


def _integral_floats_as_ints(raw: bytes) -> dict[str, Any] | None:
    """The body with ``12.0`` as ``12`` (a top-level object of scalars, as every command body is); ``None`` when
    there is no such number to change, so the first error stands."""
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    if not isinstance(body, dict):
        return None
    changed = {name: int(value) for name, value in body.items() if isinstance(value, float) and value.is_integer()}
    return {**body, **changed} if changed else None


QueryRules = dict[tuple[str, str], dict[str, str]]
"""(path template, method) -> query parameter name -> its JSON type (``integer``, ``boolean``, ``string``)."""
_WHOLE_NUMBER = re.compile(r"[0-9]+")
QUERY_RULES = "query_rules"


def query_rules(document: OpenAPI) -> QueryRules:
    """The scalar query parameters of every operation of ``document``, with their types."""
    rules: QueryRules = {}
    for template, item in (document.paths or {}).items():
        for method in ("GET", "PUT", "POST", "DELETE"):
            operation = getattr(item, method.lower())
            if operation is None:
                continue
            rules[(template, method)] = {
                parameter.name: _json_type(parameter.schema)
                for parameter in operation.parameters or []
                if isinstance(parameter, Parameter) and parameter.param_in == "query"
            }
    return rules


def _json_type(schema: Any) -> str:
    types = [schema.type] if getattr(schema, "type", None) else [b.type for b in getattr(schema, "one_of", None) or ()]
    names = {str(getattr(kind, "value", kind)) for kind in types if kind is not None} - {"null"}
    return names.pop() if len(names) == 1 else "string"


async def strict_query(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Run by ``http.auth.guarded`` for every routed request: a query parameter is given once, and an integer or
    boolean one in its plain JSON spelling (``12``, ``true``). Litestar alone takes the first of repeated values and
    reads ``12.0`` or ``yes``: a client that sends those has a bug the API should name, and the document (which
    calls them invalid) should be right."""
    if not connection.scope.get("query_string"):
        return
    all_rules = connection.app.state.get(QUERY_RULES)
    if all_rules is None:
        all_rules = connection.app.state[QUERY_RULES] = query_rules(document(connection.app))
    rules = all_rules.get((connection.scope.get("path_template"), connection.method))
    if not rules:
        return
    errors = []
    for name, values in connection.query_params.dict().items():
        kind = rules.get(name)
        if kind is None:
            continue
        if len(values) > 1:
            errors.append(FieldError(name, "must be given once"))
        elif kind == "integer" and not _WHOLE_NUMBER.fullmatch(values[0]):
            errors.append(FieldError(name, "must be a whole number written with digits only"))
        elif kind == "boolean" and values[0] not in ("true", "false"):
            errors.append(FieldError(name, "must be true or false"))
    if errors:
        raise InvalidSettingsError(errors)
