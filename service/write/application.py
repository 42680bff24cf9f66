"""The write side: an eventsourcing Application whose commands go through one writer with group commit.

State for a decision is the writer's (``write.writer``, ``write.memory``), never the read model's, which may lag
behind another replica. The store's version constraint arbitrates: a save that loses an optimistic-concurrency race
raises ``IntegrityError`` and the command is decided again from the store, so a concurrent change is never
overwritten blindly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import OperationalError
from eventsourcing.utils import Environment

from events import SETTINGS_ID
from projections import Endpoint, ProviderView
from service.write.commands import Actor, DeleteEndpoint, NewEndpoint, PatchEndpoint, UpdateProvider
from service.write.conditions import (
    NO_CONDITIONS,
    Conditions,
    Receipt,
)
from service.write.ids import AggregateIds
from service.write.memory import load
from service.write.writer import Command, Writer

REPOSITORY = {"AGGREGATE_CACHE_MAXSIZE": "10000", "DEEPCOPY_FROM_AGGREGATE_CACHE": "n"}
"""The repository's cache of folded states: the states are immutable, so they are shared, not copied."""


class StoreUnavailableError(OperationalError):
    """The store could not be opened: the message says where (never the password) and libpq's reason."""


class SettingsApplication(Application[UUID]):
    """The telephony-settings event store and its commands. Safe to share between threads."""

    name = "TelephonySettings"  # fixes the PostgreSQL table names: do not change
    writer_class = Writer

    def __init__(self, env: Mapping[str, str]) -> None:
        try:
            super().__init__(env={**REPOSITORY, **env})
        except Exception as exc:  # the first connection (PostgreSQL: eventsourcing registers its types) or later
            factory = getattr(self, "factory", None)
            if factory is not None:
                factory.close()  # its pool's threads
            if not isinstance(exc, OperationalError) or "POSTGRES_HOST" not in env:
                raise
            from service.write.store import postgres_location, shown_reason, why_postgres_refuses

            reason = why_postgres_refuses(env) or shown_reason(str(exc), env.get("POSTGRES_PASSWORD") or "")
            raise StoreUnavailableError(f"PostgreSQL at {postgres_location(env)} is not reachable: {reason}") from None
        # Ids derived from phone numbers and Idempotency-Keys: keyed when the store is encrypted (service.write.ids).
        self.ids = AggregateIds.for_cipher_key(env.get("CIPHER_KEY"))
        self._saved_listeners: list[Callable[[Sequence[tuple[int, Any]]], None]] = []
        self.writer = self.writer_class(self, on_saved=self._tell_saved)

    def close(self) -> None:
        self.writer.close()  # answers every queued command before the store closes
        super().close()

    def on_saved(self, listener: Callable[[Sequence[tuple[int, Any]]], None]) -> None:
        """Call ``listener(saved)`` in the writer's thread after each transaction, before its commands are answered,
        with the (position, event) of everything it stored (e.g. to fold it into the read model, to wake the relay
        and the checkpointer). A listener must not block: the next batch waits for it."""
        self._saved_listeners.append(listener)

    def _tell_saved(self, saved: Sequence[tuple[int, Any]]) -> None:
        for listener in self._saved_listeners:
            listener(saved)

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        # Only what the settings module passed in: the process environment must not reconfigure the store.
        return Environment(name, dict(env or {}))

    # -- commands ---------------------------------------------------------------------------------------------
    # Every command goes to the writer (``write.writer``), which checks its ``Conditions`` (If-Match, Idempotency-Key)
    # as it decides and answers with a ``Receipt``; its ``position`` (of the last stored event, None when nothing was
    # stored) lets the caller wait for the read model to reach it. ``submit`` returns a future, ``execute`` awaits it
    # (request handlers), ``handle_*`` wait for it (the CLI, tests); the plain methods are the same without conditions.

    def submit(self, command: Command, actor: Actor, conditions: Conditions = NO_CONDITIONS) -> Future[Receipt]:
        return self.writer.submit(command, actor, conditions)

    async def execute(self, command: Command, actor: Actor, conditions: Conditions = NO_CONDITIONS) -> Receipt:
        return await asyncio.wrap_future(self.submit(command, actor, conditions))

    def handle(self, command: Command, actor: Actor, conditions: Conditions = NO_CONDITIONS) -> Receipt:
        return self.submit(command, actor, conditions).result()

    def handle_create_endpoint(
        self, command: NewEndpoint, actor: Actor, conditions: Conditions = NO_CONDITIONS
    ) -> Receipt:
        return self.handle(command, actor, conditions)

    def handle_update_endpoint(
        self, command: PatchEndpoint, actor: Actor, conditions: Conditions = NO_CONDITIONS
    ) -> Receipt:
        return self.handle(command, actor, conditions)

    def handle_delete_endpoint(
        self, endpoint_id: UUID, actor: Actor, conditions: Conditions = NO_CONDITIONS
    ) -> Receipt:
        return self.handle(DeleteEndpoint(endpoint_id), actor, conditions)

    def handle_update_provider(
        self, command: UpdateProvider, actor: Actor, conditions: Conditions = NO_CONDITIONS
    ) -> Receipt:
        return self.handle(command, actor, conditions)

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

    # -- state ---------------------------------------------------------------------------------------------------
    # Read from the store, folded by eventsourcing's repository with the ``projections`` folds as projector
    # functions (``write.memory.load``): for answers from the past (idempotent replays, point-in-time reads) and
    # for tests. The writer decides from its own memory.

    def load_endpoint(self, endpoint_id: UUID) -> Endpoint | None:
        return load(self, endpoint_id, "endpoint")  # type: ignore[no-any-return]

    def load_provider(self) -> ProviderView:
        return load(self, SETTINGS_ID, "provider")  # type: ignore[no-any-return]

    def endpoint_at(self, endpoint_id: UUID, version: int) -> Endpoint | None:
        """The endpoint as it was at ``version`` (folded from the store)."""
        return load(self, endpoint_id, "endpoint", version)  # type: ignore[no-any-return]

    def provider_at(self, version: int) -> ProviderView:
        """The provider settings as they were at ``version`` (folded from the store)."""
        current = self.load_provider()
        if current.version == version:
            return current
        return load(self, SETTINGS_ID, "provider", version)  # type: ignore[no-any-return]
