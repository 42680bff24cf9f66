"""The write side: an eventsourcing Application whose commands load state, decide, and save with retries.

State for a decision is folded from the aggregate's own events in the store (never from the read model, which
may lag behind another replica). A save that loses an optimistic-concurrency race raises ``IntegrityError``;
the command then reloads and decides again, so a concurrent change is never overwritten blindly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import Environment

from events import SETTINGS_ID, IdempotencyKeyUsed
from projections import Endpoint, ProviderView, evolve_endpoint
from projections import provider as provider_projection
from service.write import decisions as domain
from service.write.commands import Actor, NewEndpoint, PatchEndpoint, UpdateProvider
from service.write.conditions import (
    NO_CONDITIONS,
    Conditions,
    IdempotencyKeyReusedError,
    IdempotencyRequest,
    Receipt,
)
from service.write.decisions import PhoneNumberIndex
from service.write.errors import ConcurrentChangeError, SettingsError
from service.write.ids import AggregateIds

REPOSITORY = {"AGGREGATE_CACHE_MAXSIZE": "10000", "DEEPCOPY_FROM_AGGREGATE_CACHE": "n"}
"""The repository's cache of folded states: the states are immutable, so they are shared, not copied."""
MAX_ATTEMPTS = 50


class SettingsApplication(Application[UUID]):
    """The telephony-settings event store and its commands. Safe to share between threads."""

    name = "TelephonySettings"  # fixes the PostgreSQL table names: do not change

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__(env={**REPOSITORY, **env})
        # Ids derived from phone numbers and Idempotency-Keys: keyed when the store is encrypted (service.write.ids).
        self.ids = AggregateIds.for_cipher_key(env.get("CIPHER_KEY"))
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
    # ``handle_*`` check ``Conditions`` (If-Match, Idempotency-Key) inside the decide-and-save loop and return a
    # ``Receipt``; its ``position`` (of the last stored event, None when nothing was stored) lets the caller wait
    # for the read model to reach it. The plain methods below them are the same commands without conditions.

    def handle_create_endpoint(
        self, command: NewEndpoint, actor: Actor, conditions: Conditions = NO_CONDITIONS
    ) -> Receipt:
        endpoint_id = uuid4()

        def attempt() -> tuple[list[DomainEvent], Receipt]:
            index = self.load_index(command.phone_number)
            new_events = domain.decide_create_endpoint(endpoint_id, index, command, actor)
            return new_events, Receipt("created", endpoint_id, 1, self._provider_version(conditions))

        return self._execute(attempt, conditions, actor)

    def handle_update_endpoint(
        self, command: PatchEndpoint, actor: Actor, conditions: Conditions = NO_CONDITIONS
    ) -> Receipt:
        endpoint_id = command.endpoint_id

        def attempt() -> tuple[list[DomainEvent], Receipt]:
            endpoint = self._checked_endpoint(endpoint_id, conditions)
            new_events = domain.decide_update_endpoint(endpoint, command, actor)
            assert endpoint is not None
            version = new_events[-1].originator_version if new_events else endpoint.version
            outcome = "updated" if new_events else "unchanged"
            return new_events, Receipt(outcome, endpoint_id, version, self._provider_version(conditions))

        return self._execute(attempt, conditions, actor)

    def handle_delete_endpoint(
        self, endpoint_id: UUID, actor: Actor, conditions: Conditions = NO_CONDITIONS
    ) -> Receipt:
        def attempt() -> tuple[list[DomainEvent], Receipt]:
            endpoint = self._checked_endpoint(endpoint_id, conditions)
            index = self.load_index(endpoint.phone_number) if endpoint is not None else PhoneNumberIndex()
            new_events = domain.decide_delete_endpoint(endpoint_id, endpoint, index, actor)
            return new_events, Receipt("deleted", endpoint_id, new_events[0].originator_version, 0)

        return self._execute(attempt, conditions, actor)

    def handle_update_provider(
        self, command: UpdateProvider, actor: Actor, conditions: Conditions = NO_CONDITIONS
    ) -> Receipt:
        def attempt() -> tuple[list[DomainEvent], Receipt]:
            current = self.load_provider()
            conditions.check((current.version,), "telephony settings")
            new_events = domain.decide_update_provider(current, command, actor)
            version = new_events[-1].originator_version if new_events else current.version
            outcome = "updated" if new_events else "unchanged"
            return new_events, Receipt(outcome, SETTINGS_ID, version, version)

        return self._execute(attempt, conditions, actor)

    def create_endpoint(self, command: NewEndpoint, actor: Actor) -> tuple[UUID, int]:
        receipt = self.handle_create_endpoint(command, actor)
        assert receipt.position is not None
        return receipt.resource_id, receipt.position

    def update_endpoint(self, command: PatchEndpoint, actor: Actor) -> int | None:
        return self.handle_update_endpoint(command, actor).position

    def delete_endpoint(self, endpoint_id: UUID, actor: Actor) -> int:
        position = self.handle_delete_endpoint(endpoint_id, actor).position
        assert position is not None
        return position

    def update_provider(self, command: UpdateProvider, actor: Actor) -> int | None:
        return self.handle_update_provider(command, actor).position

    def _checked_endpoint(self, endpoint_id: UUID, conditions: Conditions) -> Endpoint | None:
        endpoint = self.load_endpoint(endpoint_id)
        if endpoint is not None and conditions.if_match is not None:
            conditions.check((endpoint.version, self.load_provider().version), "endpoint")
        return endpoint

    def _provider_version(self, conditions: Conditions) -> int:
        # Only an idempotent command needs it (to re-create its response later): spare the others the read.
        return self.load_provider().version if conditions.idempotency is not None else 0

    # -- state ------------------------------------------------------------------------------------------------
    # Folded by eventsourcing's repository with the ``projections`` folds as projector functions; its aggregate
    # cache keeps each state and fast-forwards it with the events stored since (one indexed read), which is what
    # the provider settings need most: they gain an event per PUT for ever.

    def load_endpoint(self, endpoint_id: UUID) -> Endpoint | None:
        return self._state(endpoint_id, _endpoint)

    def load_provider(self) -> ProviderView:
        return self._state(SETTINGS_ID, _provider)  # type: ignore[no-any-return]

    def load_index(self, e164: str) -> PhoneNumberIndex:
        index_id = self.ids.phone_number_index(e164)
        index: PhoneNumberIndex = self._state(index_id, _index)
        return index if index.id == index_id else replace(index, id=index_id)

    def endpoint_at(self, endpoint_id: UUID, version: int) -> Endpoint | None:
        """The endpoint as it was at ``version`` (folded from the store)."""
        return self._state(endpoint_id, _endpoint, version)

    def provider_at(self, version: int) -> ProviderView:
        """The provider settings as they were at ``version`` (folded from the store)."""
        current = self.load_provider()
        if current.version == version:
            return current
        return self._state(SETTINGS_ID, _provider, version)  # type: ignore[no-any-return]

    def _state(self, aggregate_id: UUID, project: Callable[[Any, Any], Any], version: int | None = None) -> Any:
        try:
            return self.repository.get(aggregate_id, version=version, projector_func=project, deepcopy_from_cache=False)
        except AggregateNotFoundError:
            return None

    def idempotency_record(self, request: IdempotencyRequest) -> IdempotencyKeyUsed | None:
        """The record of ``request``'s key, or None when the key is new; 422 if it was used for another request."""
        records = list(self.events.get(self.ids.idempotency(request.actor, request.key), limit=1))
        if not records:
            return None
        record = records[0]
        assert isinstance(record, IdempotencyKeyUsed)
        if record.fingerprint != request.fingerprint:
            raise IdempotencyKeyReusedError(
                "this Idempotency-Key was already used for a different request; use a new key for a new request"
            )
        return record

    def _execute(
        self, attempt: Callable[[], tuple[list[DomainEvent], Receipt]], conditions: Conditions, actor: Actor
    ) -> Receipt:
        """Decide and save, again and again while concurrent writers get in first (``IntegrityError``).

        With an Idempotency-Key, a key already recorded answers with its first receipt (nothing is decided or
        stored), and a new key is recorded in the same save as the command's events.
        """
        idempotency = conditions.idempotency
        for _ in range(MAX_ATTEMPTS):
            if idempotency is not None:
                record = self.idempotency_record(idempotency)
                if record is not None:
                    return Receipt.of_record(record)
            try:
                new_events, receipt = attempt()
            except SettingsError:
                # A concurrent request with the same key may have committed between our look-up and the decision
                # (then its change is why this one fails, e.g. 409 on its number): answer with its receipt.
                record = self.idempotency_record(idempotency) if idempotency is not None else None
                if record is not None:
                    return Receipt.of_record(record)
                raise
            if idempotency is not None:
                new_events = [*new_events, self._idempotency_event(idempotency, receipt, actor)]
            if not new_events:
                return receipt
            try:
                recordings = self.save(*new_events)
            except IntegrityError:
                continue  # someone else appended first (or recorded this key): reload and decide again
            saved = tuple((r.notification.id, r.domain_event) for r in recordings)
            return replace(receipt, position=saved[-1][0], saved=saved)
        raise ConcurrentChangeError("too many concurrent changes to the same settings; try again")

    def _idempotency_event(self, request: IdempotencyRequest, receipt: Receipt, actor: Actor) -> IdempotencyKeyUsed:
        return IdempotencyKeyUsed(
            originator_id=self.ids.idempotency(request.actor, request.key),
            originator_version=1,
            timestamp=DomainEvent.create_timestamp(),
            actor=actor.name,
            request_id=actor.request_id,
            fingerprint=request.fingerprint,
            outcome=receipt.outcome,
            resource_id=receipt.resource_id,
            resource_version=receipt.resource_version,
            provider_version=receipt.provider_version,
        )


def _projector(evolve: Callable[[Any, Any], Any], initial: Callable[[], Any]) -> Callable[[Any, Any], Any]:
    """A ``projections`` fold as the repository's projector function: ``(state or None, events) -> state``."""

    def project(state: Any, events: Any) -> Any:
        state = initial() if state is None else state
        for event in events:
            state = evolve(state, event)
        return state

    return project


_endpoint = _projector(evolve_endpoint, lambda: None)
"""``None`` before the creation and after the deletion: the repository then answers "not found"."""
_provider = _projector(provider_projection.evolve, lambda: provider_projection.INITIAL)
_index = _projector(domain.evolve_index, PhoneNumberIndex)
