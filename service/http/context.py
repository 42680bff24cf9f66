"""Per-request context: the request id (from ``X-Request-ID`` or generated, echoed on every response), the actor
that events record, one access-log line per request, and the request metrics (count and duration by method, route
template and status). One middleware does all of it: each extra middleware layer costs every request."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
import time
from collections.abc import Iterable

from litestar import Request
from litestar.status_codes import HTTP_408_REQUEST_TIMEOUT
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service import metrics
from service.logs import ACCESS_LOGGER
from service.write.commands import Actor

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


_BODY_TIMEOUT_BODY = b'{"detail":"the request body did not arrive in time"}'
_BODY_TIMEOUT_START: Message = {
    "type": "http.response.start",
    "status": HTTP_408_REQUEST_TIMEOUT,
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_BODY_TIMEOUT_BODY)).encode()),
        (b"connection", b"close"),
    ],
}

UNMATCHED_ROUTE = "<unmatched>"
"""The route label of a request no route matched (404, 405): never the raw path, so metrics stay bounded."""
CLIENT_CLOSED_REQUEST = 499
"""The status logged and counted for a request whose client went away before it was answered (nginx's code): the
server did nothing wrong, so it must not look like a 500."""


def allowed_methods(routes: Iterable[object]) -> dict[str, str]:
    """Path template -> the ``Allow`` header of that path: every method of every handler on it, HEAD with GET."""
    methods: dict[str, set[str]] = {}
    for route in routes:
        template = getattr(route, "path_format", None)
        if template is not None:
            methods.setdefault(template, set()).update(getattr(route, "methods", ()))
    for names in methods.values():
        names.add("OPTIONS")
        if "GET" in names:
            names.add("HEAD")
    return {template: ", ".join(sorted(names)) for template, names in methods.items()}


class RequestContextMiddleware:
    """Pure ASGI layer in front of Litestar's router, so that it sees every request, routed or not.

    * fixes the request id and echoes it; logs the request and counts it when it is answered;
    * answers ``HEAD`` like ``GET`` without the body, and gives ``OPTIONS`` (and 405) the full ``Allow`` of the
      path: Litestar 2 answers HEAD with 405 and its automatic OPTIONS lists one handler's methods only
      (litestar#4169, fixed in Litestar 3);
    * a client that hangs up before its answer is logged and counted as 499, not 500;
    * a request body must arrive within ``body_timeout`` seconds of the first read, else 408 and the connection is
      closed (the server protocol keeps the deadline for headers, ``service.http.server``).
    """

    def __init__(self, app: ASGIApp, allow: dict[str, str], body_timeout: float = 30.0) -> None:
        self.app = app
        self.allow = allow
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = next((v for k, v in scope["headers"] if k == REQUEST_ID_HEADER.encode()), None)
        request_id = given if given is not None and _VALID_REQUEST_ID.match(given) else new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id.decode()
        method = scope["method"]
        head = method == "HEAD"
        routed = {**scope, "method": "GET"} if head else scope  # the server's own scope keeps HEAD (no body sent)
        status = 500
        disconnected = timed_out = body_complete = False
        body_deadline: float | None = None

        async def receive_watching() -> Message:
            nonlocal disconnected, timed_out, body_complete, body_deadline
            if body_complete:  # later reads only wait for a disconnect (e.g. under a streamed response)
                return await receive()
            loop = asyncio.get_running_loop()
            if body_deadline is None:
                body_deadline = loop.time() + self.body_timeout
            try:
                async with asyncio.timeout_at(body_deadline):  # no task per read, as ``wait_for`` would create
                    message = await receive()
            except TimeoutError:
                timed_out = True
                return {"type": "http.disconnect"}  # the application gives up on the body; answered 408 below
            if message["type"] == "http.disconnect":
                disconnected = True
            elif not message.get("more_body", False):
                body_complete = True
            return message

        async def send_with_context(message: Message) -> None:
            nonlocal status
            if timed_out:
                if message["type"] == "http.response.start":
                    status = HTTP_408_REQUEST_TIMEOUT
                    await send(
                        _BODY_TIMEOUT_START
                        | {"headers": [*_BODY_TIMEOUT_START["headers"], (REQUEST_ID_HEADER.encode(), request_id)]}
                    )
                    await send({"type": "http.response.body", "body": _BODY_TIMEOUT_BODY})
                return  # what the application answered to a body it never got is not sent
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", [])]
                headers += [
                    (name.lower().encode(), value.encode()) for name, value in state.get(EXTRA_HEADERS, {}).items()
                ]
                headers.append((REQUEST_ID_HEADER.encode(), request_id))
                if method == "OPTIONS" or status == 405:
                    headers = self._with_allow(headers, routed)
                message["headers"] = headers
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(routed, receive_watching, send_with_context)
        finally:
            duration = time.perf_counter() - started
            route = routed.get("path_template", UNMATCHED_ROUTE)
            if disconnected and status >= 500:
                status = CLIENT_CLOSED_REQUEST
            if route != metrics.METRICS_PATH:
                metrics.observe_request(method, route, status, duration)
            access_log.info(
                "request",
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(duration * 1000, 3),
                    "request_id": state["request_id"],
                    "actor": state.get("actor", "anonymous"),
                },
            )

    def _with_allow(self, headers: list[tuple[bytes, bytes]], scope: Scope) -> list[tuple[bytes, bytes]]:
        allow = self.allow.get(scope.get("path_template", ""))
        if allow is None:  # a 405 from the router (no route template in the scope): add HEAD where GET is
            given = next((value.decode() for name, value in headers if name.lower() == b"allow"), None)
            if given is None:
                return headers
            names = {name.strip() for name in given.split(",") if name.strip()}
            allow = ", ".join(sorted(names | ({"HEAD"} if "GET" in names else set())))
        return [(name, value) for name, value in headers if name.lower() != b"allow"] + [(b"allow", allow.encode())]


def provide_actor(request: Request) -> Actor:
    """The API key's name (set by ``http.auth``) and the request id, for the events a command stores.

    Write handlers call it themselves rather than take it as a dependency: with more than one dependency, Litestar
    resolves them in an anyio task group, a task per dependency per request (6 % of a POST's time)."""
    state = request.scope.setdefault("state", {})
    return Actor(name=state.get("actor", "anonymous"), request_id=state.get("request_id"))
