"""Reliability against real processes: crashes under load, races, a database outage, and replicas.

Once the service has answered 2xx, the change is durable, visible and eventually on NATS, whatever fails next.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from events import EndpointCreated, EndpointUpdated
from service.settings import Settings
from tests.clients import AUTH
from tests.e2e.conftest import ServiceProcess
from tests.e2e.reliability_support import (
    ENDPOINTS,
    WriteLoad,
    assert_every_acknowledged_change_is_served,
    assert_no_half_applied_change,
    assert_stream_holds_each_public_event_once,
    last_public_position,
    nats_url_of,
    store_events,
)
from tests.nats_support import stream_messages, wait_until
from tests.tcp_proxy import TcpProxy

LOAD_SECONDS = 2.0


def _counter(metrics: str, name: str) -> float:
    """A counter's value in a Prometheus text exposition."""
    line = next(line for line in metrics.splitlines() if line.startswith(name + " "))
    return float(line.split()[1])


def _store_settings(data_dir: Path, database_url: str | None) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url, nats_url="off")


def _published_up_to(nats_url: str, position: int) -> bool:
    messages = stream_messages(nats_url)
    return bool(messages) and int(messages[-1].headers["Telephony-Position"]) >= position


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_sigkill_under_steady_write_load_loses_no_acknowledged_change(
    backend: str,
    service_factory: Callable[..., ServiceProcess],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    database_url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    data_dir = tmp_path / "data"
    server = service_factory(data_dir=data_dir, database_url=database_url)  # embedded nats-server, relay on
    load = WriteLoad(server.url).start()
    wait_until(lambda: load.acknowledged >= 60, timeout=30, what="the load to get going")
    time.sleep(LOAD_SECONDS)
    assert server.http is not None
    metrics = server.http.get("/metrics").text
    transactions, commands = (
        _counter(metrics, f"telephony_settings_write_{name}_total") for name in ("transactions", "commands")
    )

    assert server.kill() == -signal.SIGKILL  # the server and its nats-server, mid-request (mid-batch, often)
    load.stop()
    assert load.acknowledged >= 60
    server.start()

    assert server.http is not None
    checked = assert_every_acknowledged_change_is_served(load, server.http)
    assert checked >= 20
    for ledger in load.ledgers:
        assert ledger.server_errors == []
    with store_events(_store_settings(data_dir, database_url)) as events:
        assert_no_half_applied_change(events)
        head = last_public_position(events)
        nats_url = nats_url_of(data_dir)
        wait_until(lambda: _published_up_to(nats_url, head), timeout=30, what="the relay to catch up")
        assert_stream_holds_each_public_event_once(events, stream_messages(nats_url))
    in_flight = sum(len(ledger.in_flight) for ledger in load.ledgers)
    # The concurrent writers were group-committed: transactions carried more than one change on average.
    assert commands > transactions > 0, (commands, transactions)
    record_property(
        "figures",
        f"{load.acknowledged} acknowledged changes before SIGKILL, {in_flight} in flight, none lost; "
        f"{commands / transactions:.1f} changes per transaction before the kill",
    )


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_fifty_simultaneous_requests_on_the_real_server(
    backend: str, service_factory: Callable[..., ServiceProcess], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    postgres_url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    data_dir = tmp_path / "data"
    server = service_factory(data_dir=data_dir, database_url=postgres_url, env={"TELEPHONY_NATS_URL": "off"})
    barrier = threading.Barrier(50)

    def together(send: Callable[[httpx.Client, int], httpx.Response]) -> list[httpx.Response]:
        def run(i: int) -> httpx.Response:
            with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as http:
                barrier.wait(timeout=10)
                return send(http, i)

        with ThreadPoolExecutor(max_workers=50) as pool:
            return list(pool.map(run, range(50)))

    posts = together(lambda http, i: http.post(ENDPOINTS, json={"phone_number": "+15551234567", "provider": "twilio"}))
    assert sorted(r.status_code for r in posts) == [201] + [409] * 49
    endpoint_id = next(r.json()["id"] for r in posts if r.status_code == 201)

    fields = ("inbound_agent_name", "outbound_agent_name", "label")
    puts = together(lambda http, i: http.put(f"{ENDPOINTS}/{endpoint_id}", json={fields[i % 3]: f"value-{i}"}))
    assert [r.status_code for r in puts] == [200] * 50
    with store_events(_store_settings(data_dir, postgres_url)) as events:
        created = [e for _, e in events if isinstance(e, EndpointCreated)]
        updates = [e for _, e in events if isinstance(e, EndpointUpdated)]
    assert len(created) == 1
    assert [e.originator_version for e in updates] == list(range(2, 52))  # every update took effect, none lost
    assert server.http is not None
    final = server.http.get(f"{ENDPOINTS}/{endpoint_id}").json()
    last: dict[str, Any] = {}
    for event in updates:
        last.update(event.changes)
    assert {name: final[name] for name in fields} == last


def _through(proxy: TcpProxy, database_url: str) -> str:
    parts = urlsplit(database_url)
    netloc = f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@contextlib.contextmanager
def _behind_a_proxy(
    service_factory: Callable[..., ServiceProcess], postgres_url: str
) -> Iterator[tuple[TcpProxy, ServiceProcess, httpx.Client]]:
    """The service (NATS off) on PostgreSQL through a TCP proxy the test can cut and restore."""
    upstream = urlsplit(postgres_url)
    with TcpProxy(upstream.hostname or "127.0.0.1", upstream.port or 5432) as proxy:
        server = service_factory(database_url=_through(proxy, postgres_url), env={"TELEPHONY_NATS_URL": "off"})
        assert server.http is not None
        yield proxy, server, server.http


@pytest.mark.postgres
def test_database_outage_answers_503_quickly_and_recovers_without_a_restart(
    service_factory: Callable[..., ServiceProcess], postgres_url: str, tmp_path: Path
) -> None:
    with _behind_a_proxy(service_factory, postgres_url) as (proxy, server, http):
        before = http.post(ENDPOINTS, json={"phone_number": "+15551230001", "provider": "twilio"})
        assert before.status_code == 201

        proxy.cut()
        started = time.monotonic()
        refused = http.post(ENDPOINTS, json={"phone_number": "+15551230002", "provider": "twilio"})
        took = time.monotonic() - started
        assert refused.status_code == 503
        assert refused.json()["detail"]
        assert took < 2.0, took
        assert http.get(ENDPOINTS).status_code == 200  # reads are served from memory
        wait_until(lambda: http.get("/health/ready").status_code == 503, timeout=10, what="not ready")

        proxy.restore()
        recovered = wait_until(
            lambda: (
                http.post(ENDPOINTS, json={"phone_number": "+15551230003", "provider": "twilio"}).status_code == 201
            ),
            timeout=15,
            what="writes to work again",
        )
        assert recovered
        wait_until(lambda: http.get("/health/ready").status_code == 200, timeout=10, what="ready again")
        numbers = {e["phone_number"] for e in http.get(ENDPOINTS).json()}
        assert {"+15551230001", "+15551230003"} <= numbers
        assert "+15551230002" not in numbers  # refused means not stored
        # The change listener lost its connection too: said once, however many reconnection attempts failed.
        wait_until(lambda: "store listener reconnected" in server.output(), timeout=10, what="listener back")
        assert server.output().count("store listener disconnected") == 1


@pytest.mark.postgres
def test_the_first_write_after_the_database_link_heals_is_stored(
    service_factory: Callable[..., ServiceProcess],
    postgres_url: str,
    record_property: Callable[[str, object], None],
) -> None:
    with _behind_a_proxy(service_factory, postgres_url) as (proxy, _, http):
        for i in range(20):  # every pooled connection has been used: each is dead after the cut
            assert http.post(ENDPOINTS, json={"phone_number": f"+1555123{i:04d}", "provider": "twilio"}).is_success

        proxy.cut()
        outage = [http.post(ENDPOINTS, json={"phone_number": "+15559990001", "provider": "twilio"}) for _ in range(3)]
        time.sleep(2.0)  # long enough for psycopg's pool to back off, had it kept its 1 s, 2 s, 4 s delays
        proxy.restore()
        healed = time.monotonic()
        first = http.post(ENDPOINTS, json={"phone_number": "+15559990002", "provider": "twilio"})
        took_ms = (time.monotonic() - healed) * 1000

    record_property("measured", f"first write after the link healed answered {first.status_code} in {took_ms:.0f} ms")
    assert {r.status_code for r in outage} == {503}
    assert first.status_code == 201, first.text
    # The target is 200 ms; measured here 60-80 ms, and 200-1,000 ms (or a 503) with the pool's own back-off. The
    # bound is loose for a loaded machine, and still below the back-off's first step.
    assert took_ms < 600, took_ms


@pytest.mark.postgres
def test_two_replicas_share_one_store_and_one_relay_and_survive_the_loss_of_either(
    service_factory: Callable[..., ServiceProcess],
    postgres_url: str,
    nats_server: Any,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    # The poll interval is far beyond what the test allows: B sees A's writes through LISTEN/NOTIFY.
    env = {"TELEPHONY_NATS_URL": nats_server.url, "TELEPHONY_POLL_INTERVAL": "30"}
    a = service_factory(data_dir=tmp_path / "a", database_url=postgres_url, env=env)
    wait_until(lambda: a.http.get("/health/ready").json().get("relay") == "active", what="A to hold the relay")
    b = service_factory(data_dir=tmp_path / "b", database_url=postgres_url, env=env)
    assert a.http is not None
    assert b.http is not None
    assert b.http.get("/health/ready").json()["relay"] == "standby"

    delays = []
    for i in range(10):
        created = a.http.post(ENDPOINTS, json={"phone_number": f"+1555000{i:04d}", "provider": "twilio"})
        assert created.status_code == 201
        url = f"{ENDPOINTS}/{created.json()['id']}"
        started = time.monotonic()
        wait_until(lambda url=url: b.http.get(url).status_code == 200, timeout=5, what="B to see A's write")
        delays.append(time.monotonic() - started)
    assert max(delays) < 1.0, delays
    record_property("figures", f"write on A seen on B after at most {max(delays) * 1000:.0f} ms")

    a.kill()  # the publishing replica crashes
    started = time.monotonic()
    for i in range(10, 15):
        assert (
            b.http.post(ENDPOINTS, json={"phone_number": f"+1555000{i:04d}", "provider": "twilio"}).status_code == 201
        )
    wait_until(lambda: b.http.get("/health/ready").json().get("relay") == "active", timeout=10, what="B takes over")
    assert time.monotonic() - started < 10
    with store_events(_store_settings(tmp_path / "check", postgres_url)) as events:
        head = last_public_position(events)
        wait_until(lambda: _published_up_to(nats_server.url, head), timeout=15, what="everything published")
        time.sleep(0.5)  # a duplicate publication would show by now
        assert_stream_holds_each_public_event_once(events, stream_messages(nats_server.url))
