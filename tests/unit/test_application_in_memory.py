"""The write side's writer on eventsourcing's in-memory store (``write.store.MemoryStore``): every branch of
deciding, saving, retrying and answering idempotently, and group commit, fast enough to run with the unit tests.

The store is the library's real POPO recorder (with this service's chained event store and mapper). A competing
write comes from a rival ``Writer`` on the same store, with its own memory and thread, which is what another process
is; the only thing a test changes is *when* it writes, from inside a command of the application's own writer (just
before it saves, or just after it looked its Idempotency-Key up).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import OperationalError

from events import EndpointCreated, EndpointUpdated, IdempotencyKeyUsed, PhoneNumberClaimed
from service.settings import STORED_FORMAT
from service.write.application import SettingsApplication
from service.write.commands import Actor, DeleteEndpoint, NewEndpoint, PatchEndpoint, UpdateProvider
from service.write.conditions import (
    NO_CONDITIONS,
    Conditions,
    IdempotencyKeyReusedError,
    IdempotencyRequest,
    Precondition,
    PreconditionFailedError,
)
from service.write.errors import ConcurrentChangeError, DuplicatePhoneNumberError, EndpointNotFoundError
from service.write.writer import MAX_ATTEMPTS, Writer, WriterStoppedError

MEMORY = {"PERSISTENCE_MODULE": "service.write.store:MemoryStore", **STORED_FORMAT}
ALICE = Actor("alice", "req-1")
LINE = NewEndpoint(phone_number="+15551234567", provider="twilio", inbound_agent_name="support")
BODY = {"phone_number": "+15551234567", "provider": "twilio", "inbound_agent_name": "support"}


def keyed(key: str = "key-1", body: dict[str, Any] = BODY) -> Conditions:
    return Conditions(idempotency=IdempotencyRequest.of("alice", key, "POST", "/api/settings/endpoints", body))


def line(n: int) -> NewEndpoint:
    return NewEndpoint(phone_number=f"+1555123{n:04d}", provider="twilio")


class InterferingWriter(Writer):
    """The application's writer, with a rival's write run at a chosen moment of its commands, and a gate that holds
    it before it saves (so that commands queue up behind it)."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.before_save: tuple[Callable[[], None], int] | None = None
        self.after_key_lookup: Callable[[], None] | None = None
        self.gate: threading.Event | None = None
        self.batch_sizes: list[int] = []

    def _save(self, events: list[DomainEvent]) -> list[Any]:
        if self.gate is not None:
            gate, self.gate = self.gate, None
            gate.wait(10)
        if self.before_save is not None:
            write, times = self.before_save
            self.before_save = (write, times - 1) if times > 1 else None
            write()
        self.batch_sizes.append(len(events))
        return super()._save(events)

    def _decide_command(self, job: Any, states: Any) -> Any:
        if self.after_key_lookup is not None:
            write, self.after_key_lookup = self.after_key_lookup, None
            write()
        return super()._decide_command(job, states)


class Interfering(SettingsApplication):
    """The application with an ``InterferingWriter``, a rival writer, and a count of saves (both writers')."""

    writer_class = InterferingWriter

    def __init__(self) -> None:
        super().__init__(MEMORY)
        self.saves = 0
        self.rival = Writer(self)
        self.writer: InterferingWriter

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        self.saves += 1
        return super().save(*objs, **kwargs)

    def before_each_save(self, write: Callable[[], None], times: int = 1) -> None:
        self.writer.before_save = (write, times)

    def after_the_key_lookup(self, write: Callable[[], None]) -> None:
        self.writer.after_key_lookup = write

    def rival_does(self, command: Any, conditions: Conditions = NO_CONDITIONS) -> Any:
        return self.rival.submit(command, ALICE, conditions).result(10)

    def close(self) -> None:
        self.rival.close()
        super().close()


