"""Read-model snapshots (``service.read.snapshots``) on a real SQLite file and a real PostgreSQL database: a start
from a snapshot folds only the tail and ends where a full fold ends; a snapshot that is corrupt, of another store,
of another format or of the other encryption is refused with one log line, and the start folds the whole log."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest
from eventsourcing.cipher import AESCipher

from service.container import Container, build_container
from service.read import snapshots as snapshots_module
from service.read.read_model import ReadModel
from service.read.snapshots import FORMAT, MAGIC, store_for
from service.settings import Settings
from service.write.commands import Actor, NewEndpoint, PatchEndpoint, UpdateProvider
from tests.clients import api_client
from tests.nats_support import wait_until
from tests.seed import TWILIO

ACTOR = Actor("snapshot-test")


def _write(container: Container, first: int, count: int) -> None:
    app = container.app
    for n in range(first, first + count):
        endpoint_id, _ = app.create_endpoint(
            NewEndpoint(phone_number=f"+1555123{n:04d}", provider="twilio", label=f"line {n}"), ACTOR
        )
        if n % 3 == 0:
            app.update_endpoint(PatchEndpoint(endpoint_id, {"inbound_agent_name": f"agent-{n}"}), ACTOR)
        if n % 5 == 0:
            app.delete_endpoint(endpoint_id, ACTOR)


def _state(read_model: ReadModel) -> tuple:
    with read_model.reading() as view:
        return (list(view.endpoints.by_id.values()), dict(view.endpoints.by_phone_number), view.provider, view.position)


def _full_fold(container: Container) -> tuple:
    fresh = ReadModel(container.app)
    fresh.catch_up()
    return _state(fresh)


def _closed_without_snapshot(container: Container) -> None:
    container.snapshots = None
    container.close()


def test_a_start_from_the_snapshot_folds_only_the_tail_and_ends_where_a_full_fold_ends(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    first = build_container(settings)
    first.app.update_provider(UpdateProvider({**TWILIO}), ACTOR)
    _write(first, 0, 30)
    snapshot_position = first.read_model.position
    first.close()  # writes the snapshot

    second = build_container(settings)
    assert second.snapshots is not None
    assert second.snapshots.saved_position == snapshot_position
    _write(second, 30, 20)  # the tail
    second.app.update_provider(UpdateProvider({"twilio_max_concurrent": 7}), ACTOR)
    _closed_without_snapshot(second)

    with caplog.at_level(logging.INFO, logger="telephony_settings.snapshots"):
        third = build_container(settings)
    try:
        assert f"read model starts from its snapshot at position {snapshot_position}" in caplog.text
        assert third.read_model.position > snapshot_position
        assert _state(third.read_model) == _full_fold(third)
        with third.read_model.reading() as view:
            assert view.provider.config.twilio_max_concurrent == 7
            assert len(view.endpoints.by_id) == 50 - 10  # every fifth deleted
    finally:
        third.close()


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda blob: blob[:-3] + b"abc", "checksum does not match"),
        (lambda blob: MAGIC + bytes([FORMAT + 1]) + blob[len(MAGIC) + 1 :], f"format is not version {FORMAT}"),
        (lambda blob: b"nonsense", "not a read-model snapshot"),
    ],
    ids=["corrupt", "newer-format", "not-a-snapshot"],
)
def test_a_spoilt_snapshot_is_refused_with_its_reason_and_the_whole_log_is_folded(
    settings: Settings, caplog: pytest.LogCaptureFixture, spoil, reason: str
) -> None:
    first = build_container(settings)
    _write(first, 0, 12)
    first.close()
    reopened = build_container(settings)
    store = store_for(reopened.app, settings.effective_database_url)
    blob = store.load()
    assert blob is not None
    store.save(spoil(blob))
    _closed_without_snapshot(reopened)

    with caplog.at_level(logging.INFO, logger="telephony_settings.snapshots"):
        third = build_container(settings)
    try:
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert reason in warnings[0]
        assert "folding the whole log" in warnings[0]
        assert _state(third.read_model) == _full_fold(third)
    finally:
        third.close()


def test_a_snapshot_of_another_store_is_refused(settings: Settings, tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    other_settings = replace(settings, data_dir=tmp_path / "other", database_url=None)
    other = build_container(other_settings)
    _write(other, 0, 8)
    other.close()
    foreign = store_for(other.app, other_settings.effective_database_url).load()
    assert foreign is not None

    mine = build_container(settings)
    _write(mine, 100, 8)
    store_for(mine.app, settings.effective_database_url).save(foreign)
    _closed_without_snapshot(mine)

    with caplog.at_level(logging.INFO, logger="telephony_settings.snapshots"):
        again = build_container(settings)
    try:
        assert "this store does not hold its event" in caplog.text
        assert _state(again.read_model) == _full_fold(again)
        with again.read_model.reading() as view:
            assert sorted(e.phone_number for e in view.endpoints.by_id.values())[0].startswith("+15551230")
    finally:
        again.close()


def test_an_encrypted_stores_snapshot_is_encrypted_and_used(settings: Settings) -> None:
    encrypted = replace(settings, cipher_key=AESCipher.create_key(32))
    first = build_container(encrypted)
    _write(first, 0, 6)
    first.close()
    reopened = build_container(encrypted)
    try:
        blob = store_for(reopened.app, encrypted.effective_database_url).load()
        assert blob is not None
        assert b"+1555123" not in blob  # no number in clear
        assert reopened.snapshots is not None
        assert reopened.snapshots.saved_position == reopened.read_model.position  # it was used
    finally:
        reopened.close()


def test_the_running_service_writes_a_snapshot_in_the_background_once_enough_was_folded(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with api_client(replace(settings, poll_interval=0.05, snapshot_every=10)) as client:
        for n in range(8):  # 16 events: a creation and its number's claim each
            assert (
                client.post(
                    "/api/settings/endpoints", json={"phone_number": f"+1555123{n:04d}", "provider": "twilio"}
                ).status_code
                == 201
            )
        container = client.app.state["container"]
        wait_until(lambda: container.snapshots.saved_position >= 10, what="a snapshot written in the background")
        blob = store_for(container.app, settings.effective_database_url).load()
        assert blob is not None


def test_with_snapshot_every_0_the_snapshot_is_written_only_at_shutdown(settings: Settings) -> None:
    with api_client(replace(settings, poll_interval=0.05, snapshot_every=0)) as client:
        for n in range(8):
            client.post("/api/settings/endpoints", json={"phone_number": f"+1555124{n:04d}", "provider": "twilio"})
        container = client.app.state["container"]
        wait_until(lambda: container.store_head >= 16, what="the follower's ticks")
        assert container.snapshots.saved_position == 0
        assert store_for(container.app, settings.effective_database_url).load() is None
    reopened = build_container(settings)
    try:
        assert reopened.snapshots is not None
        assert reopened.snapshots.saved_position == reopened.read_model.position == 16  # written at the shutdown
    finally:
        reopened.close()


def test_readers_start_from_the_snapshot_in_hand_without_reading_the_stored_one_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.http.stream import _reader_from
    from service.publish.feed import SharedChanges
    from service.write.log import PUBLIC_TOPICS

    first = build_container(settings)
    _write(first, 0, 30)
    first.close()  # writes the snapshot
    reopened = build_container(settings)
    try:
        _write(reopened, 30, 6)
        loads: list[int] = []
        original = snapshots_module.Snapshots._stored
        monkeypatch.setattr(
            snapshots_module.Snapshots,
            "_stored",
            lambda self: loads.append(1) or original(self),  # type: ignore[func-returns-value]
        )
        assert reopened.snapshots is not None
        held = reopened.snapshots.saved_position
        view = reopened.snapshots.newest_view()  # the relay's start
        assert view is not None
        assert view.position == held
        now = reopened.read_model.copy()  # the live streams' shared reader starts from a copy of the read model
        assert now.position == reopened.read_model.position
        assert (list(now.endpoints.by_id.values()), now.provider) == _state(reopened.read_model)[::2]
        from_held = reopened.snapshots.view_at_most(held + 3)  # a resumption after the snapshot: from it
        assert from_held is not None
        assert from_held.position == held
        assert reopened.snapshots.view_at_most(held - 1) is None  # before it: none (the stored one is the same)
        assert loads == []  # neither read nor decoded the stored snapshot again

        shared = SharedChanges(reopened.app, reopened.read_model.copy())
        public = reopened.app.recorder.select_notifications(start=1, limit=10**6, topics=PUBLIC_TOPICS)
        last_public = public[-1].id
        assert last_public < shared.floor  # a creation's number claim follows it: the read model is one further
        # A client back with the last event it got: nothing public before the shared reader's floor, so no reader of
        # its own (no fold), it takes the shared changes from the floor on.
        assert _reader_from(reopened, shared, last_public) == (None, shared.floor)
        own, position = _reader_from(reopened, shared, held + 3)  # further back: a reader of its own, from the snapshot
        assert own is not None
        assert (own.position, position) == (held + 3, held + 3)
        assert loads == []
        now.endpoints.by_id.clear()  # the copy is its own
        assert reopened.read_model.copy().endpoints.by_id
    finally:
        reopened.close()


def test_after_a_restart_the_relay_starts_from_the_snapshot_and_publishes_the_full_state(
    settings: Settings, nats_server, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.integration.test_nats_relay import TWILIO as TWILIO_WITH_URL
    from tests.integration.test_nats_relay import published, running

    with running(settings, nats_server) as client:
        assert client.put("/api/settings/telephony", json=TWILIO_WITH_URL).status_code == 200
        created = client.post(
            "/api/settings/endpoints", json={"phone_number": "+15551230001", "provider": "twilio", "label": "before"}
        ).json()
        published(nats_server, 2)
    calls: list[int] = []
    original = snapshots_module.Snapshots.newest_view

    def spy(self):  # type: ignore[no-untyped-def]
        view = original(self)
        calls.append(view.position if view is not None else -1)
        return view

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(snapshots_module.Snapshots, "newest_view", spy)
        with running(settings, nats_server) as client:
            client.put(f"/api/settings/endpoints/{created['id']}", json={"inbound_agent_name": "after"})
            messages = published(nats_server, 3)
    assert calls
    assert calls[0] > 0  # the relay started from the snapshot, not from an empty view
    last = json.loads(messages[-1].data)
    assert last["endpoint"]["label"] == "before"  # state folded before the restart, carried by the snapshot
    assert last["endpoint"]["inbound_agent_name"] == "after"
    assert last["endpoint"]["inbound_webhook_url"] == "https://voice.example.com/telephony/twilio/inbound/after"


def test_rebuild_verify_snapshot_says_whether_the_snapshot_matches_a_full_fold(settings: Settings, tmp_path) -> None:
    import subprocess
    import sys

    first = build_container(settings)
    _write(first, 0, 10)
    first.close()
    env = {"TELEPHONY_DATA_DIR": str(settings.data_dir), "TELEPHONY_PROGRESS": "off", "PATH": "/usr/bin:/bin"}
    if settings.database_url:
        env["TELEPHONY_DATABASE_URL"] = settings.database_url
    command = [sys.executable, "-m", "service.cli", "rebuild", "--verify-snapshot"]

    good = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert good.returncode == 0, good.stderr
    assert "matches a full fold" in good.stdout

    reopened = build_container(settings)
    store = store_for(reopened.app, settings.effective_database_url)
    blob = store.load()
    assert blob is not None
    snapshot = snapshots_module.decode(reopened.app, blob)
    snapshot.endpoints.pop()  # a snapshot that lost an endpoint (and is otherwise valid: re-encoded)
    store.save(snapshots_module.encode(reopened.app, snapshot))
    _closed_without_snapshot(reopened)

    bad = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 1
    assert "is missing from the snapshot" in bad.stderr
