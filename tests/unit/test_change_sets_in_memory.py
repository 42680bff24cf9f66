"""Change sets in the writer, on eventsourcing's in-memory store: all or nothing inside group commit, against a
rival writer (another process), a failing store, and shutdown. The HTTP side is in
``tests/integration/test_change_sets_api.py``."""

from __future__ import annotations

import threading
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import OperationalError

from service.write.change_sets import created_id
from service.write.commands import ChangeSet, EndpointChange, PatchEndpoint
from service.write.conditions import SettingsChangedError
from service.write.errors import InvalidSettingsError
from tests.unit.test_application_in_memory import (
    ALICE,
    NO_CONDITIONS,
    Interfering,
    keyed,
    line,
    outcome,
    queued_behind_a_held_save,
    stored,
)


@pytest.fixture
def app() -> Any:
    application = Interfering()
    yield application
    application.close()


def creates(*numbers: int) -> tuple[EndpointChange, ...]:
    return tuple(EndpointChange("create", new=line(n)) for n in numbers)


def change_set(*items: EndpointChange, since: int | None = None, dry_run: bool = False, **kwargs: Any) -> ChangeSet:
    return ChangeSet(uuid4(), endpoints=items, since=since, dry_run=dry_run, **kwargs)


def head(app: Interfering) -> int:
    return app.recorder.max_notification_id() or 0


def test_every_item_is_stored_in_one_save_with_the_change_sets_id(app: Interfering) -> None:
    command = change_set(*creates(1, 2, 3))
    receipt = app.handle(command, ALICE)

    assert receipt.answer is not None
    assert [item[3] for item in receipt.answer["endpoints"]] == ["created"] * 3
    assert app.writer.batch_sizes == [6]  # three creations and their three claims, in one transaction
    public = [event for event in stored(app) if hasattr(event, "change_set")]
    assert {event.change_set for event in public} == {command.id}
    assert [event.phone_number for event in public] == ["+15551230001", "+15551230002", "+15551230003"]


def test_a_number_claimed_earlier_in_the_same_batch_fails_the_change_set_alone(app: Interfering) -> None:
    first, futures = queued_behind_a_held_save(
        app,
        [
            (line(2), NO_CONDITIONS),
            (change_set(*creates(5, 2, 6)), NO_CONDITIONS),  # +15551230002 is claimed by the command before it
            (line(7), NO_CONDITIONS),
        ],
    )
    first.result(10)
    single, failed, after = futures[0].result(10), futures[1], futures[2].result(10)

    with pytest.raises(InvalidSettingsError) as refused:
        failed.result(10)
    assert [error.field for error in refused.value.errors] == ["endpoints[1].phone_number"]
    assert (single.outcome, after.outcome) == ("created", "created")
    numbers = sorted(e.phone_number for e in stored(app) if type(e).__name__ == "EndpointCreated")
    assert numbers == ["+15551230002", "+15551230007", "+15551239999"]  # nothing of the change set


def test_if_match_is_checked_after_the_commands_before_it_in_the_batch_are_stored(app: Interfering) -> None:
    existing = app.handle_create_endpoint(line(1), ALICE).resource_id
    version = head(app)
    # Hold the writer in the save of a command that stores no setting (only its key's record), so that a creation
    # and a change set planned on ``version`` queue up behind it and go as one batch.
    gate = threading.Event()
    app.writer.gate = gate
    held = app.submit(PatchEndpoint(existing, {}), ALICE, keyed("held", {}))
    while app.writer.gate is not None:
        threading.Event().wait(0.001)
    creation = app.submit(line(2), ALICE)
    planned = app.submit(change_set(*creates(3), since=version), ALICE)
    gate.set()

    assert held.result(10).outcome == "unchanged"
    assert creation.result(10).outcome == "created"
    assert outcome(planned) is SettingsChangedError  # the creation before it in the batch changed the settings
    assert "+15551230003" not in [getattr(e, "phone_number", None) for e in stored(app)]


def test_if_match_holds_when_only_bookkeeping_was_stored_since(app: Interfering) -> None:
    existing = app.handle_create_endpoint(line(1), ALICE).resource_id
    version = head(app)
    app.handle(PatchEndpoint(existing, {}), ALICE, keyed("no-op", {}))  # only a key's record

    receipt = app.handle(change_set(*creates(3), since=version), ALICE)
    assert receipt.position is not None
    with pytest.raises(SettingsChangedError):
        app.handle(change_set(*creates(4), since=version), ALICE)  # the change set above changed the settings


