"""Read-model snapshots: a start that folds only the tail of the log, whatever the length of the history.

The read model is the fold of the whole log. Folding it at every start costs time in proportion to the history (an
event store only grows): a snapshot of the view, written in the background and at shutdown, lets the next start load
it and fold only the events after it.

A snapshot is never trusted blindly. It is a compact msgspec (MessagePack) record of the view (the endpoints in
creation order, the provider settings) and of the store position it reflects, stored as::

    MAGIC ‖ format version (1 byte) ‖ SHA-256 of the record (32 bytes) ‖ record

and, when the store is encrypted (``TELEPHONY_CIPHER_KEY``), encrypted as a whole with the store's own cipher (a
snapshot holds the same numbers, labels and secrets as the events). It is used only if its format is this one, its
checksum holds, and the store still holds, at its position, the very event it was taken after (same aggregate and
version): a snapshot of another store, of a store since restored from a backup, or of an older format is refused,
with one log line saying why, and the start folds the whole log as before.

Where: next to the SQLite store (``<database>.snapshot``), or in a table of the PostgreSQL database
(``telephonysettings_snapshots``), so that every replica can start from the one the others write.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import msgspec

from projections import SettingsView
from projections.endpoints import Endpoint
from projections.provider import ProviderView
from service.read.read_model import ReadModel, fold_until

log = logging.getLogger("telephony_settings.snapshots")

MAGIC = b"TSRM"
ENCRYPTED = b"TSRX"
FORMAT = 1
EVERY = 50_000
"""Events folded since the last snapshot after which the service writes a new one (in the background)."""
TABLE = "telephonysettings_snapshots"
NAME = "read-model"


class Snapshot(msgspec.Struct, array_like=True):
    position: int
    event_at: str
    """``<aggregate id>:<version>`` of the stored event at ``position``: proves the snapshot belongs to this store."""
    endpoints: list[Endpoint]
    provider: ProviderView


class SnapshotRejected(Exception):
    """The snapshot cannot be used; the message says why (for the one log line)."""


class SnapshotStore(Protocol):
    def load(self) -> bytes | None: ...
    def save(self, blob: bytes) -> None: ...


class FileSnapshots:
    """A file next to the SQLite store, replaced atomically (a crash leaves the old snapshot or the new one)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def save(self, blob: bytes) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(blob)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)


class PostgresSnapshots:
    """A row of a table in the store's database: every replica reads the newest one."""

    def __init__(self, datastore: Any) -> None:
        from psycopg.sql import SQL, Identifier

        self._datastore = datastore
        table = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(TABLE))
        self._create = SQL("CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, data bytea NOT NULL)").format(table)
        self._select = SQL("SELECT data FROM {} WHERE name = %s").format(table)
        self._upsert = SQL(
            "INSERT INTO {} (name, data) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data"
        ).format(table)

    def load(self) -> bytes | None:
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(self._create)
            cursor.execute(self._select, [NAME])
            row = cursor.fetchone()
        return bytes(row["data"]) if row else None

    def save(self, blob: bytes) -> None:
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(self._create)
            cursor.execute(self._upsert, [NAME, blob])


def store_for(app: Any, database_url: str) -> SnapshotStore:
    if database_url.startswith("postgres"):
        return PostgresSnapshots(app.recorder.datastore)
    return FileSnapshots(Path(database_url[len("sqlite:///") :] + ".snapshot"))


# -- taking and reading --------------------------------------------------------------------------------------------


def _event_at(app: Any, position: int) -> str | None:
    found = app.recorder.select_notifications(start=position, limit=1)
    if not found or found[0].id != position:
        return None
    return f"{found[0].originator_id}:{found[0].originator_version}"


CHUNK = 4096
"""Endpoints encoded per call while a snapshot is written: the encoder holds the GIL for one call (about 2 ms for
4096 endpoints), not for the whole list (about 50 ms for 128k), so requests are not held up while it runs."""
_ENCODER = msgspec.msgpack.Encoder()


