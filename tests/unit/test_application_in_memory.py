"""The write side's command loop on eventsourcing's in-memory store (``write.store.MemoryStore``): every branch of
deciding, saving, retrying and answering idempotently, fast enough to run with the unit tests.

The store is the library's real POPO recorder (with this service's chained event store and mapper); the only thing a
test changes is *when* a competing write happens, by running it from inside a command (a subclass that writes just
before the command saves, or just after it looked its Idempotency-Key up), which is what a concurrent request does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import DomainEvent

from events import EndpointCreated, EndpointUpdated, IdempotencyKeyUsed
from service.settings import STORED_FORMAT
from service.write.application import MAX_ATTEMPTS, SettingsApplication
from service.write.commands import Actor, NewEndpoint, PatchEndpoint
from service.write.conditions import (
    Conditions,
    IdempotencyKeyReusedError,
    IdempotencyRequest,
    Precondition,
    PreconditionFailedError,
)
from service.write.errors import ConcurrentChangeError, DuplicatePhoneNumberError, EndpointNotFoundError

MEMORY = {"PERSISTENCE_MODULE": "service.write.store:MemoryStore", **STORED_FORMAT}
ALICE = Actor("alice", "req-1")
LINE = NewEndpoint(phone_number="+15551234567", provider="twilio", inbound_agent_name="support")
BODY = {"phone_number": "+15551234567", "provider": "twilio", "inbound_agent_name": "support"}


def keyed(key: str = "key-1", body: dict[str, Any] = BODY) -> Conditions:
    return Conditions(idempotency=IdempotencyRequest.of("alice", key, "POST", "/api/settings/endpoints", body))


class Interfering(SettingsApplication):
    """The application, with a competing write run at a chosen moment of a command (and not of the competing
    write itself)."""

    def __init__(self) -> None:
        super().__init__(MEMORY)
        self.saves = 0
        self._before_save: tuple[Callable[[], None], int] | None = None
        self._after_key_lookup: Callable[[], None] | None = None
        self._competing = False

    def before_each_save(self, write: Callable[[], None], times: int = 1) -> None:
        self._before_save = (write, times)

    def after_the_key_lookup(self, write: Callable[[], None]) -> None:
        self._after_key_lookup = write

    def _compete(self, write: Callable[[], None]) -> None:
        self._competing = True
        try:
            write()
        finally:
            self._competing = False

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        self.saves += 1
        if self._before_save is not None and not self._competing:
            write, times = self._before_save
            self._before_save = (write, times - 1) if times > 1 else None
            self._compete(write)
        return super().save(*objs, **kwargs)

    def idempotency_record(self, request: IdempotencyRequest) -> IdempotencyKeyUsed | None:
        record = super().idempotency_record(request)
        if self._after_key_lookup is not None and not self._competing:
            write, self._after_key_lookup = self._after_key_lookup, None
            self._compete(write)
        return record


@pytest.fixture
def app() -> Interfering:
    return Interfering()


def stored(app: SettingsApplication) -> list[DomainEvent]:
    return [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(start=None, limit=1000)]


def test_a_creation_stores_the_endpoint_and_its_number_claim_in_one_save(app: Interfering) -> None:
    receipt = app.handle_create_endpoint(LINE, ALICE)

    assert receipt.outcome == "created"
    assert receipt.position == 2
    assert [type(e).__name__ for e in stored(app)] == ["EndpointCreated", "PhoneNumberClaimed"]
    assert [position for position, _ in receipt.saved] == [1, 2]
    assert app.saves == 1


def test_a_second_endpoint_for_the_number_is_refused_and_stores_nothing(app: Interfering) -> None:
    app.handle_create_endpoint(LINE, ALICE)

    with pytest.raises(DuplicatePhoneNumberError):
        app.handle_create_endpoint(LINE, ALICE)

    assert len(stored(app)) == 2


def test_a_save_that_loses_a_race_decides_again_on_the_new_state(app: Interfering) -> None:
    endpoint_id = app.handle_create_endpoint(LINE, ALICE).resource_id
    # Just before our save, another request renames the inbound agent: our save conflicts, and the retry decides
    # against the endpoint as it now is (its version and its previous values).
    app.before_each_save(
        lambda: app.handle_update_endpoint(PatchEndpoint(endpoint_id, {"inbound_agent_name": "theirs"}), ALICE)
    )

    receipt = app.handle_update_endpoint(PatchEndpoint(endpoint_id, {"label": "ours"}), ALICE)

    updates = [e for e in stored(app) if isinstance(e, EndpointUpdated)]
    assert [(e.originator_version, e.changes) for e in updates] == [
        (2, {"inbound_agent_name": "theirs"}),
        (3, {"label": "ours"}),
    ]
    assert receipt.outcome == "updated"
    assert receipt.resource_version == 3
    assert app.saves == 4  # create, ours (lost), theirs, ours again


def test_a_retry_that_finds_its_change_already_made_stores_nothing(app: Interfering) -> None:
    endpoint_id = app.handle_create_endpoint(LINE, ALICE).resource_id
    app.before_each_save(lambda: app.handle_update_endpoint(PatchEndpoint(endpoint_id, {"label": "same"}), ALICE))

    receipt = app.handle_update_endpoint(PatchEndpoint(endpoint_id, {"label": "same"}), ALICE)

    assert receipt.outcome == "unchanged"
    assert receipt.position is None
    assert len([e for e in stored(app) if isinstance(e, EndpointUpdated)]) == 1


def test_a_command_that_keeps_losing_gives_up_with_a_conflict(app: Interfering) -> None:
    endpoint_id = app.handle_create_endpoint(LINE, ALICE).resource_id
    labels = iter(range(MAX_ATTEMPTS))
    app.before_each_save(
        lambda: app.handle_update_endpoint(PatchEndpoint(endpoint_id, {"label": f"theirs-{next(labels)}"}), ALICE),
        MAX_ATTEMPTS,
    )

    with pytest.raises(ConcurrentChangeError):
        app.handle_update_endpoint(PatchEndpoint(endpoint_id, {"label": "ours"}), ALICE)

    assert not any(isinstance(e, EndpointUpdated) and e.changes == {"label": "ours"} for e in stored(app))


def test_if_match_is_checked_against_the_stored_state_inside_the_loop(app: Interfering) -> None:
    endpoint_id = app.handle_create_endpoint(LINE, ALICE).resource_id
    current = (1, 0)  # the endpoint's version, and the provider settings' (never set)

    with pytest.raises(PreconditionFailedError) as stale:
        app.handle_update_endpoint(
            PatchEndpoint(endpoint_id, {"label": "x"}),
            ALICE,
            Conditions(if_match=Precondition(versions=frozenset({(9, 0)}))),
        )
    receipt = app.handle_update_endpoint(
        PatchEndpoint(endpoint_id, {"label": "x"}),
        ALICE,
        Conditions(if_match=Precondition(versions=frozenset({current}))),
    )

    assert stale.value.current == current
    assert receipt.outcome == "updated"
    with pytest.raises(EndpointNotFoundError):  # a precondition on a missing endpoint is a 404, not a 412
        app.handle_update_endpoint(
            PatchEndpoint(UUID(int=1), {"label": "x"}), ALICE, Conditions(if_match=Precondition(any_version=True))
        )


def test_a_first_keyed_request_is_recorded_with_its_change_and_a_retry_is_answered_from_the_record(
    app: Interfering,
) -> None:
    first = app.handle_create_endpoint(LINE, ALICE, keyed())

    again = app.handle_create_endpoint(LINE, ALICE, keyed())

    records = [e for e in stored(app) if isinstance(e, IdempotencyKeyUsed)]
    assert len(records) == 1
    assert records[0].outcome == "created"
    assert first.position == 3  # the endpoint, its claim and the record: one save
    assert (again.replayed, again.outcome, again.resource_id, again.position) == (
        True,
        "created",
        first.resource_id,
        None,
    )
    assert len([e for e in stored(app) if isinstance(e, EndpointCreated)]) == 1


def test_a_key_used_for_another_request_is_refused(app: Interfering) -> None:
    app.handle_create_endpoint(LINE, ALICE, keyed())

    with pytest.raises(IdempotencyKeyReusedError):
        app.handle_create_endpoint(LINE, ALICE, keyed(body={**BODY, "label": "other"}))


def test_a_refused_keyed_request_is_not_recorded_so_its_key_can_be_used_once_the_cause_is_fixed(
    app: Interfering,
) -> None:
    app.handle_create_endpoint(LINE, ALICE)  # the number is taken
    with pytest.raises(DuplicatePhoneNumberError):
        app.handle_create_endpoint(LINE, ALICE, keyed())

    assert not [e for e in stored(app) if isinstance(e, IdempotencyKeyUsed)]


def test_a_request_that_loses_to_its_own_twin_answers_with_the_twins_receipt(app: Interfering) -> None:
    twin: list[Any] = []
    # Our look-up of the key finds nothing; then the twin (same key, same body) commits; then our decision fails
    # on the number the twin just claimed: the answer is the twin's, not a 409.
    app.after_the_key_lookup(lambda: twin.append(app.handle_create_endpoint(LINE, ALICE, keyed())))

    receipt = app.handle_create_endpoint(LINE, ALICE, keyed())

    assert receipt.replayed
    assert receipt.resource_id == twin[0].resource_id
    assert len([e for e in stored(app) if isinstance(e, EndpointCreated)]) == 1


def test_a_keyed_request_racing_its_twin_to_the_save_answers_with_the_twins_receipt(app: Interfering) -> None:
    twin: list[Any] = []
    # Both decided on a free number; the twin saves first: our save conflicts (the record's version 1 is taken),
    # and the retry finds the twin's record.
    app.before_each_save(lambda: twin.append(app.handle_create_endpoint(LINE, ALICE, keyed())))

    receipt = app.handle_create_endpoint(LINE, ALICE, keyed())

    assert receipt.replayed
    assert receipt.resource_id == twin[0].resource_id
    assert len([e for e in stored(app) if isinstance(e, EndpointCreated)]) == 1
