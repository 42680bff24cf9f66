"""``GET /api/settings/stream`` from outside: a plain HTTP client reading server-sent events from the real ``serve``
process, NATS off (the stream reads the store's log). Order, resume after a disconnect and after a restart,
the keep-alive comment, and a stream that does not hold up a graceful stop."""

from __future__ import annotations

import json
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from tests.clients import AUTH
from tests.e2e.conftest import ServiceProcess
from tests.seed import TWILIO

STREAM = "/api/settings/stream"
ENDPOINTS = "/api/settings/endpoints"
TELEPHONY = "/api/settings/telephony"
WAIT = 10.0


@dataclass
class Event:
    id: int | None = None
    event: str | None = None
    data: str = ""
    comments: list[str] = field(default_factory=list)

    @property
    def body(self) -> dict:
        return json.loads(self.data)


class Reader:
    """Reads one stream in a thread and hands over its events (and comment lines) as they arrive."""

    def __init__(self, server: ServiceProcess, headers: dict[str, str] | None = None, params: dict | None = None):
        self.events: queue.Queue[Event | BaseException | None] = queue.Queue()
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self._client = httpx.Client(base_url=server.url, timeout=httpx.Timeout(WAIT, read=None), trust_env=False)
        self._request = self._client.build_request("GET", STREAM, headers={**AUTH, **(headers or {})}, params=params)
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._opened.wait(WAIT), "the stream did not answer"

    def _read(self) -> None:
        try:
            response = self._client.send(self._request, stream=True)
            self.status, self.headers = response.status_code, dict(response.headers)
            self._opened.set()
            current = Event()
            for line in response.iter_lines():
                if line == "":
                    if current.id is not None or current.comments or current.data:
                        self.events.put(current)
                    current = Event()
                elif line.startswith(":"):
                    current.comments.append(line[1:].strip())
                else:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "id":
                        current.id = int(value)
                    elif name == "event":
                        current.event = value
                    elif name == "data":
                        current.data += value
            self.events.put(None)  # the server ended the stream
        except BaseException as exc:
            self._opened.set()
            self.events.put(exc)

    def next(self, timeout: float = WAIT, changes_only: bool = True) -> Event | None:
        deadline = time.monotonic() + timeout
        while True:
            item = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(item, BaseException):
                raise item
            if item is None or not changes_only or item.id is not None:
                return item

    def take(self, count: int) -> list[Event]:
        return [event for event in (self.next() for _ in range(count)) if event is not None]

    def close(self) -> None:
        self._client.close()


@contextmanager
def reading(server: ServiceProcess, **kwargs) -> Iterator[Reader]:
    reader = Reader(server, **kwargs)
    try:
        yield reader
    finally:
        reader.close()


@pytest.fixture
def server(service_factory: Callable[..., ServiceProcess]) -> ServiceProcess:
    server = service_factory(env={"TELEPHONY_NATS_URL": "off", "TELEPHONY_STREAM_HEARTBEAT": "0.5"})
    assert server.http is not None
    server.http.put(TELEPHONY, json=TWILIO).raise_for_status()
    return server


def create(server: ServiceProcess, number: str, **fields: object) -> dict:
    assert server.http is not None
    response = server.http.post(ENDPOINTS, json={"phone_number": number, "provider": "twilio", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_every_change_arrives_in_order_with_the_body_routers_get(server: ServiceProcess) -> None:
    assert server.http is not None
    with reading(server) as reader:
        assert reader.status == 200
        assert reader.headers["content-type"].startswith("text/event-stream")
        created = create(server, "+15551230001", inbound_agent_name="support")
        updated = server.http.put(f"{ENDPOINTS}/{created['id']}", json={"label": "Main"}).json()
        server.http.put(TELEPHONY, json={"twilio_max_concurrent": 4}).raise_for_status()
        server.http.delete(f"{ENDPOINTS}/{created['id']}").raise_for_status()
        events = reader.take(4)

    assert [e.event for e in events] == ["endpoint.created", "endpoint.updated", "provider.updated", "endpoint.deleted"]
    ids = [e.id for e in events]
    assert ids == sorted(ids)
    assert [e.body["position"] for e in events] == ids
    assert events[0].body["endpoint"] == created  # the endpoint exactly as the REST API answered
    assert events[1].body["endpoint"] == updated
    assert events[1].body["changed"] == ["label"]
    assert events[2].body["provider"]["twilio_auth_token"] == "set"  # never a secret
    assert TWILIO["twilio_auth_token"] not in "".join(e.data for e in events)


def test_a_stream_starts_now_and_resumes_after_its_last_event_id_with_nothing_missed_or_repeated(
    server: ServiceProcess,
) -> None:
    create(server, "+15551230001")  # before the stream: not sent
    with reading(server) as reader:
        create(server, "+15551230002")
        first = reader.take(1)
    assert [e.body["endpoint"]["phone_number"] for e in first] == ["+15551230002"]

    create(server, "+15551230003")  # while nobody listens
    create(server, "+15551230004")
    with reading(server, headers={"Last-Event-ID": str(first[0].id)}) as resumed:
        create(server, "+15551230005")
        again = resumed.take(3)
    assert [e.body["endpoint"]["phone_number"] for e in again] == ["+15551230003", "+15551230004", "+15551230005"]

    with reading(server, params={"after": str(first[0].id)}) as by_query:
        assert [e.body["endpoint"]["phone_number"] for e in by_query.take(3)] == [
            "+15551230003",
            "+15551230004",
            "+15551230005",
        ]


def test_an_open_stream_ends_when_the_service_stops_and_resumes_after_the_restart(server: ServiceProcess) -> None:
    with reading(server) as reader:
        create(server, "+15551230001")
        last = reader.take(1)[0]
        started = time.monotonic()
        status = server.stop()
        assert time.monotonic() - started < 5, "the open stream held up the graceful stop"
        assert status in (0, -signal.SIGTERM)  # uvicorn ends by re-raising the signal it handled
        assert reader.next() is None  # the server ended the stream

    server.start()
    create(server, "+15551230002")
    with reading(server, headers={"Last-Event-ID": str(last.id)}) as resumed:
        assert [e.body["endpoint"]["phone_number"] for e in resumed.take(1)] == ["+15551230002"]


def test_an_idle_stream_gets_a_comment_line_at_the_heartbeat(server: ServiceProcess) -> None:
    with reading(server) as reader:
        comment = reader.next(timeout=5, changes_only=False)
    assert comment is not None
    assert comment.id is None
    assert comment.comments == ["keep-alive"]


def test_the_stream_needs_a_key_with_read_and_a_position_for_last_event_id(server: ServiceProcess) -> None:
    with httpx.Client(base_url=server.url, trust_env=False, timeout=WAIT) as anonymous:
        assert anonymous.get(STREAM).status_code == 401
        bad = anonymous.get(STREAM, headers={**AUTH, "Last-Event-ID": "yesterday"})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "Last-Event-ID"
