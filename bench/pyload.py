"""A Python load generator for machines without wrk: several processes, each running keep-alive HTTP/1.1
connections on asyncio (uvloop when present) with raw sockets, closed-loop like wrk. Its own ceiling is measured
against the bare baseline by ``python -m bench --only loadgen``; trust its figures only well below that ceiling."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from urllib.parse import urlsplit

from bench.infra import API_KEY
from bench.load import LoadResult


def _body(tid: int, base: int, counter: int) -> bytes:
    area = 201 + ((base + tid) % 700)
    return (
        f'{{"phone_number":"+1 {area:03d} {counter:07d}","provider":"twilio",'
        f'"inbound_agent_name":"agent-{counter % 50}","outbound_agent_name":"sales-agent","label":"bench line"}}'
    ).encode()


async def _connection(
    host: str, port: int, path: str, post: bool, tid: int, base: int, deadline: float, out: list, limit: int = 0
):
    reader, writer = await asyncio.open_connection(host, port)
    counter = 0
    errors = 0
    head = f"{'POST' if post else 'GET'} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {API_KEY}\r\n"
    while time.perf_counter() < deadline and not (limit and counter >= limit):
        counter += 1
        if post:
            body = _body(tid, base, counter)
            request = (head + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        else:
            request = (head + "\r\n").encode()
        started = time.perf_counter()
        writer.write(request)
        status_line = await reader.readline()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await reader.readexactly(length)
        out.append(time.perf_counter() - started)
        if not status_line.startswith((b"HTTP/1.1 2", b"HTTP/1.1 3")):
            errors += 1
    writer.close()
    return errors


def _worker(
    url: str, connections: int, seconds: float, post: bool, base: int, first_tid: int, queue, limit: int = 0
) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")

    async def main() -> tuple[list[float], int, float, float]:
        latencies: list[float] = []
        started = time.perf_counter()
        deadline = started + seconds
        errors = await asyncio.gather(
            *(
                _connection(parts.hostname, parts.port, path, post, first_tid + i, base, deadline, latencies, limit)
                for i in range(connections)
            )
        )
        return latencies, sum(errors), started, time.perf_counter()

    queue.put(asyncio.run(main()))


def run_pyload(
    url: str, connections: int, seconds: float, post: bool = False, base: int = 0, limit: int = 0
) -> LoadResult:
    """``limit``: each connection stops after that many requests, and ``seconds`` of the result is the wall time
    from the first worker's start to the last one's end (``perf_counter`` is the system's monotonic clock, the same
    in every process); ``seconds`` is then an upper bound."""
    processes = max(1, min(2, connections // 4))
    per = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    queue: multiprocessing.Queue = multiprocessing.Queue()
    started = time.perf_counter()
    workers = [
        multiprocessing.Process(target=_worker, args=(url, n, seconds, post, base, sum(per[:i]), queue, limit))
        for i, n in enumerate(per)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get() for _ in workers]
    for worker in workers:
        worker.join()
    if limit:
        seconds = max(end for *_, end in results) - min(start for *_, start, _ in results)
    del started
    latencies = sorted(x for lat, *_ in results for x in lat)
    errors = sum(e for _, e, *_ in results)

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000, 3) if latencies else 0.0

    return LoadResult(
        requests=len(latencies),
        seconds=round(seconds, 3),
        rps=round(len(latencies) / seconds, 1),
        p50_ms=pct(50),
        p90_ms=pct(90),
        p99_ms=pct(99),
        max_ms=round(latencies[-1] * 1000, 3) if latencies else 0.0,
        errors=errors,
        generator=f"python x{processes}",
    )
