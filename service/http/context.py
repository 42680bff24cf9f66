"""Per-request context: the request id (from ``X-Request-ID`` or generated, echoed on every response) and the
actor that events record."""

from __future__ import annotations

import re
import uuid

from litestar import Request
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.domain import Actor

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


class RequestIdMiddleware:
    """Pure ASGI middleware: fixes the request id before routing so that error responses carry it too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == REQUEST_ID_HEADER.encode()), None)
        request_id = given if given is not None and _VALID_REQUEST_ID.match(given) else uuid.uuid4().hex.encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER.encode(), request_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)


def provide_actor(request: Request) -> Actor:
    return Actor(name="anonymous", request_id=request.scope.get("state", {}).get("request_id"))
