"""The read model: the ``projections`` folds kept current by following the store's notification log.

Rebuilt from the whole log at start-up, then advanced after every local command (read-your-writes: a command
waits until the view has reached its own position) and whenever the store has news of changes written by other
processes (``publish.notify``, or a poll). Catching up reads the log after the last folded position
(``write.log``), which works the same on SQLite and PostgreSQL and cannot miss an event the way a lost LISTEN can;
it decodes only the events the folds read (the phone-number claims, a third of a typical log, just advance the
position).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from eventsourcing.application import Application

from projections import SettingsView
from projections.endpoints import EndpointsView
from projections.settings import CONSUMED_EVENTS, evolve
from service.write.log import BATCH_SIZE, LogDecoder, batches

_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection for the ``with`` block (nestable, from any thread).

    A bulk fold creates hundreds of thousands of long-lived objects and no garbage cycles; each full collection
    it triggers walks the whole growing view again (a third of a 1M-event rebuild, for nothing collected).
    Reference counting still frees everything as usual; collections resume, and catch up, at the end.
    """
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def fold_until(
    app: Application,
    position: int,
    decoder: LogDecoder | None = None,
    start: SettingsView | None = None,
    progress: Callable[[int], None] | None = None,
) -> SettingsView:
    """The settings view as of store position ``position`` (0: empty), folded from the log: from ``start`` (a view
    at a lower position, e.g. a read-model snapshot's) when given, else from the beginning. ``progress(position)``
    is called after each batch."""
    decoder = decoder or LogDecoder(app, CONSUMED_EVENTS)
    view = start if start is not None and start.position <= position else SettingsView()
    if position > view.position:
        with gc_paused():  # a bulk fold: see gc_paused
            for batch in batches(app.recorder, view.position, stop=position):
                for notification_id, event in decoder.decode(batch):
                    evolve(view, event, notification_id)
                if progress is not None:
                    progress(batch[-1].id)
    view.position = position
    return view


class ReadModel:
    """One process's read models. Readers use ``reading()``; the catch-up is the only writer."""

    def __init__(self, app: Application) -> None:
        self._app = app
        self._decoder = LogDecoder(app, CONSUMED_EVENTS)
        self._view = SettingsView()
        self._catch_up_lock = threading.Lock()  # one catch-up at a time (held across store I/O)
        self._view_lock = threading.Lock()  # held only while folding a batch or while a reader copies

    @property
    def position(self) -> int:
        return self._view.position

    def start_from(self, view: SettingsView) -> None:
        """Start from ``view`` (a snapshot's) instead of the empty view: only before the first catch-up."""
        with self._catch_up_lock, self._view_lock:
            if self._view.position:
                raise RuntimeError("the read model has already folded events")
            self._view = view

    def copy(self) -> SettingsView:
        """A view of its own equal to the current one (the endpoints are immutable: only the indexes are copied),
        for a reader that folds on from here."""
        with self._view_lock:
            view = self._view
            return SettingsView(
                endpoints=EndpointsView(dict(view.endpoints.by_id), dict(view.endpoints.by_phone_number)),
                provider=view.provider,
                position=view.position,
            )

    @contextmanager
    def reading(self) -> Iterator[SettingsView]:
        """The view, stable for the duration of the ``with`` block (keep the block short)."""
        with self._view_lock:
            yield self._view

    def follow(self, saved: Sequence[tuple[int, object]], until: int | None) -> int:
        """Bring the view up to ``until``, after a command of this process saved ``saved`` (position, event).

        When the saved events directly follow the view, nothing else can lie between them (the store assigns
        positions in commit order), so they are folded as they are, without reading back what was just written;
        otherwise (another process wrote in between, a gap in the positions) this is ``catch_up(until)``.
        """
        if until is None or self._view.position >= until:
            return self._view.position
        if saved and all(position == saved[0][0] + i for i, (position, _) in enumerate(saved)):
            with self._catch_up_lock:
                if self._view.position == saved[0][0] - 1:
                    with self._view_lock:
                        view = self._view
                        for position, event in saved:
                            evolve(view, event, position)
                    return self._view.position
        return self.catch_up(until)

    def fold_saved(self, saved: Sequence[tuple[int, object]]) -> None:
        """``follow`` what a transaction of this process stored (the writer calls it before answering)."""
        if saved:
            self.follow(saved, saved[-1][0])

    def catch_up(self, until: int | None = None) -> int:
        """Fold every stored event not yet folded; with ``until``, return as soon as that position is reached."""
        if until is not None and self._view.position >= until:
            return self._view.position
        paused = False
        with self._catch_up_lock, contextlib.ExitStack() as bulk:
            # With ``until`` (this process's own commit), read again until it shows: on PostgreSQL a commit with a
            # lower position may become visible after one with a higher position.
            while True:
                for batch in batches(self._app.recorder, self._view.position):
                    if len(batch) == BATCH_SIZE and not paused:  # a rebuild, or a long lag
                        paused = bulk.enter_context(gc_paused()) or True
                    decoded = self._decoder.decode(batch)
                    with self._view_lock:
                        view = self._view
                        for position, event in decoded:
                            evolve(view, event, position)
                        view.position = batch[-1].id
                    if until is not None and view.position >= until:
                        break
                if until is None or self._view.position >= until:
                    return self._view.position
