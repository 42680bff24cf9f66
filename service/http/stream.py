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
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated

from litestar import Controller, Request, get
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from service.container import Container
from service.http.schemas import MAX_POSITION, error_responses, needs
from service.publish.feed import Changes, SharedChanges
from service.write.errors import FieldError, InvalidSettingsError
from service.write.log import public_after

log = logging.getLogger("telephony_settings.stream")

WATCH_INTERVAL = 0.01
"""Seconds between the shared reader's looks at the read model's position while there is nothing new (a memory
read, no query; one task per process, whatever the number of streams)."""
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
        request: Request,
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
        feed = request.app.state.get(FEED_STATE)
        if feed is None:
            feed = request.app.state[FEED_STATE] = LiveFeed(container)
        if start is None:  # now: what the read model holds as the request is answered (its headers not yet sent)
            start = container.read_model.position
        return ServerSentEvent(_events(container, feed, start), retry_duration=RETRY_MS)


def _reader_from(container: Container, shared: SharedChanges, position: int) -> tuple[Changes | None, int]:
    """For a stream at ``position``, before what ``shared`` keeps: ``(None, floor)`` when nothing public lies
    between (it can take the shared changes from the floor on: the usual case of a client that reconnects with the
    last event it got), else ``(a reader of its own, position)``, folded from a read-model snapshot at or before
    ``position`` or from the start of the log."""
    floor = shared.floor
    if not public_after(container.app.recorder, position, upto=floor):
        return None, max(position, floor)
    snapshots = container.snapshots
    start = snapshots.view_at_most(position) if snapshots is not None else None
    return Changes(container.app, position, start), position


def _resume_position(last_event_id: str | None, after: int | None) -> int | None:
    if last_event_id is not None and last_event_id.strip():
        text = last_event_id.strip()
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_POSITION:  # "²" is a digit to isdigit
            raise InvalidSettingsError([FieldError("Last-Event-ID", "must be a store position (an event's id)")])
        return int(text)
    return after


FEED_STATE = "live_feed"
"""Where the app keeps its ``LiveFeed`` (``app.state``)."""
WAIT = 0.25
"""Longest wait of a stream for the next change before it looks at the heartbeat and the shutdown again."""


class LiveFeed:
    """The ``SharedChanges`` of one app's streams, and the task that reads the log into it whenever the read model
    is ahead of it (the read model folds this process's writes and other replicas' first). Started by the first
    stream; stopped, its view and kept changes dropped, when the last one ends."""

    def __init__(self, container: Container) -> None:
        self._container = container
        self._shared: SharedChanges | None = None
        self._streams = 0
        self._starting = asyncio.Lock()
        self._tick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        """The reading task (kept: the loop holds only a weak reference to a task)."""

    @property
    def tick(self) -> asyncio.Event:
        """Set once the log has been read further (a fresh one after each read)."""
        return self._tick

    async def join(self) -> SharedChanges:
        self._streams += 1
        async with self._starting:
            if self._shared is None:
                start = await sync_to_thread(self._container.read_model.copy)
                shared = self._shared = SharedChanges(self._container.app, start)
                self._task = asyncio.get_running_loop().create_task(self._follow(shared), name="live-feed")
            return self._shared

    def leave(self) -> None:
        self._streams -= 1
        if self._streams == 0:
            self._shared = None  # the task sees it and ends

    async def _follow(self, shared: SharedChanges) -> None:
        while self._shared is shared and not shutting_down.is_set():
            if self._container.read_model.position <= shared.position:
                await asyncio.sleep(WATCH_INTERVAL)
                continue
            try:
                more = await sync_to_thread(shared.read)
            except Exception as exc:  # the store briefly away: the streams wait, the next look retries
                log.warning("live stream: the log could not be read (%s); retrying", type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            tick, self._tick = self._tick, asyncio.Event()
            tick.set()
            if not more:
                await asyncio.sleep(WATCH_INTERVAL)


async def _events(container: Container, feed: LiveFeed, position: int) -> AsyncIterator[ServerSentEventMessage]:
    """The stream after ``position``: from the shared reader's kept changes, or, while the stream is before them,
    from a reader of its own."""
    own: Changes | None = None
    quiet_since = time.monotonic()
    try:
        shared = await feed.join()
        while not shutting_down.is_set():
            tick = feed.tick
            more = False
            kept = shared.after(position) if own is None else None
            if kept is not None:
                found, position = kept
            else:
                try:
                    if own is None:
                        own, position = await sync_to_thread(_reader_from, container, shared, position)
                        if own is None:
                            continue  # nothing public before the shared changes: the stream takes them from here
                    found, more = await sync_to_thread(own.next_batch)
                except Exception as exc:  # the store briefly away: the stream stays open (keep-alives below)
                    log.warning("live stream: the log could not be read (%s); retrying", type(exc).__name__)
                    found = []
                    await asyncio.sleep(1.0)
                else:
                    position = own.position
                    if shared.after(position) is not None:
                        own = None  # caught up with what the shared reader keeps: its own view is dropped
            for change_position, name, body in found:
                yield ServerSentEventMessage(data=body.decode(), event=name, id=change_position)
            if found:
                quiet_since = time.monotonic()
            if more or (own is not None and found):
                continue
            if time.monotonic() - quiet_since >= container.settings.stream_heartbeat:
                yield ServerSentEventMessage(comment="keep-alive")
                quiet_since = time.monotonic()
            remaining = container.settings.stream_heartbeat - (time.monotonic() - quiet_since)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(tick.wait(), timeout=max(0.0, min(WAIT, remaining)))
    finally:
        feed.leave()
