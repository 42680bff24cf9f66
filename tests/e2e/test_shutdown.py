"""Graceful shutdown of the real process: on SIGTERM, in-flight requests finish, the relay finishes the publication
in hand, the embedded nats-server stops, and nothing acknowledged is lost or published twice.

A burst of concurrent writers keeps POSTing new endpoints until the server stops answering; SIGTERM arrives while
requests are in flight. Every answer must be a 2xx (a request the server never took is refused at the connection:
connection refused, or closed before any response). After a restart on the same data dir, exactly the acknowledged
endpoints are stored, whole, and the JetStream stream holds each of their creations exactly once.
"""

from __future__ import annotations

import collections
import itertools
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from events import wire
from tests.clients import AUTH
from tests.e2e.conftest import STOP_TIMEOUT, ServiceProcess
from tests.nats_support import StreamMessage, stream_messages, wait_until

ENDPOINTS = "/api/settings/endpoints"
WRITERS = 40
"""Concurrent writers: about the size of the server's thread pool, so requests queue and are in flight."""
ACKS_BEFORE_SIGTERM = 40
"""SIGTERM is sent once this many creations were acknowledged: the burst is then in full swing."""
MAX_REQUESTS = 2000
"""A bound on the burst should the server never stop answering."""
BURST_TIMEOUT = 30.0
WRITER_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
"""Longer than a graceful stop may take (STOP_TIMEOUT): a request that times out was left hanging."""
EXIT_BOUND = 15.0
"""Seconds the process may take to exit after SIGTERM."""
PUBLISH_TIMEOUT = 20.0
"""Seconds the restarted relay may take to publish what the stopped one had not."""


