"""``GET /api/settings/stream`` from outside: a plain HTTP client reading server-sent events from the real ``serve``
process, NATS off (the stream reads the store's log). Order, resume after a disconnect and after a restart,
the keep-alive comment, and a stream that does not hold up a graceful stop."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.clients import AUTH
from tests.e2e.conftest import ServiceProcess
from tests.seed import TWILIO
from tests.sse_client import STREAM, WAIT, Reader

ENDPOINTS = "/api/settings/endpoints"
TELEPHONY = "/api/settings/telephony"


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


@pytest.mark.parametrize("value", [b"\xb2", b"\xb9\xb2", b"12\xbd"])  # latin-1 superscripts and a fraction
def test_a_last_event_id_of_non_ascii_digits_is_a_422_not_a_500(server: ServiceProcess, value: bytes) -> None:
    with httpx.Client(base_url=server.url, trust_env=False, timeout=WAIT) as client:
        answer = client.get(STREAM, headers={**AUTH, "Last-Event-ID": value})  # type: ignore[dict-item]
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "Last-Event-ID"
