"""The changes as routers see them, read from the store's log: for a reader other than the relay (the live stream
of ``GET /api/settings/stream``), with the very message bodies the relay publishes on NATS, and without NATS.

``service.read.read_model.fold_until`` builds the settings as they were at a position (the relay starts from it
too); ``Changes`` then
yields, from there on, ``(position, event name, JSON body)`` for each public event, in log order, as the log grows.
"""

from __future__ import annotations

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
        for notification in notifications:
            if self._decoder.reads(notification):
                event = self._decoder.to_domain_event(notification)
                publication = advance(self.view, event, notification.id, with_kv=False)
                if publication is not None:
                    name = EVENT_NAMES[publication.headers[wire.HEADER_EVENT_TYPE]]
                    found.append((notification.id, name, publication.body))
            else:
                self.view.position = notification.id
            self.position = notification.id
        return found, len(notifications) == BATCH_SIZE
