"""The composition root: builds the write side and the read model from ``Settings``. Tests reuse it with their own
settings (a temporary SQLite file, a PostgreSQL database of their own)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from service.application import SettingsApplication
from service.nats_link import NatsLink
from service.read_model import ReadModel
from service.relay import Relay
from service.settings import Settings

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

    def close(self) -> None:
        self.app.close()


def build_container(settings: Settings) -> Container:
    """Open the event store (creating its tables if needed) and rebuild the read model from it."""
    app = SettingsApplication(settings.store_env())
    read_model = ReadModel(app)
    try:
        read_model.catch_up()
    except BaseException:
        app.close()
        raise
    log.info("read model rebuilt at position %d", read_model.position)
    return Container(settings=settings, app=app, read_model=read_model, store_head=read_model.position)
