"""Stopping the service while its read-model follower is catching up never closes the store under the follower: the
store is closed only after the in-flight catch-up has finished (closing SQLite under a worker thread that still reads
it crashes the whole process).

The follower is made to be inside a catch-up, in its worker thread, at the moment the service stops: the test holds
that catch-up until the shutdown has begun, then lets it finish, and checks the order in which things happened. No
timing has to be lucky for this to show a wrong order.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from service.settings import Settings
from service.write.application import SettingsApplication
from service.write.commands import Actor, NewEndpoint
from tests.clients import api_client

WAIT = 10.0


def test_the_store_is_closed_only_after_an_in_flight_catch_up_has_finished(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, nats_url="off", poll_interval=0.01)
    happened: list[str] = []
    inside, release = threading.Event(), threading.Event()
    client = api_client(replace(settings))
    client.__enter__()
    try:
        assert client.get("/api/settings/telephony").status_code == 200
        container = client.app.state["container"]
        catch_up, close = container.read_model.catch_up, container.close

        def held_catch_up(until: int | None = None) -> int:
            if threading.current_thread() is not threading.main_thread() and not inside.is_set():
                inside.set()
                assert release.wait(WAIT), "the test never released the catch-up"
                happened.append("catch-up finished")
            return catch_up(until)

        def recorded_close() -> None:
            happened.append("store closed")
            close()

        container.read_model.catch_up = held_catch_up
        container.close = recorded_close
        other = SettingsApplication(settings.store_env())  # another process writes: the follower has to catch up
        try:
            other.handle_create_endpoint(NewEndpoint(phone_number="+15551230001", provider="twilio"), Actor("other"))
        finally:
            other.close()
        assert inside.wait(WAIT), "the follower did not start a catch-up"  # it polls every 10 ms
    except BaseException:
        client.__exit__(None, None, None)
        raise

    stopping = threading.Thread(target=client.__exit__, args=(None, None, None))
    stopping.start()
    stopping.join(timeout=0.5)  # the shutdown runs as far as it can while the catch-up is held
    closed_while_held = list(happened)
    release.set()
    stopping.join(timeout=WAIT)

    assert not stopping.is_alive(), "the service did not stop"
    assert closed_while_held == []
    assert happened == ["catch-up finished", "store closed"]


def test_starting_and_stopping_again_and_again_on_one_store_keeps_every_change(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, nats_url="off", poll_interval=0.01)
    for number in range(20):
        with api_client(settings) as client:
            created = client.post(
                "/api/settings/endpoints", json={"phone_number": f"+1555000{number:04d}", "provider": "twilio"}
            )
            assert created.status_code == 201, created.text
            assert len(client.get("/api/settings/endpoints").json()) == number + 1
