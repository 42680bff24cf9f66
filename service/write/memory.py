"""The writer's decision state: what it last knew of each aggregate, kept in memory between commands.

Deciding a command needs the current state of the aggregates it touches (the endpoint, the phone-number index, the
provider settings) and whether its Idempotency-Key was used. Reading them from the store for every command is what
made each write cost several round trips; the writer (``write.writer``) keeps them here instead and reads the store
only for what it does not hold, for a whole batch in one query (``Memory.prefetch``).

What is held may be older than the store when another process wrote since. That never stores a wrong change: every
event the writer saves carries the next version of its aggregate, and the store refuses a version that is taken
(``IntegrityError``), after which the writer forgets what it held and decides again from the store. A decision that
stores nothing (an error, an unchanged resource) cannot be refused that way, so the writer confirms each one against
the store before it answers (``States(fresh=True)``).

``States`` is one batch's view: the memory under the changes the batch has decided so far, committed to the memory
once the batch is stored and dropped if it is not. A batch first takes a number or an Idempotency-Key it does not
hold to be unused (``assume_unused``), which spares the read for every new number and key; the store's version
constraint refuses the claim of one that was used, and the batch is then decided again from the store.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, Literal
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from events import (
    SETTINGS_ID,
    EndpointCreated,
    EndpointDeleted,
    EndpointUpdated,
    IdempotencyKeyUsed,
    PhoneNumberClaimed,
    PhoneNumberReleased,
    ProviderUpdated,
)
from projections import Endpoint, ProviderView, evolve_endpoint
from projections import provider as provider_projection
from service.write import decisions as domain
from service.write.conditions import IdempotencyKeyReusedError, IdempotencyRequest
from service.write.decisions import PhoneNumberIndex
from service.write.ids import AggregateIds

Kind = Literal["endpoint", "index", "provider", "key"]
MEMORY_SIZE = 100_000
"""Aggregates held (least recently used forgotten first); a forgotten one costs one read when next needed."""


def _projector(evolve: Callable[[Any, Any], Any], initial: Callable[[], Any]) -> Callable[[Any, Any], Any]:
    """A ``projections`` fold as eventsourcing's projector function: ``(state or None, events) -> state``."""

    def project(state: Any, events: Iterable[Any]) -> Any:
        state = initial() if state is None else state
        for event in events:
            state = evolve(state, event)
        return state

    return project


def _keep_record(record: Any, event: Any) -> Any:
    return event if isinstance(event, IdempotencyKeyUsed) else record


PROJECTORS: Mapping[Kind, Callable[[Any, Any], Any]] = {
    "endpoint": _projector(evolve_endpoint, lambda: None),  # None before the creation and after the deletion
    "index": _projector(domain.evolve_index, PhoneNumberIndex),
    "provider": _projector(provider_projection.evolve, lambda: provider_projection.INITIAL),
    "key": _projector(_keep_record, lambda: None),  # the IdempotencyKeyUsed record, or None for an unused key
}
KIND_OF_EVENT: Mapping[type, Kind] = {
    EndpointCreated: "endpoint",
    EndpointUpdated: "endpoint",
    EndpointDeleted: "endpoint",
    PhoneNumberClaimed: "index",
    PhoneNumberReleased: "index",
    ProviderUpdated: "provider",
    IdempotencyKeyUsed: "key",
}


def load(app: Application, aggregate_id: UUID, kind: Kind, version: int | None = None) -> Any:
    """One aggregate's state from the store, folded by eventsourcing's repository (and its cache)."""
    if kind == "key":  # one immutable event: no fold, nothing to cache
        records = list(app.events.get(aggregate_id, limit=1))
        return records[0] if records else None
    repository = app.repository
    try:
        state = repository.get(
            aggregate_id, version=version, projector_func=PROJECTORS[kind], deepcopy_from_cache=False
        )
    except AggregateNotFoundError:
        state = PROJECTORS[kind](None, ())
    else:
        if version is None and repository.cache is not None:
            # The repository fast-forwards a cached state but keeps the old one: keep the new one, so the next read
            # folds only what is stored after it (the provider settings gain an event per change, for ever).
            repository.cache.put(aggregate_id, state)
    return _with_id(state, aggregate_id, kind)


def _with_id(state: Any, aggregate_id: UUID, kind: Kind) -> Any:
    if kind == "index" and state.id != aggregate_id:
        return replace(state, id=aggregate_id)
    return state


