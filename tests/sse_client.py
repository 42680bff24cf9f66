"""A plain server-sent-events client for the end-to-end tests: ``httpx`` reading ``GET /api/settings/stream`` of a
real ``serve`` process line by line in a thread, as any HTTP client outside this repo would."""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.clients import AUTH

STREAM = "/api/settings/stream"
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

    def __init__(self, server: Any, headers: dict[str, str] | None = None, params: dict | None = None):
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
