"""The composition root: builds the write side and the read model from ``Settings``. Tests reuse it with their own
settings (a temporary SQLite file, a PostgreSQL database of their own)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from service.audit.rekey import PublicIdsError, check_ids_keyed
from service.publish.nats_link import NatsLink
from service.publish.relay import Relay
from service.read.read_model import ReadModel
from service.read.snapshots import Snapshots, store_for
from service.settings import Settings
from service.write.application import SettingsApplication

log = logging.getLogger("telephony_settings")


@dataclass
class Container:
    settings: Settings
    app: SettingsApplication
    read_model: ReadModel
    nats: NatsLink | None = None
    relay: Relay | None = None
    store_head: int = 0
    """The store's newest position as last seen (by the read-model follower); for metrics and health."""
    snapshots: Snapshots | None = None

    def close(self) -> None:
        if self.snapshots is not None:
            self.save_snapshot()  # the next start folds only what comes after this
        self.app.close()

    def save_snapshot(self) -> None:
        """Write a read-model snapshot now (a failure is logged: the next start folds the whole log)."""
        assert self.snapshots is not None
        try:
            self.snapshots.save(self.read_model)
        except Exception as exc:
            log.warning("read-model snapshot not written (%s: %s)", type(exc).__name__, exc)


class StoreKeyError(Exception):
    """The stored events cannot be read with the configured cipher key (or lack of one). Nothing was changed."""


def check_store_readable(app: SettingsApplication, encrypted: bool, public_ids_allowed: bool = False) -> None:
    """Decode the first stored event before anything else happens, to fail clearly on a wrong or missing key; and
    refuse an encrypted store whose derived ids are still public (unless migrating it: ``public_ids_allowed``)."""
    first = app.recorder.select_notifications(start=None, limit=1)
    if not first:
        return
    try:
        app.mapper.to_domain_event(first[0])
    except Exception:
        if encrypted:
            raise StoreKeyError(
                "TELEPHONY_CIPHER_KEY does not decrypt the stored events: it is the wrong key, or this store was "
                "written without encryption. Nothing was changed."
            ) from None
        raise StoreKeyError(
            "the stored events cannot be read: the store is encrypted, set TELEPHONY_CIPHER_KEY to its key. "
            "Nothing was changed."
        ) from None
    if encrypted and not public_ids_allowed:
        try:
            check_ids_keyed(app)
        except PublicIdsError as exc:
            raise StoreKeyError(str(exc)) from None


def build_container(settings: Settings) -> Container:
    """Open the event store (creating its tables if needed) and rebuild the read model from it."""
    app = SettingsApplication(settings.store_env())
    read_model = ReadModel(app)
    # What the writer stores is folded into the read model before the command is answered (read-your-writes without
    # reading it back): one fold per transaction, in the writer's thread.
    app.on_saved(read_model.fold_saved)
    snapshots = Snapshots(app, store_for(app, settings.effective_database_url), every=settings.snapshot_every)
    try:
        check_store_readable(app, encrypted=settings.cipher_key is not None)
        snapshots.restore(read_model)  # when a valid snapshot is there: only the log after it is folded
        read_model.catch_up()
    except BaseException:
        app.close()
        raise
    log.info("read model rebuilt at position %d", read_model.position)
    return Container(
        settings=settings, app=app, read_model=read_model, store_head=read_model.position, snapshots=snapshots
    )


def preflight(settings: Settings) -> None:
    """Open the store once and check it can be read with the configured key (for a clean CLI error)."""
    app = SettingsApplication(settings.store_env())
    try:
        check_store_readable(app, encrypted=settings.cipher_key is not None)
    finally:
        app.close()