def _array_header(length: int) -> bytes:
    """MessagePack's array header, in the smallest form (as msgspec writes it)."""
    if length < 16:
        return bytes([0x90 | length])
    if length < 0x10000:
        return b"\xdc" + length.to_bytes(2, "big")
    return b"\xdd" + length.to_bytes(4, "big")


def _record(snapshot: Snapshot) -> bytes:
    """``msgspec.msgpack.encode(snapshot)``, byte for byte, written a chunk of endpoints at a time (``CHUNK``)."""
    endpoints = snapshot.endpoints
    out = bytearray(_array_header(4))  # array_like: [position, event_at, endpoints, provider]
    _ENCODER.encode_into(snapshot.position, out, len(out))
    _ENCODER.encode_into(snapshot.event_at, out, len(out))
    out += _array_header(len(endpoints))
    for start in range(0, len(endpoints), CHUNK):
        chunk = endpoints[start : start + CHUNK]
        at = len(out)
        _ENCODER.encode_into(chunk, out, at)
        del out[at : at + len(_array_header(len(chunk)))]  # the chunk's own header: its items join the one array
    _ENCODER.encode_into(snapshot.provider, out, len(out))
    return bytes(out)


def encode(app: Any, snapshot: Snapshot) -> bytes:
    """The stored form of ``snapshot``: framed, checksummed, and encrypted when the store is."""
    record = _record(snapshot)
    blob = MAGIC + bytes([FORMAT]) + hashlib.sha256(record).digest() + record
    cipher = getattr(app.mapper, "cipher", None)
    return ENCRYPTED + cipher.encrypt(blob) if cipher is not None else blob


def decode(app: Any, blob: bytes) -> Snapshot:
    """The snapshot in ``blob`` if it may be used with this store; else ``SnapshotRejected`` saying why."""
    cipher = getattr(app.mapper, "cipher", None)
    if blob[: len(ENCRYPTED)] == ENCRYPTED:
        if cipher is None:
            raise SnapshotRejected("it is encrypted and the store is not")
        try:
            blob = cipher.decrypt(blob[len(ENCRYPTED) :])
        except Exception:
            raise SnapshotRejected("it does not decrypt with this store's key") from None
    elif cipher is not None:
        raise SnapshotRejected("it is not encrypted and the store is")
    if blob[: len(MAGIC)] != MAGIC:
        raise SnapshotRejected("it is not a read-model snapshot")
    start = len(MAGIC) + 1 + 32
    if len(blob) < start or blob[len(MAGIC)] != FORMAT:
        raise SnapshotRejected(f"its format is not version {FORMAT}")
    record = blob[start:]
    if hashlib.sha256(record).digest() != blob[len(MAGIC) + 1 : start]:
        raise SnapshotRejected("its checksum does not match (corrupt)")
    try:
        snapshot = msgspec.msgpack.decode(record, type=Snapshot)
    except msgspec.DecodeError as exc:
        raise SnapshotRejected(f"it does not decode ({exc})") from None
    if _event_at(app, snapshot.position) != snapshot.event_at:
        raise SnapshotRejected(
            f"this store does not hold its event {snapshot.event_at} at position {snapshot.position} (another store, "
            "or one restored from an older backup)"
        )
    return snapshot


def view_of(snapshot: Snapshot) -> SettingsView:
    view = SettingsView(provider=snapshot.provider, position=snapshot.position)
    for endpoint in snapshot.endpoints:
        view.endpoints.by_id[endpoint.id] = endpoint
        view.endpoints.by_phone_number[endpoint.phone_number] = endpoint.id
    return view


