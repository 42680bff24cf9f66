"""Strict request bodies. Litestar converts bodies leniently (``"42"`` becomes 42, ``"false"`` becomes False);
the API promises JSON types, so every command decodes its raw body once more with msgspec's strict rules. The
Litestar-parsed ``data`` parameter stays on the handlers because it is what documents the body in OpenAPI."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from litestar import Request

from service.errors import InvalidSettingsError
from service.http.errors import describe_msgspec_error

T = TypeVar("T")


async def provide_raw_body(request: Request) -> bytes:
    return await request.body()  # already read and cached by Litestar for ``data``


def decode_strict(raw: bytes, body_type: type[T]) -> T:
    try:
        return msgspec.json.decode(raw, type=body_type)
    except msgspec.ValidationError as exc:
        raise InvalidSettingsError([describe_msgspec_error(str(exc))]) from None
