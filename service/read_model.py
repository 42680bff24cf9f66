"""The read model: the ``projections`` folds kept current by following the store's notification log.

Rebuilt from the whole log at start-up, then advanced after every local command (read-your-writes: a command
waits until the view has reached its own position) and by a periodic poll for changes written by other
processes. Catching up reads ``select_notifications`` after the last folded position, which works the same on
SQLite and PostgreSQL and cannot miss an event the way a lost LISTEN can.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from eventsourcing.application import Application

from projections import SettingsView
from projections.settings import evolve

BATCH_SIZE = 1000


class ReadModel:
    """One process's read models. Readers use ``reading()``; the catch-up is the only writer."""

    def __init__(self, app: Application) -> None:
        self._app = app
        self._view = SettingsView()
        self._catch_up_lock = threading.Lock()  # one catch-up at a time (held across store I/O)
        self._view_lock = threading.Lock()  # held only while folding a batch or while a reader copies

    @property
    def position(self) -> int:
        return self._view.position

    @contextmanager
    def reading(self) -> Iterator[SettingsView]:
        """The view, stable for the duration of the ``with`` block (keep the block short)."""
        with self._view_lock:
            yield self._view

    def catch_up(self, until: int | None = None) -> int:
        """Fold every stored event not yet folded; with ``until``, return as soon as that position is reached."""
        if until is not None and self._view.position >= until:
            return self._view.position
        with self._catch_up_lock:
            while until is None or self._view.position < until:
                notifications = self._app.recorder.select_notifications(
                    start=self._view.position, limit=BATCH_SIZE, inclusive_of_start=False
                )
                if not notifications:
                    break
                to_domain_event = self._app.mapper.to_domain_event
                decoded = [(n.id, to_domain_event(n)) for n in notifications]
                with self._view_lock:
                    for position, event in decoded:
                        evolve(self._view, event, position)
                if len(notifications) < BATCH_SIZE and until is None:
                    break
            return self._view.position