class Snapshots:
    """The read model's snapshots for one store: restore at start, write when due and at shutdown, and give views
    from the snapshot to readers that must start at a position (the relay, the live stream's resumptions)."""

    def __init__(self, app: Any, store: SnapshotStore, every: int | None = None) -> None:
        self._app = app
        self._store = store
        self._every = EVERY if every is None else every
        self.saved_position = 0
        """The position of the snapshot last written or loaded (0: none)."""
        self._held: Snapshot | None = None
        """That snapshot, decoded: readers start from it without reading and decoding the stored one again."""

    def restore(self, read_model: ReadModel) -> bool:
        """Start ``read_model`` from the stored snapshot when it may be used (see the module docstring)."""
        try:
            blob = self._store.load()
        except Exception as exc:
            log.warning("read-model snapshot not read (%s): folding the whole log", type(exc).__name__)
            return False
        if blob is None:
            return False
        try:
            snapshot = decode(self._app, blob)
        except SnapshotRejected as exc:
            log.warning("read-model snapshot not used: %s; folding the whole log", exc)
            return False
        read_model.start_from(view_of(snapshot))
        self.saved_position = snapshot.position
        self._held = snapshot
        log.info("read model starts from its snapshot at position %d", snapshot.position)
        return True

    def newest_view(self) -> SettingsView | None:
        """A fresh view from the newest snapshot this process holds (restored or written), else from the stored one;
        ``None`` when there is none or it cannot be used."""
        snapshot = self._held or self._stored()
        return view_of(snapshot) if snapshot is not None else None

    def view_at_most(self, position: int) -> SettingsView | None:
        """A fresh view from a snapshot that reflects ``position`` or less (for a reader that must start at
        ``position``); ``None`` when there is none or it cannot be used."""
        snapshot = self._held if self._held is not None else self._stored()  # the stored one is rarely older
        if snapshot is None or snapshot.position > position:
            return None
        return view_of(snapshot)

    def _stored(self) -> Snapshot | None:
        try:
            blob = self._store.load()
            return decode(self._app, blob) if blob is not None else None
        except Exception:  # refused or unreadable: the caller folds from the start, as without snapshots
            return None

    def due(self, read_model: ReadModel) -> bool:
        """Whether a snapshot is to be written in the background now (``every`` 0: never; only at shutdown)."""
        return self._every > 0 and read_model.position - self.saved_position >= self._every

    def save(self, read_model: ReadModel) -> bool:
        """Write a snapshot of ``read_model`` as it is now (the copy is taken under its lock, the rest outside)."""
        started = time.perf_counter()
        with read_model.reading() as view:
            endpoints = list(view.endpoints.by_id.values())
            current = SettingsView(provider=view.provider, position=view.position)
        if current.position <= self.saved_position:
            return False
        event_at = _event_at(self._app, current.position)
        if event_at is None:
            return False
        snapshot = Snapshot(current.position, event_at, endpoints, current.provider)
        blob = encode(self._app, snapshot)
        self._store.save(blob)
        self.saved_position = current.position
        self._held = snapshot
        log.info(
            "read-model snapshot written at position %d (%d endpoints, %d bytes) in %.3f s",
            current.position,
            len(endpoints),
            len(blob),
            time.perf_counter() - started,
        )
        return True


def verify(
    app: Any, store: SnapshotStore, progress: Callable[[int], None] | None = None
) -> tuple[Snapshot | None, list[str]]:
    """Compare the stored snapshot with a full fold of the log up to its position (``rebuild --verify-snapshot``):
    ``(snapshot, differences)``, or ``(None, [why it cannot be used])``."""
    blob = store.load()
    if blob is None:
        return None, ["there is no snapshot"]
    try:
        snapshot = decode(app, blob)
    except SnapshotRejected as exc:
        return None, [f"the snapshot would not be used: {exc}"]
    folded = fold_until(app, snapshot.position, progress=progress)
    differences = []
    if folded.provider != snapshot.provider:
        differences.append("the provider settings differ")
    expected = list(folded.endpoints.by_id.values())
    found = {endpoint.id: endpoint for endpoint in snapshot.endpoints}
    for endpoint in expected:
        if endpoint.id not in found:
            differences.append(f"endpoint {endpoint.id} ({endpoint.phone_number}) is missing from the snapshot")
        elif found[endpoint.id] != endpoint:
            differences.append(f"endpoint {endpoint.id} ({endpoint.phone_number}) differs")
    known = {endpoint.id for endpoint in expected}
    differences.extend(f"endpoint {e.id} is in the snapshot only" for e in snapshot.endpoints if e.id not in known)
    if not differences and [e.id for e in expected] != [e.id for e in snapshot.endpoints]:
        differences.append("the endpoints are in another order (creation order)")
    return snapshot, differences