@pytest.fixture
def app() -> Any:
    application = Interfering()
    yield application
    application.close()


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
    app.before_each_save(lambda: app.rival_does(PatchEndpoint(endpoint_id, {"inbound_agent_name": "theirs"})))

    receipt = app.handle_update_endpoint(PatchEndpoint(endpoint_id, {"label": "ours"}), ALICE)

    updates = [e for e in stored(app) if isinstance(e, EndpointUpdated)]
    assert [(e.originator_version, e.changes) for e in updates] == [
        (2, {"inbound_agent_name": "theirs"}),
        (3, {"label": "ours"}),
    ]
    assert receipt.outcome == "updated"
    assert receipt.resource_version == 3
    assert app.saves == 4  # create, ours (refused), theirs, ours again (decided alone, from the store)


def test_a_retry_that_finds_its_change_already_made_stores_nothing(app: Interfering) -> None:
    endpoint_id = app.handle_create_endpoint(LINE, ALICE).resource_id
    app.before_each_save(lambda: app.rival_does(PatchEndpoint(endpoint_id, {"label": "same"})))

    receipt = app.handle_update_endpoint(PatchEndpoint(endpoint_id, {"label": "same"}), ALICE)

    assert receipt.outcome == "unchanged"
    assert receipt.position is None
    assert len([e for e in stored(app) if isinstance(e, EndpointUpdated)]) == 1


