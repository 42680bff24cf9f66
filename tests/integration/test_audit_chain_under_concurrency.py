"""Writers racing on the same aggregates, from two processes' worth of applications on one store, keep every hash
chain intact: a save that loses the race leaves no wrong chain head behind. On SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from eventsourcing.persistence import IntegrityError

from events import SETTINGS_ID, ProviderUpdated
from service.audit.checkpoints import Checkpoints
from service.audit.verify import verify
from service.settings import Settings
from service.write.application import SettingsApplication
from service.write.commands import Actor, NewEndpoint, PatchEndpoint, UpdateProvider
from tests.seed import TWILIO

WRITERS = 6
ROUNDS = 8


def test_racing_writers_leave_every_chain_intact(settings: Settings) -> None:
    apps = [SettingsApplication(settings.store_env()) for _ in range(2)]
    try:
        apps[0].update_provider(UpdateProvider(dict(TWILIO)), Actor("setup"))
        endpoint_id, _ = apps[0].create_endpoint(NewEndpoint(phone_number="+15550000001", provider="twilio"), Actor())

        def write(writer: int) -> None:
            app = apps[writer % 2]
            for round_ in range(ROUNDS):
                app.update_provider(
                    UpdateProvider({"twilio_max_concurrent": 1 + (writer * ROUNDS + round_) % 999}), Actor()
                )
                app.update_endpoint(PatchEndpoint(endpoint_id, {"label": f"writer {writer} round {round_}"}), Actor())

        with ThreadPoolExecutor(WRITERS) as pool:
            list(pool.map(write, range(WRITERS)))
        Checkpoints(apps[1]).write()

        report = verify(apps[0], Checkpoints(apps[0]))
    finally:
        for app in apps:
            app.close()
    assert report.ok, report.problem
    assert report.events >= 3 + 2 * WRITERS * ROUNDS - WRITERS  # a few updates may change nothing
    assert report.unsealed == 0


def test_a_save_that_lost_its_race_does_not_poison_the_next_link(settings: Settings) -> None:
    mine, theirs = SettingsApplication(settings.store_env()), SettingsApplication(settings.store_env())
    try:
        mine.update_provider(UpdateProvider(dict(TWILIO)), Actor())
        theirs.update_provider(UpdateProvider({"twilio_max_concurrent": 2}), Actor())
        assert mine.load_provider().version == 2  # mine has read version 2 (and its chain hash)
        stale = ProviderUpdated(
            originator_id=SETTINGS_ID,
            originator_version=2,
            timestamp=ProviderUpdated.create_timestamp(),
            actor="late",
            request_id=None,
            changes={"twilio_max_concurrent": 3},
            previous={"twilio_max_concurrent": 10},
        )
        with pytest.raises(IntegrityError):
            mine.save(stale)  # version 2 is taken: this insert fails after its chain hash was computed
        mine.update_provider(
            UpdateProvider({"twilio_max_concurrent": 4}), Actor()
        )  # version 3 must chain to the stored version 2

        report = verify(mine, Checkpoints(mine))
    finally:
        mine.close()
        theirs.close()
    assert report.ok, report.problem