def test_a_rival_that_changes_an_item_before_the_save_makes_it_decided_again_on_the_new_state(
    app: Interfering,
) -> None:
    endpoint = app.handle_create_endpoint(line(1), ALICE).resource_id
    app.rival_does(PatchEndpoint(endpoint, {"label": "seen by the rival"}))
    app.before_each_save(lambda: app.rival_does(PatchEndpoint(endpoint, {"inbound_agent_name": "theirs"})))
    receipt = app.handle(change_set(EndpointChange("update", endpoint_id=endpoint, changes={"label": "ours"})), ALICE)

    assert receipt.answer is not None
    assert receipt.answer["endpoints"][0][3] == "updated"
    loaded = app.load_endpoint(endpoint)
    assert (loaded.label, loaded.inbound_agent_name, loaded.version) == ("ours", "theirs", 4)


def test_a_number_a_rival_took_is_refused_from_the_store_though_the_writer_never_saw_it(app: Interfering) -> None:
    app.rival_does(line(2))
    before = head(app)
    with pytest.raises(InvalidSettingsError) as refused:
        app.handle(change_set(*creates(1, 2)), ALICE)
    assert [error.field for error in refused.value.errors] == ["endpoints[1].phone_number"]
    assert head(app) == before


def test_a_store_failure_stores_none_of_the_change_set_and_a_retry_succeeds(app: Interfering) -> None:
    def database_down() -> None:
        raise OperationalError("connection lost")

    app.before_each_save(database_down)
    command = change_set(*creates(1, 2))
    with pytest.raises(OperationalError):
        app.handle(command, ALICE)
    assert stored(app) == []

    receipt = app.handle(command, ALICE)  # the memory kept none of the failed claims
    assert receipt.answer is not None
    assert [item[3] for item in receipt.answer["endpoints"]] == ["created", "created"]


def test_a_dry_run_in_a_batch_stores_nothing_and_answers_what_it_would_do(app: Interfering) -> None:
    existing = app.handle_create_endpoint(line(1), ALICE).resource_id
    dry_command = change_set(EndpointChange("delete", phone_number="+15551230001"), *creates(2), dry_run=True)
    first, futures = queued_behind_a_held_save(
        app,
        [
            (dry_command, NO_CONDITIONS),
            (line(3), NO_CONDITIONS),
        ],
    )
    first.result(10)
    dry = futures[0].result(10)

    assert dry.position is None
    assert dry.answer is not None
    assert [(item[1], item[3]) for item in dry.answer["endpoints"]] == [
        (str(existing), "deleted"),
        (str(created_id(dry_command.id, 1)), "created"),
    ]
    assert app.load_endpoint(existing) is not None
    assert "+15551230002" not in [getattr(e, "phone_number", None) for e in stored(app)]


def test_closing_answers_a_queued_change_set(app: Interfering) -> None:
    first, futures = queued_behind_a_held_save(app, [(change_set(*creates(1, 2)), NO_CONDITIONS)])
    app.writer.close()
    first.result(10)
    receipt = futures[0].result(10)
    assert receipt.position is not None
    assert len([e for e in stored(app) if type(e).__name__ == "EndpointCreated"]) == 3


def test_a_created_endpoints_id_is_fixed_by_the_change_set_so_deciding_again_keeps_it(app: Interfering) -> None:
    endpoint = app.handle_create_endpoint(line(1), ALICE).resource_id
    app.rival_does(PatchEndpoint(endpoint, {"label": "seen by the rival"}))
    app.before_each_save(lambda: app.rival_does(PatchEndpoint(endpoint, {"label": "theirs"})))  # refuses our save
    command = change_set(
        EndpointChange("create", new=line(2)),
        EndpointChange("update", endpoint_id=endpoint, changes={"is_active": False}),
    )
    receipt = app.handle(command, ALICE)

    created = [e.originator_id for e in stored(app) if getattr(e, "phone_number", None) == "+15551230002"]
    assert created[:1] == [created_id(command.id, 0)]
    assert receipt.answer is not None
    assert receipt.answer["endpoints"][0][1] == str(created_id(command.id, 0))
    assert app.load_endpoint(endpoint).label == "theirs"