def test_a_command_that_keeps_losing_gives_up_with_a_conflict(app: Interfering) -> None:
    endpoint_id = app.handle_create_endpoint(LINE, ALICE).resource_id
    labels = iter(range(MAX_ATTEMPTS + 2))
    # In the batch, in the batch read again from the store, then MAX_ATTEMPTS times alone, a rival gets in first.
    app.before_each_save(
        lambda: app.rival_does(PatchEndpoint(endpoint_id, {"label": f"theirs-{next(labels)}"})), MAX_ATTEMPTS + 2
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
    app.after_the_key_lookup(lambda: twin.append(app.rival_does(LINE, keyed())))

    receipt = app.handle_create_endpoint(LINE, ALICE, keyed())

    assert receipt.replayed
    assert receipt.resource_id == twin[0].resource_id
    assert len([e for e in stored(app) if isinstance(e, EndpointCreated)]) == 1


def test_a_keyed_request_racing_its_twin_to_the_save_answers_with_the_twins_receipt(app: Interfering) -> None:
    twin: list[Any] = []
    # Both decided on a free number; the twin saves first: our save conflicts (the record's version 1 is taken),
    # and the retry finds the twin's record.
    app.before_each_save(lambda: twin.append(app.rival_does(LINE, keyed())))

    receipt = app.handle_create_endpoint(LINE, ALICE, keyed())

    assert receipt.replayed
    assert receipt.resource_id == twin[0].resource_id
    assert len([e for e in stored(app) if isinstance(e, EndpointCreated)]) == 1


# -- group commit -----------------------------------------------------------------------------------------------------


def queued_behind_a_held_save(app: Interfering, jobs: list[tuple[Any, Conditions]]) -> tuple[Any, list[Any]]:
    """Hold the writer in the save of a first command while ``jobs`` queue up behind it; return the first command's
    future and the jobs' futures (the jobs then go as one batch)."""
    gate = threading.Event()
    app.writer.gate = gate
    first = app.submit(line(9999), ALICE)
    while app.writer.gate is not None:  # until the writer is inside the held save
        threading.Event().wait(0.001)
    futures = [app.submit(command, ALICE, conditions) for command, conditions in jobs]
    gate.set()
    return first, futures


def outcome(future: Any) -> Any:
    try:
        return future.result(10)
    except Exception as exc:
        return type(exc)


def test_commands_queued_together_are_stored_in_one_transaction_and_each_failure_stays_its_own(
    app: Interfering,
) -> None:
    existing = app.handle_create_endpoint(line(1), ALICE).resource_id
    first, futures = queued_behind_a_held_save(
        app,
        [
            (line(2), NO_CONDITIONS),
            (line(2), NO_CONDITIONS),  # the number the command before it claims in the same batch: 409
            (PatchEndpoint(UUID(int=7), {"label": "x"}), NO_CONDITIONS),  # no such endpoint: 404
            (PatchEndpoint(existing, {"label": "renamed"}), NO_CONDITIONS),
            (line(3), keyed("batch-key", {"n": 3})),
            (line(3), keyed("batch-key", {"n": 3})),  # the same request again, in the same batch: its replay
            (UpdateProvider({"provider": "exotel"}), NO_CONDITIONS),  # lacks the exotel credentials: 422
            (DeleteEndpoint(existing), NO_CONDITIONS),  # after the rename in the same batch
        ],
    )
    first.result(10)
    results = [outcome(future) for future in futures]

    created, duplicate, missing, renamed, keyed_first, replayed, invalid, deleted = results
    assert (created.outcome, duplicate, missing, renamed.outcome) == (
        "created",
        DuplicatePhoneNumberError,
        EndpointNotFoundError,
        "updated",
    )
    assert invalid.__name__ == "InvalidSettingsError"
    assert keyed_first.outcome == "created"
    assert not keyed_first.replayed
    assert replayed.replayed
    assert replayed.resource_id == keyed_first.resource_id
    assert (deleted.outcome, deleted.resource_version) == ("deleted", 3)
    # One transaction for the successes: the held command's, then one for the whole batch
    # (2 + 1 + 3 + 2 events: the creation, the rename, the keyed creation with its record, the deletion).
    assert app.writer.batch_sizes[-2:] == [2, 8]
    positions = [p for r in (created, renamed, keyed_first, deleted) for p, _ in r.saved]
    assert positions == list(range(positions[0], positions[0] + 8))
    claims = [e.phone_number for e in stored(app) if isinstance(e, PhoneNumberClaimed)]
    assert sorted(claims) == sorted({"+15551230001", "+15551230002", "+15551230003", "+15551239999"})


def test_a_batch_that_another_process_wrote_into_is_decided_again_command_by_command(app: Interfering) -> None:
    endpoint_id = app.handle_create_endpoint(line(1), ALICE).resource_id
    app.rival_does(PatchEndpoint(endpoint_id, {"label": "seen by the rival"}))  # the rival's memory is current
    gate = threading.Event()
    app.writer.gate = gate
    first = app.submit(line(9999), ALICE)
    while app.writer.gate is not None:
        threading.Event().wait(0.001)
    # The rival renames the endpoint while our batch is being decided: our writer's memory has version 2.
    names = iter(("theirs-1", "theirs-2"))
    app.before_each_save(lambda: app.rival_does(PatchEndpoint(endpoint_id, {"inbound_agent_name": next(names)})), 2)
    futures = [
        app.submit(line(2), ALICE),
        app.submit(PatchEndpoint(endpoint_id, {"label": "ours"}), ALICE),
        app.submit(line(3), ALICE),
    ]
    gate.set()
    first.result(10)
    created2, ours, created3 = (future.result(10) for future in futures)

    updates = [(e.originator_version, e.changes) for e in stored(app) if isinstance(e, EndpointUpdated)]
    assert updates == [
        (2, {"label": "seen by the rival"}),
        (3, {"inbound_agent_name": "theirs-1"}),  # before the held save: our memory still has version 2
        (4, {"inbound_agent_name": "theirs-2"}),  # before the batch's save, which is refused, then decided again
        (5, {"label": "ours"}),
    ]
    assert ours.resource_version == 5
    assert (created2.outcome, created3.outcome) == ("created", "created")
    creations = [e.phone_number for e in stored(app) if isinstance(e, EndpointCreated)]
    assert len(creations) == len(set(creations)) == 4


def test_a_store_failure_fails_the_batch_alone_and_stores_none_of_it(app: Interfering) -> None:
    def database_down() -> None:
        raise OperationalError("connection lost")

    app.before_each_save(database_down)
    with pytest.raises(OperationalError):
        app.handle_create_endpoint(line(1), ALICE)

    assert stored(app) == []
    receipt = app.handle_create_endpoint(line(1), ALICE)  # the memory did not keep the failed claim
    assert receipt.outcome == "created"


def test_a_refusal_from_stale_memory_is_confirmed_against_the_store(app: Interfering) -> None:
    endpoint_id = app.handle_create_endpoint(LINE, ALICE).resource_id  # our memory: the number is claimed
    app.rival_does(DeleteEndpoint(endpoint_id))  # another process frees it

    receipt = app.handle_create_endpoint(LINE, ALICE)

    assert receipt.outcome == "created"


def test_an_unchanged_answer_from_stale_memory_is_confirmed_against_the_store(app: Interfering) -> None:
    endpoint_id = app.handle_create_endpoint(LINE, ALICE).resource_id
    app.handle_update_endpoint(PatchEndpoint(endpoint_id, {"label": "x"}), ALICE)  # our memory: label x
    app.rival_does(PatchEndpoint(endpoint_id, {"label": None}))  # another process clears it

    receipt = app.handle_update_endpoint(PatchEndpoint(endpoint_id, {"label": "x"}), ALICE)

    assert (receipt.outcome, receipt.resource_version) == ("updated", 4)
    assert app.load_endpoint(endpoint_id).label == "x"


def test_closing_answers_every_queued_command_then_refuses_new_ones(app: Interfering) -> None:
    first, futures = queued_behind_a_held_save(app, [(line(n), NO_CONDITIONS) for n in range(20)])
    closer = threading.Thread(target=app.writer.close)
    closer.start()
    closer.join(10)

    assert first.result(0).outcome == "created"
    assert [future.result(0).outcome for future in futures] == ["created"] * 20
    with pytest.raises(WriterStoppedError):
        app.submit(line(100), ALICE)
    assert len([e for e in stored(app) if isinstance(e, EndpointCreated)]) == 21


def test_closing_while_the_store_hangs_refuses_what_is_still_queued(app: Interfering) -> None:
    gate = threading.Event()
    app.writer.gate = gate
    held = app.submit(line(1), ALICE)
    while app.writer.gate is not None:
        threading.Event().wait(0.001)
    queued = [app.submit(line(n), ALICE) for n in range(2, 6)]

    app.writer.close(timeout=0.05)  # the held save does not finish in time
    gate.set()

    assert held.result(10).outcome == "created"  # it was being stored: it is answered as stored
    assert {outcome(future) for future in queued} == {WriterStoppedError}
    assert len([e for e in stored(app) if isinstance(e, EndpointCreated)]) == 1


def test_numbers_and_keys_this_writer_has_not_seen_are_taken_as_unused_and_the_store_corrects_it(
    app: Interfering,
) -> None:
    held = app.rival_does(line(5))  # claimed by another process: our writer's memory does not know it
    recorded = app.rival_does(line(6), keyed("their-key", {"n": 6}))
    first, futures = queued_behind_a_held_save(
        app,
        [
            (line(1), NO_CONDITIONS),
            (line(5), NO_CONDITIONS),
            (line(2), NO_CONDITIONS),
            (line(6), keyed("their-key", {"n": 6})),
        ],
    )
    first.result(10)
    created1, duplicate, created2, replay = (outcome(future) for future in futures)

    assert (created1.outcome, duplicate, created2.outcome) == ("created", DuplicatePhoneNumberError, "created")
    assert replay.replayed
    assert replay.resource_id == recorded.resource_id
    assert held.outcome == "created"
    # The batch taken as unused was refused once; read again from the store, it went in one transaction.
    assert app.writer.batch_sizes[-3:] == [2, 9, 4]  # held; all taken as unused (refused); read again
    claims = [e.phone_number for e in stored(app) if isinstance(e, PhoneNumberClaimed)]
    assert len(claims) == len(set(claims)) == 5
