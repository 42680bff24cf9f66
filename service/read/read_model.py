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

import contextlib
import copy
import gc
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.application import Application
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    Notification,
    Transcoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
    find_id_convertor,
)
from eventsourcing.utils import resolve_topic

from projections import SettingsView
from projections.settings import CONSUMED_EVENTS, evolve
from service.write.chain import ChainMapper, unseal

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
        # eventsourcing's own transcodings of str data, called directly (their decode() only adds an assert).
        self._from_str = {
            name: _STR_DECODERS[type(transcoding)]
            for name, transcoding in transcoder.names.items()
            if type(transcoding) in _STR_DECODERS
        }

    def encode(self, obj: Any) -> bytes:
        return self._transcoder.encode(obj)

    def decode(self, data: bytes) -> Any:
        try:
            decoded = self._decode(data)
        except msgspec.DecodeError:
            return self._transcoder.decode(data)
        if type(decoded) is not dict or (len(decoded) == 2 and "_type_" in decoded):
            return self._revive(decoded)
        # The top-level object, with the common case inline: {"_type_": <a str transcoding>, "_data_": "..."}.
        from_str = self._from_str
        for key, item in decoded.items():
            kind = type(item)
            if kind is dict:
                if (
                    len(item) == 2
                    and type(data := item.get("_data_")) is str
                    and type(name := item.get("_type_")) is str
                    and (convert := from_str.get(name)) is not None
                ):
                    decoded[key] = convert(data)
                else:
                    decoded[key] = self._revive(item)
            elif kind is list:
                decoded[key] = self._revive(item)
        return decoded

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


_STR_DECODERS: dict[type, Callable[[str], Any]] = {
    DatetimeAsISO: datetime.fromisoformat,
    UUIDAsHex: UUID,
    DecimalAsStr: Decimal,
}


class EventDecoder:
    """Turns notifications into the domain events the ``projections`` folds read, skipping the others."""

    def __init__(self, app: Application) -> None:
        mapper = app.mapper
        self._read: Callable[[bytes], Any] | None = None
        if type(mapper.transcoder) is JSONTranscoder:  # the format is known: read it faster
            # A shallow copy: the same mapper (class, cipher, compressor and any state it keeps), reading with msgspec.
            mapper = copy.copy(mapper)
            mapper.transcoder = MsgspecJSONReader(app.mapper.transcoder)
            if isinstance(mapper, ChainMapper):
                mapper.remember_heads = False  # folding the log needs no chain heads (only commands do)
            if mapper.cipher is None and mapper.compressor is None:
                if type(mapper) is Mapper:
                    self._read = mapper.transcoder.decode
                elif type(mapper) is ChainMapper:
                    decode = mapper.transcoder.decode
                    self._read = lambda state: decode(unseal(state)[1])
        self._mapper_to_domain_event = mapper.to_domain_event
        self.to_domain_event = self._plain_to_domain_event if self._read is not None else mapper.to_domain_event
        self._consumed: dict[str, bool] = {}
        self._classes: dict[str, tuple[type, int, type, Callable[[Any], Any]]] = {}

    def _plain_to_domain_event(self, notification: Notification) -> Any:
        """``Mapper.to_domain_event`` for the plain mapper (no cipher, no compressor), its per-event look-ups
        (topic, class version, id convertor) done once per topic: a third of the decoding time."""
        try:
            cls, class_version, id_type, convert_id = self._classes[notification.topic]
        except KeyError:
            cls = resolve_topic(notification.topic)
            id_type = type(notification.originator_id)
            convert_id = find_id_convertor(cls, id_type)
            self._classes[notification.topic] = (cls, getattr(cls, "class_version", 1), id_type, convert_id)
            return self._mapper_to_domain_event(notification)
        if type(notification.originator_id) is not id_type:
            return self._mapper_to_domain_event(notification)
        try:
            state = self._read(notification.state)  # type: ignore[misc]
        except Exception:
            return self._mapper_to_domain_event(notification)  # which raises the mapper's own error
        state["originator_id"] = convert_id(notification.originator_id)
        state["originator_version"] = notification.originator_version
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event

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

    def catch_up(self, until: int | None = None) -> int:
        """Fold every stored event not yet folded; with ``until``, return as soon as that position is reached."""
        if until is not None and self._view.position >= until:
            return self._view.position
        paused = False
        with self._catch_up_lock, contextlib.ExitStack() as bulk:
            while until is None or self._view.position < until:
                notifications = self._app.recorder.select_notifications(
                    start=self._view.position, limit=BATCH_SIZE, inclusive_of_start=False
                )
                if not notifications:
                    break
                if len(notifications) == BATCH_SIZE and not paused:  # a rebuild, or a long lag
                    paused = bulk.enter_context(gc_paused()) or True
                decoded = self._decoder.decode_batch(notifications)
                with self._view_lock:
                    view = self._view
                    for position, event in decoded:
                        evolve(view, event, position)
                    view.position = notifications[-1].id
                if len(notifications) < BATCH_SIZE and until is None:
                    break
            return self._view.position