@dataclass
class Outcome:
    phone_number: str
    started: float
    ended: float = 0.0
    status: int | None = None
    body: dict | None = None
    error: BaseException | None = None

    def describe(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else f"{type(self.error).__name__}: {self.error}"
        return f"POST {self.phone_number} at {self.started:.3f}-{self.ended:.3f}: {what}"


class Burst:
    """``WRITERS`` threads, each creating endpoints one after another on its own keep-alive connection, until a
    request is not answered with a 201 (the server is going away) or ``MAX_REQUESTS`` were sent in all."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self.acked = threading.Semaphore(0)
        self.threads = [threading.Thread(target=self._write, name=f"writer-{i}", daemon=True) for i in range(WRITERS)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self, timeout: float) -> list[threading.Thread]:
        """Wait for every writer; return those still running after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [thread for thread in self.threads if thread.is_alive()]

    def _write(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=WRITER_TIMEOUT, trust_env=False, headers=AUTH) as client:
            while True:
                with self._lock:
                    n = next(self._numbers)
                if n > MAX_REQUESTS:
                    return
                outcome = Outcome(phone_number=f"+1555{4_000_000 + n:07d}", started=time.monotonic())
                try:
                    response = client.post(
                        ENDPOINTS, json={"phone_number": outcome.phone_number, "provider": "twilio", "label": f"w{n}"}
                    )
                    outcome.status = response.status_code
                    if response.status_code == 201:
                        outcome.body = response.json()
                except Exception as exc:  # a transport error: recorded and judged by the test
                    outcome.error = exc
                outcome.ended = time.monotonic()
                with self._lock:
                    self.outcomes.append(outcome)
                if outcome.status != 201:
                    return
                self.acked.release()

    def wait_for_acks(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(self.acked.acquire(timeout=max(0.0, deadline - time.monotonic())) for _ in range(count))


def all_endpoints(api: httpx.Client) -> list[dict]:
    """Every stored endpoint, following the pages."""
    found: list[dict] = []
    for page in itertools.count(1):
        response = api.get(ENDPOINTS, params={"page": page, "page_size": 500})
        assert response.status_code == 200, response.text
        items = response.json()
        found += items
        if len(found) >= int(response.headers["x-total-count"]) or not items:
            return found
    raise AssertionError("unreachable")


def logged_position(output: str, message: str) -> int:
    """The position in the first log line ``<message> <n>`` (plain or JSON log format)."""
    match = re.search(re.escape(message) + r" (\d+)", output)
    assert match is not None, f"the server did not log {message!r}:\n{output}"
    return int(match.group(1))


def created_endpoint_ids(messages: list[StreamMessage]) -> list[str]:
    return [
        wire.decode_endpoint_message(m.data).endpoint.id
        for m in messages
        if m.headers.get(wire.HEADER_EVENT_TYPE) == "EndpointCreated"
    ]


def test_sigterm_during_a_burst_of_writes_is_a_graceful_shutdown(
    service_factory: Callable[..., ServiceProcess],
) -> None:
    server = service_factory()  # the embedded default: SQLite and an embedded nats-server in the data dir
    assert server.data_dir is not None
    url_file = server.data_dir / "nats" / "url"
    assert url_file.read_text().startswith("nats://"), "the embedded nats-server is not running"

    # -- SIGTERM in the middle of a burst of writes ----------------------------------------------------------
    burst = Burst(server.url)
    burst.start()
    assert burst.wait_for_acks(ACKS_BEFORE_SIGTERM, BURST_TIMEOUT), (
        f"the burst got fewer than {ACKS_BEFORE_SIGTERM} creations acknowledged within {BURST_TIMEOUT} s: "
        + "; ".join(o.describe() for o in burst.outcomes if o.status != 201)
    )
    sigterm_at = time.monotonic()
    status = server.stop(timeout=STOP_TIMEOUT)  # SIGTERM; fails the test (after a SIGKILL) past STOP_TIMEOUT
    exit_seconds = time.monotonic() - sigterm_at
    first_run = server.output()
    hanging = burst.join(timeout=WRITER_TIMEOUT.read + 5.0)
    assert not hanging, f"{len(hanging)} writers still waiting for an answer after the server exited"

    # The process: bounded, orderly exit, nothing left behind.
    assert exit_seconds < EXIT_BOUND, f"exit took {exit_seconds:.1f} s after SIGTERM"
    # uvicorn finishes its graceful shutdown, then re-raises the SIGTERM it caught: -SIGTERM is a clean exit too.
    assert status in (0, -signal.SIGTERM), f"exit status {status} (SIGKILL would be -9):\n{first_run}"
    assert not server.left_children, "the embedded nats-server (or another child) outlived the server"
    assert "Application shutdown complete" in first_run, first_run
    assert "Traceback" not in first_run, first_run
    assert "did not stop; abandoning it" not in first_run, first_run
    assert "task relay ended with" not in first_run, first_run
    stopped_at = logged_position(first_run, "relay stopped at position")

    # The requests: every answer a 2xx; no answer only as a refusal once the server was going away.
    outcomes = sorted(burst.outcomes, key=lambda o: o.started)
    answered = [o for o in outcomes if o.status is not None]
    refused = [o for o in outcomes if o.status is None]
    not_2xx = [o.describe() for o in answered if not 200 <= o.status < 300]  # type: ignore[operator]
    assert not not_2xx, "answers other than 2xx around the shutdown:\n" + "\n".join(not_2xx)
    timed_out = [o.describe() for o in refused if isinstance(o.error, httpx.TimeoutException)]
    assert not timed_out, "requests left hanging by the shutdown:\n" + "\n".join(timed_out)
    early = [o.describe() for o in refused if o.ended < sigterm_at]
    assert not early, "requests refused before the SIGTERM:\n" + "\n".join(early)
    unexpected = [o.describe() for o in refused if not isinstance(o.error, httpx.TransportError)]
    assert not unexpected, "unexpected client errors:\n" + "\n".join(unexpected)
    in_flight = [o for o in answered if o.started < sigterm_at < o.ended]
    assert in_flight, "no request was in flight at the SIGTERM: the burst did not overlap the shutdown"
    acked = {o.body["id"]: o.body for o in answered if o.body is not None}
    assert len(acked) == len(answered) >= ACKS_BEFORE_SIGTERM

    # -- restart on the same data dir: exactly the acknowledged changes, each whole ---------------------------
    server.start()
    assert server.http is not None
    stored = all_endpoints(server.http)
    stored_ids = [e["id"] for e in stored]
    assert len(stored_ids) == len(set(stored_ids)), "an endpoint is listed twice"
    lost = sorted(set(acked) - set(stored_ids))
    assert not lost, f"{len(lost)} acknowledged creations are missing after the restart: {lost}"
    unacknowledged = [e for e in stored if e["id"] not in acked]
    assert not unacknowledged, (
        "stored endpoints whose creation was never acknowledged (a request cut short by the shutdown):\n"
        + "\n".join(
            f"{e} <- {[o.describe() for o in outcomes if o.phone_number == e['phone_number']]}" for e in unacknowledged
        )
    )
    for endpoint in stored:
        response = server.http.get(f"{ENDPOINTS}/{endpoint['id']}")
        assert response.status_code == 200, f"listed endpoint {endpoint['id']} does not answer GET: {response.text}"
        assert response.json() == endpoint == acked[endpoint["id"]]

    # -- the stream: each acknowledged creation exactly once; the stopped relay had finished its publication ----
    nats_url = url_file.read_text().strip()

    def published() -> list[StreamMessage] | None:
        messages = stream_messages(nats_url)
        return messages if set(created_endpoint_ids(messages)) >= set(acked) else None

    messages = wait_until(published, timeout=PUBLISH_TIMEOUT, what="every acknowledged creation in the stream")
    assert isinstance(messages, list)
    msg_ids = collections.Counter(m.headers.get(wire.HEADER_MSG_ID) for m in messages)
    assert None not in msg_ids, "a stream message without Nats-Msg-Id"
    duplicates = {msg_id: n for msg_id, n in msg_ids.items() if n > 1}
    assert not duplicates, f"published more than once: {duplicates}"
    created = collections.Counter(created_endpoint_ids(messages))
    assert set(created) == set(acked), f"creations published but never acknowledged: {set(created) - set(acked)}"
    assert all(n == 1 for n in created.values()), f"creations published more than once: {created}"
    positions = [int(m.headers[wire.HEADER_POSITION]) for m in messages]
    assert positions == sorted(set(positions)), "stream messages out of store order or repeated"

    # The restarted relay resumed right after the last message in the stream; that message was the stopped
    # relay's last publication: not beyond what it reported (a publication cut off mid-way), and nothing it
    # reported as done was missing from the stream (the restart had to publish it).
    resumed_from = logged_position(server.output(), "relay publishing from position")
    assert resumed_from <= stopped_at, (
        f"the stream went on to position {resumed_from} but the relay reported stopping at {stopped_at}"
    )
    republished = [p for p in positions if resumed_from < p <= stopped_at]
    assert not republished, (
        f"positions {republished} were reported published by the stopped relay (up to {stopped_at}) but were not "
        f"in the stream at the restart (it ended at {resumed_from})"
    )
