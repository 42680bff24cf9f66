"""The changes as routers see them, read from the store's log: for a reader other than the relay (the live stream
of ``GET /api/settings/stream``), with the very message bodies the relay publishes on NATS, and without NATS.

``service.read.read_model.fold_until`` builds the settings as they were at a position (the relay starts from it
too); ``Changes`` then yields, from there on, ``(position, event name, JSON body)`` for each public event, in log
order, as the log grows.

``SharedChanges`` is one ``Changes`` for every live stream of a process: it reads each change from the store once
and keeps the latest ones in memory, so a thousand open streams cost one read of the log per change and one view of
the settings, not a thousand. A stream that resumes from before what it keeps (or falls that far behind) reads the
log on its own until it reaches it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from events import wire
from projections import SettingsView
from projections.settings import CONSUMED_EVENTS
from service.publish.publication import advance
from service.read.read_model import fold_until
from service.write.log import LogDecoder, batches

BATCH_SIZE = 500
EVENT_NAMES = {
    "EndpointCreated": "endpoint.created",
    "EndpointUpdated": "endpoint.updated",
    "EndpointDeleted": "endpoint.deleted",
    "ProviderUpdated": "provider.updated",
}
"""The name of each public event on the live stream (SSE ``event:``)."""


class Changes:
    """Follows the log from a position: ``next_batch()`` returns the public changes stored since the last call."""

    def __init__(self, app: Any, position: int, start: SettingsView | None = None) -> None:
        """From store position ``position``; ``start``: a view at or before it to fold from (a snapshot's)."""
        self._app = app
        self._decoder = LogDecoder(app, CONSUMED_EVENTS)
        self.view = fold_until(app, position, self._decoder, start)
        self.position = position

    def next_batch(self) -> tuple[list[tuple[int, str, bytes]], bool]:
        """``(changes, more)``: the public changes of the next read of the log, and whether more are waiting."""
        notifications: Sequence[Any] = next(batches(self._app.recorder, self.position, size=BATCH_SIZE), ())
        found = []
        try:
            for notification in notifications:
                if self._decoder.reads(notification):
                    event = self._decoder.to_domain_event(notification)
                    publication = advance(self.view, event, notification.id, with_kv=False)
                    if publication is not None:
                        name = EVENT_NAMES[publication.headers[wire.HEADER_EVENT_TYPE]]
                        found.append((notification.id, name, publication.body))
                else:
                    self.view.position = notification.id
                self.position = notification.id  # the view and the position move together, one event at a time
        except Exception:
            if found:  # what was found before the failure is returned; the next call meets the failure again
                return found, True
            raise
        return found, len(notifications) == BATCH_SIZE


Change = tuple[int, str, bytes]
"""``(position, event name, JSON body)`` of one public change."""

KEPT = 10_000
"""Changes ``SharedChanges`` keeps in memory (a few MB): a stream further behind reads the log on its own."""


class SharedChanges:
    """One reader of the log for many streams (see the module docstring). Thread-safe: ``read()`` in one thread at a
    time (a worker thread), ``after()`` from any."""

    def __init__(self, app: Any, start: SettingsView, kept: int | None = None) -> None:
        """From ``start``: a view of the settings of its own (``ReadModel.copy()``), at the position to start at."""
        self._changes = Changes(app, start.position, start)
        self._kept: deque[Change] = deque()
        self._capacity = KEPT if kept is None else kept
        self._lock = threading.Lock()
        self._reading = threading.Lock()
        self.position = start.position
        """Where the log has been read up to."""
        self.floor = start.position
        """Every public change after ``floor`` (up to ``position``) is kept."""

    def read(self) -> bool:
        """Read the next batch of the log; whether more is waiting."""
        with self._reading:
            found, more = self._changes.next_batch()
            with self._lock:
                for change in found:
                    if len(self._kept) == self._capacity:
                        self.floor = self._kept.popleft()[0]
                    self._kept.append(change)
                self.position = self._changes.position
        return more

    def after(self, position: int) -> tuple[list[Change], int] | None:
        """``(the changes kept after position, where they end)``; ``None`` when some of them are no longer (or
        were never) kept: the caller reads the log itself from ``position``."""
        with self._lock:
            if position < self.floor:
                return None
            found: list[Change] = []
            for change in reversed(self._kept):  # a stream is usually near the end
                if change[0] <= position:
                    break
                found.append(change)
            found.reverse()
            return found, max(position, self.position)
