"""The read model: the ``projections`` folds kept current by following the store's notification log.

Rebuilt from the whole log at start-up, then advanced after every local command (read-your-writes: a command
waits until the view has reached its own position) and by a periodic poll for changes written by other
processes. Catching up reads ``select_notifications`` after the last folded position, which works the same on
SQLite and PostgreSQL and cannot miss an event the way a lost LISTEN can.

Decoding is most of the cost of a catch-up, so ``EventDecoder`` decodes only the events the views read (the
phone-number claims, a third of a typical log, just advance the position) and reads the default JSON format with
msgspec instead of ``json`` with a Python object hook (same result, about 2.5 times faster).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import msgspec
from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Notification, Transcoder, TranscodingNotRegisteredError
from eventsourcing.utils import resolve_topic

from projections import SettingsView
from projections.settings import CONSUMED_EVENTS, evolve

BATCH_SIZE = 1000


class MsgspecJSONReader(Transcoder):
    """Decodes exactly what eventsourcing's ``JSONTranscoder`` writes (with that transcoder's registered
    transcodings), using msgspec; encoding is left to the application's own transcoder.

    ``json`` calls its object hook on every decoded object, innermost first; ``_revive`` walks the decoded value
    the same way and turns each ``{"_type_": name, "_data_": data}`` object into ``transcoding.decode(data)``.
    Anything msgspec refuses (e.g. ``NaN``, which ``json`` accepts) is decoded by the original transcoder.
    """

    def __init__(self, transcoder: JSONTranscoder) -> None:
        self._transcoder = transcoder
        self._names = transcoder.names
        self._decode = msgspec.json.Decoder().decode

    def encode(self, obj: Any) -> bytes:
        return self._transcoder.encode(obj)

    def decode(self, data: bytes) -> Any:
        try:
            decoded = self._decode(data)
        except msgspec.DecodeError:
            return self._transcoder.decode(data)
        return self._revive(decoded)

    def _revive(self, value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            for key, item in value.items():
                if type(item) in (dict, list):
                    value[key] = self._revive(item)  # replacing values while iterating is safe: no key changes
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                try:
                    transcoding = self._names[value["_type_"]]
                except (KeyError, TypeError):
                    raise TranscodingNotRegisteredError(
                        f"Data serialized with name '{value['_type_']}' is not deserializable. Please register a "
                        "custom transcoding for this type."
                    ) from None
                return transcoding.decode(value["_data_"])
            return value
        if kind is list:
            return [self._revive(item) if type(item) in (dict, list) else item for item in value]
        return value


class EventDecoder:
    """Turns notifications into the domain events the ``projections`` folds read, skipping the others."""

    def __init__(self, app: Application) -> None:
        mapper = app.mapper
        if type(mapper.transcoder) is JSONTranscoder:  # the format is known: read it faster
            # A shallow copy: the same mapper (class, cipher, compressor and any state it keeps), reading with msgspec.
            mapper = copy.copy(mapper)
            mapper.transcoder = MsgspecJSONReader(app.mapper.transcoder)
        self.to_domain_event = mapper.to_domain_event
        self._consumed: dict[str, bool] = {}

    def consumed(self, notification: Notification) -> bool:
        """Whether the folds read this notification's event (else it only advances the position)."""
        topic = notification.topic
        known = self._consumed.get(topic)
        if known is None:
            known = self._consumed[topic] = issubclass(resolve_topic(topic), CONSUMED_EVENTS)
        return known

    def decode_batch(self, notifications: Sequence[Notification]) -> list[tuple[int, object]]:
        """(position, event) of every notification whose event the folds read."""
        consumed, decode = self.consumed, self.to_domain_event
        return [(n.id, decode(n)) for n in notifications if consumed(n)]


class ReadModel:
    """One process's read models. Readers use ``reading()``; the catch-up is the only writer."""

    def __init__(self, app: Application) -> None:
        self._app = app
        self._decoder = EventDecoder(app)
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
                decoded = self._decoder.decode_batch(notifications)
                with self._view_lock:
                    view = self._view
                    for position, event in decoded:
                        evolve(view, event, position)
                    view.position = notifications[-1].id
                if len(notifications) < BATCH_SIZE and until is None:
                    break
            return self._view.position
