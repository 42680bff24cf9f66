"""Per-request context: the request id (from ``X-Request-ID`` or generated, echoed on every response), the actor
that events record, one access-log line per request, and the request metrics (count and duration by method, route
template and status). One middleware does all of it: each extra middleware layer costs every request."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time

from litestar import Request
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service import metrics
from service.domain import Actor
from service.logs import ACCESS_LOGGER

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")

EXTRA_HEADERS = "extra_response_headers"
_ID_PREFIX = secrets.token_hex(6)  # per process: ids of different replicas and restarts never collide
_ID_COUNTER = itertools.count(1)


def new_request_id() -> bytes:
    """A unique request id: this process's random prefix and a counter (cheaper than a uuid4 per request)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):010x}".encode()


access_log = logging.getLogger(ACCESS_LOGGER)


def add_response_headers(request: Request, headers: dict[str, str]) -> None:
    """Headers for a response the handler cannot build itself (a 204 handler must return None)."""
    request.scope.setdefault("state", {}).setdefault(EXTRA_HEADERS, {}).update(headers)


class RequestContextMiddleware:
    """Pure ASGI middleware: fixes the request id, echoes it, and logs the request when it is answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = next((v for k, v in scope["headers"] if k == REQUEST_ID_HEADER.encode()), None)
        request_id = given if given is not None and _VALID_REQUEST_ID.match(given) else new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id.decode()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [
                    (name.lower().encode(), value.encode()) for name, value in state.get(EXTRA_HEADERS, {}).items()
                ]
                message["headers"] = [*message.get("headers", []), *extra, (REQUEST_ID_HEADER.encode(), request_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            route = scope.get("path_template", scope["path"])
            if route != metrics.METRICS_PATH:
                metrics.observe_request(scope["method"], route, status, duration)
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(duration * 1000, 3),
                    "request_id": state["request_id"],
                    "actor": state.get("actor", "anonymous"),
                },
            )


def provide_actor(request: Request) -> Actor:
    """The API key's name (set by the auth guard) and the request id, for the events a command stores."""
    state = request.scope.setdefault("state", {})
    return Actor(name=state.get("actor", "anonymous"), request_id=state.get("request_id"))