class Memory:
    """Aggregate states by id, least recently used forgotten first. Used by the writer's thread only."""

    def __init__(self, app: Application, size: int = MEMORY_SIZE) -> None:
        self.app = app
        self._size = size
        self._states: OrderedDict[UUID, Any] = OrderedDict()

    @property
    def ids(self) -> AggregateIds:
        return self.app.ids  # type: ignore[attr-defined,no-any-return]

    def __contains__(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self._states

    def get(self, aggregate_id: UUID, kind: Kind, fresh: bool = False) -> Any:
        if not fresh and aggregate_id in self._states:
            self._states.move_to_end(aggregate_id)
            return self._states[aggregate_id]
        state = load(self.app, aggregate_id, kind)
        self.put(aggregate_id, state)
        return state

    def put(self, aggregate_id: UUID, state: Any) -> None:
        self._states[aggregate_id] = state
        self._states.move_to_end(aggregate_id)
        while len(self._states) > self._size:
            self._states.popitem(last=False)

    def forget(self, aggregate_ids: Iterable[UUID]) -> None:
        for aggregate_id in aggregate_ids:
            self._states.pop(aggregate_id, None)

    def prefetch(self, wanted: Mapping[UUID, Kind], refresh: bool = False) -> None:
        """Load every aggregate in ``wanted`` that is not held (with ``refresh``: every one), with one read."""
        missing = [aggregate_id for aggregate_id in wanted if refresh or aggregate_id not in self._states]
        if not missing:
            return
        found = self.app.events.get_many(missing)  # type: ignore[attr-defined]
        for aggregate_id in missing:
            kind = wanted[aggregate_id]
            state = PROJECTORS[kind](None, found.get(aggregate_id, ()))
            self.put(aggregate_id, _with_id(state, aggregate_id, kind))


class States:
    """One batch's decision state: ``memory`` under the batch's own changes. ``fresh`` reads every aggregate from
    the store once (to confirm a decision that stores nothing, or after a refused save)."""

    def __init__(self, memory: Memory, fresh: bool = False, assume_unused: bool = False) -> None:
        self.memory = memory
        self.fresh = fresh
        self.assume_unused = assume_unused and not fresh
        self.pending: dict[UUID, Any] = {}
        self._read: set[UUID] = set()

    def _get(self, aggregate_id: UUID, kind: Kind) -> Any:
        if aggregate_id in self.pending:
            return self.pending[aggregate_id]
        fresh = self.fresh and aggregate_id not in self._read
        self._read.add(aggregate_id)
        if self.assume_unused and kind in ("index", "key") and aggregate_id not in self.memory:
            # A number or a key this process has not seen is taken to be unused, without reading the store: if it
            # was used, the claim (its version 1) is refused by the store and the batch is decided again from it.
            return PROJECTORS[kind](None, ()) if kind == "key" else PhoneNumberIndex(id=aggregate_id)
        return self.memory.get(aggregate_id, kind, fresh=fresh)

    def endpoint(self, endpoint_id: UUID) -> Endpoint | None:
        return self._get(endpoint_id, "endpoint")  # type: ignore[no-any-return]

    def index(self, e164: str) -> PhoneNumberIndex:
        return self._get(self.memory.ids.phone_number_index(e164), "index")  # type: ignore[no-any-return]

    def provider(self) -> ProviderView:
        return self._get(SETTINGS_ID, "provider")  # type: ignore[no-any-return]

    def idempotency(self, request: IdempotencyRequest) -> IdempotencyKeyUsed | None:
        """The record of ``request``'s key, None for an unused key; 422 when it was used for another request."""
        key_id = self.memory.ids.idempotency(request.actor, request.key)
        record = self._get(key_id, "key")
        if record is None:
            # Not held as used: it may have been used since by another process. Held as unused is never kept
            # beyond this batch (a used key is for ever, an unused one only until someone uses it).
            self.memory.forget((key_id,))
            return None
        if record.fingerprint != request.fingerprint:
            raise IdempotencyKeyReusedError(
                "this Idempotency-Key was already used for a different request; use a new key for a new request"
            )
        return record  # type: ignore[no-any-return]

    def key_pending(self, request: IdempotencyRequest) -> bool:
        """Whether a command of this batch, not yet stored, records ``request``'s key."""
        return self.memory.ids.idempotency(request.actor, request.key) in self.pending

    def apply(self, events: Iterable[Any]) -> None:
        """Evolve the batch's view with the events a command decided."""
        for event in events:
            kind = KIND_OF_EVENT[type(event)]
            aggregate_id = event.originator_id
            if kind == "key":  # a key's one record: nothing to fold, nothing to read
                self.pending[aggregate_id] = event
                continue
            new = event.originator_version == 1 and aggregate_id not in self.pending  # e.g. a created endpoint
            current = None if new else self._get(aggregate_id, kind)
            self.pending[aggregate_id] = _with_id(PROJECTORS[kind](current, (event,)), aggregate_id, kind)

    def read_already(self, aggregate_ids: Iterable[UUID]) -> None:
        """These were just read from the store (``Memory.prefetch(refresh=True)``): a fresh view need not again."""
        self._read.update(aggregate_ids)

    @property
    def touched(self) -> set[UUID]:
        return set(self.pending) | self._read

    def commit(self) -> None:
        """The batch is stored: its changes are what the memory holds now."""
        for aggregate_id, state in self.pending.items():
            self.memory.put(aggregate_id, state)
