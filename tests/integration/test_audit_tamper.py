"""Tamper evidence: rows edited, deleted, reordered or inserted directly in the SQLite file or the PostgreSQL table
make ``audit verify`` fail naming the event; an untouched store passes. On both storage backends."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from click.testing import CliRunner
from eventsourcing.cipher import AESCipher

from service.audit.checkpoints import Checkpoints
from service.audit.verify import Report, verify
from service.cli import main
from service.settings import Settings
from service.write.application import SettingsApplication
from tests.clients import api_client
from tests.integration.support import ENDPOINTS, TELEPHONY, endpoint_url
from tests.seed import TWILIO


@dataclass(frozen=True)
class Row:
    position: int
    aggregate_id: UUID
    version: int
    topic: str
    state: bytes

    @property
    def type(self) -> str:
        return self.topic.rpartition(":")[2]


class RawStore:
    """The events table, reached around the service as someone holding the database would."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.postgres = settings.database_url is not None

    @contextmanager
    def connection(self) -> Iterator[Any]:
        if self.postgres:
            import psycopg

            with psycopg.connect(self.settings.database_url, autocommit=True) as conn:
                yield conn
        else:
            conn = sqlite3.connect(Path(self.settings.data_dir) / "events.db")
            try:
                yield conn
                conn.commit()
            finally:
                conn.close()

    @property
    def _table(self) -> str:
        return "telephonysettings_events" if self.postgres else "stored_events"

    @property
    def _position(self) -> str:
        return "notification_id" if self.postgres else "rowid"

    def _ph(self) -> str:
        return "%s" if self.postgres else "?"

    def rows(self) -> list[Row]:
        with self.connection() as conn:
            found = conn.execute(
                f"SELECT {self._position}, originator_id, originator_version, topic, state FROM {self._table} "
                f"ORDER BY {self._position}"
            ).fetchall()
        return [Row(p, UUID(str(i)), v, t, bytes(s)) for p, i, v, t, s in found]

    def event(self, type_: str, version: int | None = None, nth: int = 0) -> Row:
        matching = [r for r in self.rows() if r.type == type_ and (version is None or r.version == version)]
        return matching[nth]

    def execute(self, statement: str, *params: Any) -> None:
        with self.connection() as conn:
            conn.execute(statement.replace("?", self._ph()), params)

    def set_state(self, row: Row, state: bytes) -> None:
        self.execute(f"UPDATE {self._table} SET state = ? WHERE {self._position} = ?", state, row.position)

    def delete(self, row: Row) -> None:
        self.execute(f"DELETE FROM {self._table} WHERE {self._position} = ?", row.position)

    def swap_positions(self, first: Row, second: Row) -> None:
        table, position = self._table, self._position
        self.execute(f"UPDATE {table} SET {position} = ? WHERE {position} = ?", -1, first.position)
        self.execute(f"UPDATE {table} SET {position} = ? WHERE {position} = ?", first.position, second.position)
        self.execute(f"UPDATE {table} SET {position} = ? WHERE {position} = ?", second.position, -1)

    def insert(self, aggregate_id: UUID, version: int, topic: str, state: bytes) -> None:
        stored_id: Any = aggregate_id if self.postgres else aggregate_id.hex
        self.execute(
            f"INSERT INTO {self._table} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
            stored_id,
            version,
            topic,
            state,
        )


def write_history(settings: Settings) -> None:
    """A provider change, two endpoints (one updated twice), a deletion; sealed by the service when it stops."""
    with api_client(settings) as client:
        client.put(TELEPHONY, json=TWILIO).raise_for_status()
        first = client.post(ENDPOINTS, json={"phone_number": "+15550000001", "provider": "twilio"}).json()["id"]
        second = client.post(ENDPOINTS, json={"phone_number": "+15550000002", "provider": "twilio"}).json()["id"]
        client.put(endpoint_url(first), json={"label": "second version"}).raise_for_status()
        client.put(endpoint_url(first), json={"label": "third version"}).raise_for_status()
        client.delete(endpoint_url(second)).raise_for_status()


def check(settings: Settings) -> Report:
    app = SettingsApplication(settings.store_env())
    try:
        return verify(app, Checkpoints(app))
    finally:
        app.close()


@pytest.fixture
def store(settings: Settings) -> RawStore:
    write_history(settings)
    return RawStore(settings)


def test_an_untouched_store_passes_and_every_event_is_sealed(store: RawStore) -> None:
    report = check(store.settings)
    assert report.ok, report.problem
    assert report.events == len(store.rows())
    assert report.checkpoints >= 1
    assert report.unsealed == 0
    assert report.legacy == 0


def test_an_edited_payload_is_named(store: RawStore) -> None:
    row = store.event("EndpointUpdated", version=2)
    assert b"second version" in row.state
    store.set_state(row, row.state.replace(b"second version", b"forged version"))

    problem = check(store.settings).problem
    assert problem is not None
    assert problem.where == f"position {row.position}: EndpointUpdated {row.aggregate_id} v2"
    assert "modified" in problem.what


