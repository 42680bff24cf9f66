"""``GET /api/settings/stream``: every settings change as server-sent events, for browsers (the console) and any
HTTP client; the same messages routers get on NATS, read from the store's log, so it works with NATS off.

Each event: ``id:`` its store position, ``event:`` ``endpoint.created`` | ``endpoint.updated`` | ``endpoint.deleted``
| ``provider.updated``, ``data:`` the NATS message body. ``Last-Event-ID`` (what a browser's ``EventSource`` sends
when it reconnects) or ``?after=<position>`` resumes after that position, nothing missed or repeated; without
either the stream starts at the current position. A comment line after ``TELEPHONY_STREAM_HEARTBEAT`` seconds (15)
of silence keeps proxies from closing an idle stream. The stream ends when the service shuts down (the client
reconnects to a replica, or to this one once it is back, with its ``Last-Event-ID``).

The route is left out of the OpenAPI document (see the handler); docs/api.md describes it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated

from litestar import Controller, get
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from service.container import Container
from service.http.schemas import MAX_POSITION, error_responses, needs
from service.publish.feed import Changes
from service.write.errors import FieldError, InvalidSettingsError

WATCH_INTERVAL = 0.05
"""Seconds between looks at the read model's position while the stream is idle (a memory read, no query)."""
RETRY_MS = 1000
"""What the stream tells an ``EventSource`` to wait before it reconnects."""

shutting_down = threading.Event()
"""Set when the server begins to stop (``service.cli``): open streams end, so the shutdown need not wait for them."""


class StreamController(Controller):
    path = "/api/settings/stream"
    tags = ["Live stream"]

    @get(
        summary="Every settings change as it happens (server-sent events)",
        description="Scope: read (a key, or the console's session). `text/event-stream`: `id:` the store position, "
        "`event:` endpoint.created | endpoint.updated | endpoint.deleted | provider.updated, `data:` the NATS "
        "message body (docs/nats.md). Last-Event-ID or `after` resumes after that position with nothing missed or "
        "repeated; without either the stream starts now. A comment line every 15 s keeps proxies from closing it.",
        security=needs("read"),
        responses=error_responses(401, 403, 422),
        media_type="text/event-stream",
        # Not in the OpenAPI document: a response that never ends hangs every client that reads the document and
        # tries each route (schemathesis and other fuzzers, code generators' smoke tests). docs/api.md describes it.
        include_in_schema=False,
    )
    async def stream(
        self,
        container: NamedDependency[Container],
        after: Annotated[
            int | None, QueryParameter(ge=0, le=MAX_POSITION, description="Resume after this store position")
        ] = None,
        last_event_id: Annotated[
            str | None,
            HeaderParameter(
                name="Last-Event-ID",
                required=False,
                max_length=32,
                description="The id of the last event received: resume after it (takes precedence over `after`)",
            ),
        ] = None,
    ) -> ServerSentEvent:
        start = _resume_position(last_event_id, after)
        changes = await sync_to_thread(_changes_from, container, start)
        return ServerSentEvent(_events(container, changes), retry_duration=RETRY_MS)


def _changes_from(container: Container, position: int | None) -> Changes:
    """The changes after ``position``: from a copy of the read model when the stream starts now (``None``), else
    folded from a read-model snapshot at or before ``position``, or from the start of the log."""
    if position is None:
        view = container.read_model.copy()
        return Changes(container.app, view.position, view)
    snapshots = container.snapshots
    return Changes(container.app, position, snapshots.view_at_most(position) if snapshots is not None else None)


def _resume_position(last_event_id: str | None, after: int | None) -> int | None:
    if last_event_id is not None and last_event_id.strip():
        text = last_event_id.strip()
        if not text.isdigit() or int(text) > MAX_POSITION:
            raise InvalidSettingsError([FieldError("Last-Event-ID", "must be a store position (an event's id)")])
        return int(text)
    return after


async def _events(container: Container, changes: Changes) -> AsyncIterator[ServerSentEventMessage]:
    quiet_since = time.monotonic()
    while not shutting_down.is_set():
        found, more = await sync_to_thread(changes.next_batch)
        for position, name, body in found:
            yield ServerSentEventMessage(data=body.decode(), event=name, id=position)
        if found:
            quiet_since = time.monotonic()
        if more:
            continue
        # Idle until the read model has something after our position (its own writes and other replicas' are folded
        # there first), the heartbeat is due, or the server stops.
        while container.read_model.position <= changes.position and not shutting_down.is_set():
            if time.monotonic() - quiet_since >= container.settings.stream_heartbeat:
                yield ServerSentEventMessage(comment="keep-alive")
                quiet_since = time.monotonic()
            await asyncio.sleep(WATCH_INTERVAL)
