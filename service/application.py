"""The write side: an eventsourcing Application whose commands load state, decide, and save with retries.

State for a decision is folded from the aggregate's own events in the store (never from the read model, which
may lag behind another replica). A save that loses an optimistic-concurrency race raises ``IntegrityError``;
the command then reloads and decides again, so a concurrent change is never overwritten blindly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import Environment

from events import SETTINGS_ID
from projections import Endpoint, ProviderView, evolve_endpoint
from projections import provider as provider_projection
from service import domain
from service.domain import Actor, NewEndpoint, PhoneNumberIndex
from service.errors import ConcurrentChangeError

S = TypeVar("S")
MAX_ATTEMPTS = 50


class SettingsApplication(Application[UUID]):
    """The telephony-settings event store and its commands. Safe to share between threads."""

    name = "TelephonySettings"  # fixes the PostgreSQL table names: do not change

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__(env=dict(env))
        # The provider aggregate gains an event per PUT for ever: keep its folded state and fast-forward it.
        self._provider_cache: ProviderView = provider_projection.INITIAL
        self._provider_lock = threading.Lock()
        self._commit_listeners: list[Callable[[int], None]] = []

    def on_commit(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(position)`` in the saving thread after every save (e.g. to wake the relay)."""
        self._commit_listeners.append(listener)

    def _notify(self, recordings: list[Any]) -> None:
        if recordings:
            position = recordings[-1].notification.id
            for listener in self._commit_listeners:
                listener(position)

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        # Only what the settings module passed in: the process environment must not reconfigure the store.
        return Environment(name, dict(env or {}))

    # -- commands ---------------------------------------------------------------------------------------------
    # Each returns the notification-log position of its last stored event (None when it changed nothing), so the
    # caller can wait for the read model to reach it; create_endpoint also returns the new id.

    def create_endpoint(self, command: NewEndpoint, actor: Actor) -> tuple[UUID, int]:
        endpoint_id = uuid4()
        index_id = domain.phone_number_index_id(command.phone_number)

        def attempt() -> list[DomainEvent]:
            index = self._fold(index_id, domain.evolve_index, PhoneNumberIndex())
            return domain.decide_create_endpoint(endpoint_id, index, command, actor)

        position = self._save_with_retries(attempt)
        assert position is not None
        return endpoint_id, position

    def update_endpoint(self, endpoint_id: UUID, patch: dict[str, Any], actor: Actor) -> int | None:
        def attempt() -> list[DomainEvent]:
            return domain.decide_update_endpoint(endpoint_id, self.load_endpoint(endpoint_id), patch, actor)

        return self._save_with_retries(attempt)

    def delete_endpoint(self, endpoint_id: UUID, actor: Actor) -> int:
        def attempt() -> list[DomainEvent]:
            endpoint = self.load_endpoint(endpoint_id)
            index = PhoneNumberIndex()
            if endpoint is not None:
                index_id = domain.phone_number_index_id(endpoint.phone_number)
                index = self._fold(index_id, domain.evolve_index, PhoneNumberIndex())
            return domain.decide_delete_endpoint(endpoint_id, endpoint, index, actor)

        position = self._save_with_retries(attempt)
        assert position is not None
        return position

    def update_provider(self, patch: dict[str, Any], actor: Actor) -> int | None:
        def attempt() -> list[DomainEvent]:
            return domain.decide_update_provider(self.load_provider(), patch, actor)

        return self._save_with_retries(attempt)

    # -- state ------------------------------------------------------------------------------------------------

    def load_endpoint(self, endpoint_id: UUID) -> Endpoint | None:
        return self._fold(endpoint_id, evolve_endpoint, None)

    def load_provider(self) -> ProviderView:
        with self._provider_lock:
            cached = self._provider_cache
        view = cached
        for event in self.events.get(SETTINGS_ID, gt=cached.version):
            view = provider_projection.evolve(view, event)
        if view.version > cached.version:
            with self._provider_lock:
                if view.version > self._provider_cache.version:
                    self._provider_cache = view
        return view

    def _fold(self, aggregate_id: UUID, evolve: Callable[[S, Any], S], initial: S) -> S:
        state = initial
        for event in self.events.get(aggregate_id):
            state = evolve(state, event)
        return state

    def _save_with_retries(self, attempt: Callable[[], Iterable[DomainEvent]]) -> int | None:
        for _ in range(MAX_ATTEMPTS):
            new_events = list(attempt())
            if not new_events:
                return None
            try:
                recordings = self.save(*new_events)
            except IntegrityError:
                continue  # someone else appended first: reload and decide again
            return recordings[-1].notification.id
        raise ConcurrentChangeError("too many concurrent changes to the same settings; try again")