def test_a_deleted_event_is_named_by_its_aggregate_and_version(store: RawStore) -> None:
    row = store.event("EndpointUpdated", version=2)
    store.delete(row)

    problem = check(store.settings).problem
    assert problem is not None
    assert str(row.aggregate_id) in str(problem)
    assert "v2" in str(problem)
    assert "deleted" in problem.what


def test_a_deleted_last_event_is_caught_by_the_checkpoint(store: RawStore) -> None:
    row = store.event("EndpointUpdated", version=3)  # the last event of its aggregate: no later link to break
    store.delete(row)

    problem = check(store.settings).problem
    assert problem is not None
    assert problem.where.startswith("checkpoint ")
    assert f"{row.aggregate_id} v3 was sealed here and is missing" in problem.what


def test_events_of_one_aggregate_swapped_are_named(store: RawStore) -> None:
    second, third = store.event("EndpointUpdated", version=2), store.event("EndpointUpdated", version=3)
    store.swap_positions(second, third)

    problem = check(store.settings).problem
    assert problem is not None
    assert problem.where == f"position {second.position}: EndpointUpdated {third.aggregate_id} v3"
    assert "v2 of this aggregate is missing here" in problem.what


def test_events_of_different_aggregates_swapped_are_caught_by_the_checkpoint(store: RawStore) -> None:
    provider, created = store.event("ProviderUpdated"), store.event("EndpointCreated")
    store.swap_positions(provider, created)  # each aggregate's own order is intact

    problem = check(store.settings).problem
    assert problem is not None
    assert problem.where.startswith("checkpoint 1 (positions 1-")
    assert "reordered" in problem.what


def test_an_inserted_event_is_named(store: RawStore) -> None:
    last = store.event("EndpointUpdated", version=3)
    store.insert(last.aggregate_id, 4, last.topic, last.state)  # a copy, presented as the next version
    inserted = store.rows()[-1]

    problem = check(store.settings).problem
    assert problem is not None
    assert problem.where == f"position {inserted.position}: EndpointUpdated {last.aggregate_id} v4"
    assert "forged" in problem.what


def test_an_altered_checkpoint_is_named(store: RawStore) -> None:
    checkpoints = "telephonysettings_checkpoints" if store.postgres else "stored_checkpoints"
    with store.connection() as conn:
        [(state,)] = conn.execute(f"SELECT state FROM {checkpoints} WHERE originator_version = 1").fetchall()
    store.execute(f"UPDATE {checkpoints} SET state = ? WHERE originator_version = 1", bytes(state).replace(b"1", b"2"))

    problem = check(store.settings).problem
    assert problem is not None
    assert problem.where == "checkpoint 1"


def test_the_command_exits_non_zero_naming_the_event_and_zero_on_an_untouched_store(store: RawStore) -> None:
    env = {"TELEPHONY_DATA_DIR": str(store.settings.data_dir), "TELEPHONY_DATABASE_URL": store.settings.database_url}
    runner = CliRunner()
    passed = runner.invoke(main, ["audit", "verify"], env=env)
    assert passed.exit_code == 0, passed.output
    assert "OK: " in passed.stdout
    digest = passed.stdout.split("head digest: ")[1].split()[0]
    assert runner.invoke(main, ["audit", "verify", "--anchor", digest], env=env).exit_code == 0
    assert runner.invoke(main, ["audit", "verify", "--anchor", "0" * 64], env=env).exit_code == 1
    assert runner.invoke(main, ["audit", "verify", "--anchor", digest.upper()], env=env).exit_code == 0

    row = store.event("EndpointCreated")
    store.set_state(row, row.state[:-1] + b" ")
    failed = runner.invoke(main, ["audit", "verify"], env=env)
    assert failed.exit_code == 1
    assert f"TAMPERED: position {row.position}: EndpointCreated {row.aggregate_id} v1" in failed.stderr


def test_with_encryption_the_chain_covers_the_ciphertext(settings: Settings) -> None:
    encrypted = replace(settings, cipher_key=AESCipher.create_key(32))
    write_history(encrypted)
    store = RawStore(encrypted)
    assert check(encrypted).ok

    row = store.event("EndpointUpdated", version=2)
    store.set_state(row, row.state[:-1] + bytes([row.state[-1] ^ 1]))  # one bit of the ciphertext
    problem = check(encrypted).problem
    assert problem is not None
    assert problem.where == f"position {row.position}: EndpointUpdated {row.aggregate_id} v2"


@pytest.mark.parametrize("anchor", ["deadbeef", "g" * 64, "0" * 63, ""])
def test_a_malformed_anchor_is_a_usage_error_not_tampering(store: RawStore, anchor: str) -> None:
    env = {"TELEPHONY_DATA_DIR": str(store.settings.data_dir), "TELEPHONY_DATABASE_URL": store.settings.database_url}

    result = CliRunner().invoke(main, ["audit", "verify", "--anchor", anchor], env=env)

    assert result.exit_code == 2, result.output
    assert "TAMPERED" not in result.output
    assert "64 hex digits" in result.stderr
