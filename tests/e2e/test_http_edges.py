"""The real server at the edges of HTTP, spoken to over raw sockets: a client that hangs up mid-body is a 499 in the
access log and the metrics (never a 500); slow clients cannot hold connections open (408 after the header or body
deadline, then the connection is closed); HEAD and OPTIONS are answered as on any well-behaved server."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable

import pytest

from tests.clients import TEST_API_KEY
from tests.e2e.conftest import ServiceProcess

FAST_DEADLINES = {"TELEPHONY_NATS_URL": "off", "TELEPHONY_HEADER_TIMEOUT": "1", "TELEPHONY_BODY_TIMEOUT": "1"}
WAIT = 15.0  # generous bound for anything the server does within a second or two


@pytest.fixture
def server(service_factory: Callable[..., ServiceProcess]) -> ServiceProcess:
    return service_factory(env=FAST_DEADLINES)


def connect(server: ServiceProcess) -> socket.socket:
    assert server.port is not None
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the socket timeout)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def read_response(sock: socket.socket) -> bytes:
    """One whole response (headers and a Content-Length body) from a connection that stays open."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def post_head(length: int) -> bytes:
    return (
        f"POST /api/settings/endpoints HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {TEST_API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def access_lines(server: ServiceProcess) -> list[dict]:
    lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "telephony_settings.access"]


def wait_for_metric(server: ServiceProcess, fragment: str) -> str:
    assert server.http is not None
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        text = server.http.get("/metrics").text
        if fragment in text:
            return text
        time.sleep(0.05)
    raise AssertionError(f"no {fragment!r} in /metrics within {WAIT} s")


def test_a_client_that_hangs_up_mid_body_is_counted_as_499_never_500(server: ServiceProcess) -> None:
    with connect(server) as sock:
        sock.sendall(post_head(200) + b'{"phone_number": "+1555')  # and then it is gone

    text = wait_for_metric(server, 'status_code="499"')

    posts = [line for line in text.splitlines() if 'method="POST"' in line and "requests_total" in line]
    assert any('status_code="499"' in line for line in posts), posts
    assert not any('status_code="500"' in line for line in text.splitlines()), "a hang-up was counted as a 500"
    assert server.http is not None
    assert server.http.get("/api/settings/endpoints").json() == []  # nothing half-written
    server.stop()
    assert [line["status"] for line in access_lines(server) if line["method"] == "POST"] == [499]


def test_connections_that_send_their_headers_too_slowly_are_answered_408_and_closed(server: ServiceProcess) -> None:
    slow = [connect(server) for _ in range(50)]
    for sock in slow[:40]:
        sock.sendall(b"GET /api/settings/endpoints HTTP/1.1\r\nHost: te")  # headers never finished
    # the last 10 never send a byte at all

    answers = [read_until_closed(sock) for sock in slow]  # each returns once the server closes it

    for sock in slow:
        sock.close()
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), {a[:30] for a in answers}
    assert server.http is not None
    assert server.http.get("/api/settings/endpoints").status_code == 200  # and it still serves everyone else


def test_a_body_that_arrives_too_slowly_is_answered_408_and_nothing_is_stored(server: ServiceProcess) -> None:
    with connect(server) as sock:
        sock.sendall(post_head(80) + b'{"phone_number": ')
        answer = read_until_closed(sock)

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"x-request-id" in head.lower()
    assert json.loads(body)["detail"] == "the request body did not arrive in time"
    assert server.http is not None
    assert server.http.get("/api/settings/endpoints").json() == []
    server.stop()
    assert [line["status"] for line in access_lines(server) if line["method"] == "POST"] == [408]


def test_a_kept_alive_connection_gets_the_header_deadline_for_each_request(server: ServiceProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
        first = read_response(sock)
        assert first.startswith(b"HTTP/1.1 200 "), first
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHo")  # the second request stalls
        assert read_until_closed(sock).startswith(b"HTTP/1.1 408 ")


def test_head_and_options_on_the_real_server(server: ServiceProcess) -> None:
    with connect(server) as sock:
        sock.sendall(
            b"HEAD /api/settings/telephony HTTP/1.1\r\nHost: test\r\n"
            + f"Authorization: Bearer {TEST_API_KEY}\r\nConnection: close\r\n\r\n".encode()
        )
        answer = read_until_closed(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert b"etag:" in head.lower()
    assert body == b""
    assert server.http is not None
    options = server.http.options("/api/settings/endpoints", headers={"Authorization": ""})
    assert options.status_code == 204
    assert {m.strip() for m in options.headers["allow"].split(",")} == {"GET", "HEAD", "OPTIONS", "POST"}
