"""The scenarios. Each measures the service and, in the same run and on the same machine state, its floor; the
verdict is on the ratio (or on an absolute target where the issue sets one).

Every scenario function takes a ``Config`` and returns a list of ``Row``s (one per table line) whose ``raw`` holds
every figure measured.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import infra
from bench.load import LoadResult, run_load
from bench.seed import seed_store

# --------------------------------------------------------------------------------------------------------------------


@dataclass
class Config:
    work_dir: Path
    quick: bool = False
    pg_url: str | None = None
    duration: float = 10.0
    warmup: float = 2.0
    get_endpoints: int = 10_000
    get_connections: int = 32
    post_clients: tuple[int, ...] = (1, 16)
    rebuild_sizes: tuple[int, ...] = (100_000, 1_000_000)
    pg_rebuild_sizes: tuple[int, ...] = (100_000,)
    coldstart_endpoints: int = 100_000
    coldstart_history_events: int = 10_000_000
    """Events of the ``coldstart-history`` store: its ``coldstart_endpoints`` endpoints and updates for the rest
    (10M: 100k endpoints with ~100 updates each, issue 17's years of history)."""
    propagation_writes: int = 1000
    propagation_rate: float = 100.0
    changeset_items: int = 10_000
    streams: int = int(os.environ.get("BENCH_STREAMS", "200"))
    stream_writes: int = 100
    profile_dir: Path | None = None
    http_repeats: int = 2

    @classmethod
    def make(cls, work_dir: Path, quick: bool, pg_url: str | None) -> Config:
        if not quick:
            return cls(work_dir=work_dir, pg_url=pg_url)
        return cls(
            work_dir=work_dir,
            quick=True,
            pg_url=pg_url,
            duration=3.0,
            warmup=1.0,
            rebuild_sizes=(100_000,),
            pg_rebuild_sizes=(20_000,),
            coldstart_endpoints=100_000,
            propagation_writes=300,
            http_repeats=1,
        )

    def postgres(self) -> infra.Postgres | None:
        if not self.pg_url:
            return None
        pg = infra.Postgres(self.pg_url)
        return pg if pg.available() else None


@dataclass
class Row:
    scenario: str
    variant: str
    measured: str
    baseline: str
    ratio: float | None
    target: str
    met: bool | None
    raw: dict[str, object] = field(default_factory=dict)


def _load_text(result: LoadResult) -> str:
    errors = f", {result.errors} errors" if result.errors else ""
    return f"{result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms{errors}"


_BASES = itertools.count(0, 8)
"""Area-code bases of POST runs: every run (and its warm-up, at +4) creates numbers no other run creates."""


def _measure(url: str, connections: int, config: Config, post: bool = False, base: int | None = None) -> LoadResult:
    base = next(_BASES) if base is None else base
    run_load(url, connections, config.warmup, post=post, base=base + 4)  # other area codes: no 409s
    return run_load(url, connections, config.duration, post=post, base=base)


def _pair(
    config: Config,
    baseline_url: str,
    service_url: str,
    connections: int,
    post: bool = False,
    profile: tuple[int, str] | None = None,
) -> tuple[LoadResult, LoadResult, list[dict[str, object]]]:
    """Baseline and service measured alternately ``config.http_repeats`` times with the same generator; the best
    run of each is kept (the least disturbed by other processes on the machine), every run is returned."""
    runs: list[dict[str, object]] = []
    best_base = best_service = None
    for attempt in range(config.http_repeats):
        base_result = _measure(baseline_url, connections, config, post=post)
        spy = _profile(profile[0], profile[1], config, config.duration) if profile and attempt == 0 else None
        result = _measure(service_url, connections, config, post=post)
        if spy is not None:
            spy.wait()
        runs.append({"baseline": base_result.as_dict(), "service": result.as_dict()})
        if best_base is None or base_result.rps > best_base.rps:
            best_base = base_result
        if best_service is None or result.rps > best_service.rps:
            best_service = result
    assert best_base is not None
    assert best_service is not None
    return best_base, best_service, runs


def _profile(pid: int, name: str, config: Config, seconds: float) -> subprocess.Popen | None:
    """py-spy record of a server during a measurement (``--profile-dir``): collapsed stacks (flamegraph.pl input;
    ``python -m bench.flame FILE`` summarises them) go to the profile dir."""
    if config.profile_dir is None or (
        shutil.which("py-spy") is None and not Path(sys.executable).with_name("py-spy").exists()
    ):
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    config.profile_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            spy,
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds)),
            "-r",
            "200",
            "-f",
            "raw",
            "-o",
            str(config.profile_dir / f"{name}.collapsed.txt"),
            "--nonblocking",
            "--gil",  # only the thread holding the GIL: where the CPU goes (idle and waiting threads are not sampled)
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# -- GET ---------------------------------------------------------------------------------------------------------


def wait_relay_caught_up(port: int, timeout: float = 300.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    health: dict[str, object] = {}
    while time.monotonic() < deadline:
        _status, _, body = infra.http_request(port, "GET", "/health/ready")
        health = json.loads(body)
        if health.get("nats") == "connected" and health.get("relay_lag") == 0:
            return health
        time.sleep(0.2)
    raise TimeoutError(f"relay did not catch up: {health}")


def _get_store(config: Config, name: str) -> tuple[Path, str, str, str]:
    """A fresh SQLite store with ``config.get_endpoints`` endpoints; the paths of one endpoint and of a page."""
    data_dir = config.work_dir / name
    shutil.rmtree(data_dir, ignore_errors=True)
    database_url = f"sqlite:///{data_dir / 'events.db'}"
    data_dir.mkdir(parents=True)
    seeded = seed_store(
        infra.store_env_for(database_url),
        events=2 * config.get_endpoints + 1,
        endpoints=config.get_endpoints,
        keep_ids=1,
    )
    page_path = f"/api/settings/endpoints?page={config.get_endpoints // 200}&page_size=100"
    one_path = f"/api/settings/endpoints/{seeded.endpoint_ids[0]}"
    return data_dir, database_url, one_path, page_path


def _fixture(port: int, data_dir: Path, one_path: str, page_path: str) -> tuple[Path, int, int]:
    """The service's own answers, for the baseline to return (and their sizes)."""
    _, _, one = infra.http_request(port, "GET", one_path)
    _, headers, page = infra.http_request(port, "GET", page_path)
    fixture = data_dir / "fixture.json"
    fixture.write_text(
        json.dumps({"one": json.loads(one), "page": json.loads(page), "total": headers.get("x-total-count", "0")})
    )
    return fixture, len(one), len(page)


def scenario_get(config: Config) -> list[Row]:
    data_dir, database_url, one_path, page_path = _get_store(config, "get")
    rows: list[Row] = []
    with infra.nats_server(config.work_dir) as nats:
        service = infra.start_service(data_dir, database_url, nats.url)
        baseline = None
        try:
            wait_relay_caught_up(service.port)
            fixture, one_size, page_size = _fixture(service.port, data_dir, one_path, page_path)
            baseline = infra.start_baseline("get", fixture=fixture)
            for name, path in (("one endpoint", one_path), ("page of 100 of 10,000", page_path)):
                base_result, result, runs = _pair(
                    config,
                    f"http://127.0.0.1:{baseline.port}{path}",
                    f"http://127.0.0.1:{service.port}{path}",
                    config.get_connections,
                    profile=(service.pid, f"get-{name.split()[0]}"),
                )
                ratio = result.rps / base_result.rps
                rows.append(
                    Row(
                        "GET",
                        f"{name}, {config.get_connections} connections",
                        _load_text(result),
                        _load_text(base_result),
                        round(ratio, 2),
                        ">= 0.7 x baseline req/s",
                        ratio >= 0.7 and result.errors == 0,
                        {
                            "service": result.as_dict(),
                            "baseline": base_result.as_dict(),
                            "path": path,
                            "response_bytes": one_size if name.startswith("one") else page_size,
                            "runs": runs,
                        },
                    )
                )
        finally:
            service.stop()
            if baseline is not None:
                baseline.stop()
    return rows


def _backends(config: Config, scenario: str) -> Iterator[tuple[str, Path, Callable[[str], str]]]:
    """Each backend in turn (SQLite, then PostgreSQL when configured): its name, a fresh data dir, and a function
    giving a fresh database URL by name (a file in the data dir, or a PostgreSQL database dropped at the end)."""
    pg = config.postgres()
    try:
        for backend in ["SQLite"] + (["PostgreSQL"] if pg is not None else []):
            data_dir = config.work_dir / f"{scenario}-{backend.lower()}"
            shutil.rmtree(data_dir, ignore_errors=True)
            data_dir.mkdir(parents=True)
            if pg is None or backend == "SQLite":
                yield backend, data_dir, lambda name, data_dir=data_dir: f"sqlite:///{data_dir / f'{name}.db'}"
            else:
                yield backend, data_dir, pg.create
    finally:
        if pg is not None:
            pg.drop_all()


# -- POST --------------------------------------------------------------------------------------------------------


def scenario_post(config: Config) -> list[Row]:
    rows: list[Row] = []
    for backend, data_dir, database in _backends(config, "post"):
        service_db, baseline_db = database("events"), database("baseline")
        with infra.nats_server(config.work_dir) as nats:
            service = infra.start_service(data_dir, service_db, nats.url)
            baseline = infra.start_baseline("post", database_url=baseline_db)
            try:
                for clients in config.post_clients:
                    url = "{}/api/settings/endpoints"
                    base_result, result, runs = _pair(
                        config,
                        url.format(f"http://127.0.0.1:{baseline.port}"),
                        url.format(f"http://127.0.0.1:{service.port}"),
                        clients,
                        post=True,
                        profile=(service.pid, f"post-{backend.lower()}-{clients}"),
                    )
                    ratio = result.rps / base_result.rps
                    # Issue 14's targets: one client at 0.6 of the plain INSERT; many clients beat it (group
                    # commit pays one commit per batch where the floor pays one per request), p99 <= 25 ms.
                    floor = 1.0 if clients >= 16 else 0.6
                    met = ratio >= floor and result.errors == 0
                    target = f">= {floor} x baseline req/s"
                    if clients >= 16:
                        met = met and result.p99_ms <= 25
                        target += "; p99 <= 25 ms"
                    rows.append(
                        Row(
                            "POST",
                            f"{backend}, {clients} client{'s' if clients > 1 else ''}",
                            _load_text(result),
                            _load_text(base_result),
                            round(ratio, 2),
                            target,
                            met,
                            {"service": result.as_dict(), "baseline": base_result.as_dict(), "runs": runs},
                        )
                    )
                health = wait_relay_caught_up(service.port, timeout=120)
                rows[-1].raw["relay_after"] = health
            finally:
                service.stop()
                baseline.stop()
    return rows


# -- bulk ----------------------------------------------------------------------------------------------------------


BULK_REQUESTS = 10_000
BULK_CLIENTS = 16


def scenario_bulk(config: Config) -> list[Row]:
    """Bulk provisioning: 10,000 POSTs of new numbers from 16 connections, the wall time from the first request to
    the last answer, on a fresh store of each backend, NATS on; then the endpoint count, which must be every number
    answered 201. The generator is the Python one (``pyload``, two processes): wrk cannot stop after a number of
    requests and report the time it took."""
    from bench.pyload import run_pyload

    rows: list[Row] = []
    for backend, data_dir, database in _backends(config, "bulk"):
        with infra.nats_server(config.work_dir) as nats:
            service = infra.start_service(data_dir, database("events"), nats.url)
            try:
                url = f"http://127.0.0.1:{service.port}/api/settings/endpoints"
                result = run_pyload(url, BULK_CLIENTS, 120, post=True, limit=BULK_REQUESTS // BULK_CLIENTS)
                _, headers, _ = infra.http_request(service.port, "GET", "/api/settings/endpoints?page_size=1")
                stored = int({k.lower(): v for k, v in headers.items()}["x-total-count"])
            finally:
                service.stop()
        rows.append(
            Row(
                "bulk",
                f"{BULK_REQUESTS:,} POSTs, {BULK_CLIENTS} clients, {backend}",
                f"{result.seconds:.2f} s wall ({result.rps:,.0f} req/s, p99 {result.p99_ms:.1f} ms), "
                f"{stored:,} endpoints stored, {result.errors} errors",
                "-",
                None,
                "<= 5 s",
                result.seconds <= 5 and result.errors == 0 and stored >= BULK_REQUESTS,
                {"service": result.as_dict(), "stored": stored},
            )
        )
    return rows


# -- change set ----------------------------------------------------------------------------------------------------


def _cli(port: int, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    """``telephony-settings ARGS`` against the service as a user runs it (a fresh interpreter, the API key and URL
    from the environment); its wall time, interpreter start included."""
    script = Path(sys.executable).with_name("telephony-settings")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEPHONY_")}
    env.update(TELEPHONY_URL=f"http://127.0.0.1:{port}", TELEPHONY_API_KEY=infra.API_KEY, PYTHONPATH=str(infra.ROOT))
    started = time.monotonic()
    done = subprocess.run([*command, *args], env=env, cwd=infra.ROOT, capture_output=True, text=True, timeout=120)
    return time.monotonic() - started, done


def _changeset_once(config: Config, service: infra.ServerProcess, nats_url: str, data_dir: Path) -> dict[str, object]:
    n = config.changeset_items
    body = json.dumps(
        {
            "endpoints": [
                {
                    "op": "create",
                    "phone_number": f"+1777{i:07d}",
                    "provider": "twilio",
                    "inbound_agent_name": f"agent-{i % 50}",
                    "label": f"bench line {i}",
                }
                for i in range(n)
            ]
        }
    ).encode()
    reader = subprocess.Popen(
        [sys.executable, "-m", "bench.subscriber", "--nats-url", nats_url, "--count", str(n)],
        env={**os.environ, "PYTHONPATH": str(infra.ROOT)},
        cwd=infra.ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None
        if reader.stdout.readline().strip() != "READY":
            raise RuntimeError(f"the stream subscriber did not start (exit code {reader.wait()})")
        sent = time.monotonic()
        status, _, answer_body = infra.http_request(service.port, "POST", "/api/settings/changes", body)
        answered = time.monotonic()
        output, _ = reader.communicate(timeout=120)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    answer = json.loads(answer_body)
    if status != 200 or answer.get("applied") is not True:
        raise RuntimeError(f"the change set answered {status}: {answer_body[:500]!r}")
    stream = json.loads(next(line for line in output.splitlines() if line.startswith("BENCH_JSON "))[11:])
    _, headers, _ = infra.http_request(service.port, "GET", "/api/settings/endpoints?page_size=1")
    stored = int({k.lower(): v for k, v in headers.items()}["x-total-count"])

    # config plan on the n endpoints: the file as exported (no changes), then with one label changed
    settings_file = data_dir / "settings.yaml"
    export_s, exported = _cli(service.port, "config", "export", "-o", str(settings_file))
    if exported.returncode != 0:
        raise RuntimeError(f"config export exited {exported.returncode}: {exported.stderr[-500:]}")
    edited_file = data_dir / "settings-edited.yaml"
    text, edits = re.subn(r"^(\s+label: ).*$", r"\1bench line edited", settings_file.read_text(), count=1, flags=re.M)
    if edits != 1:
        raise RuntimeError(f"no label to edit in {settings_file}")
    edited_file.write_text(text)
    plans = {}
    for name, path in (("unchanged", settings_file), ("one_label", edited_file)):
        seconds, done = _cli(service.port, "config", "plan", str(path))
        if done.returncode not in (0, 2):
            raise RuntimeError(f"config plan exited {done.returncode}: {done.stderr[-500:]}")
        plans[name] = {"s": round(seconds, 3), "exit": done.returncode, "summary": done.stdout.strip()[-200:]}
    return {
        "items": n,
        "body_bytes": len(body),
        "post_s": round(answered - sent, 3),
        "status": status,
        "position": answer.get("position"),
        "answered_items": len(answer.get("endpoints") or []),
        "stored": stored,
        "stream_created": stream["created"],
        "stream_complete": stream["complete"],
        "stream_change_sets": stream["change_sets"],
        "stream_other_messages": stream["other_messages"],
        "sent_to_first_s": None if stream["first"] is None else round(stream["first"] - sent, 3),
        "answered_to_first_s": None if stream["first"] is None else round(stream["first"] - answered, 3),
        "answered_to_last_s": None if stream["last"] is None else round(stream["last"] - answered, 3),
        "answered_to_last_stored_s": None
        if stream["last_stored"] is None
        else round(stream["last_stored"] - answered, 3),
        "sent_to_first_stored_s": None if stream["first_stored"] is None else round(stream["first_stored"] - sent, 3),
        "export_s": round(export_s, 3),
        "plan": plans,
    }


def _signed(seconds: float) -> str:
    return f"{round(seconds, 2) + 0.0:+.2f} s"  # + 0.0: no "-0.00"


def scenario_changeset(config: Config) -> list[Row]:
    """A change set of ``config.changeset_items`` creates in one ``POST /api/settings/changes`` on a fresh store of
    each backend, NATS on: the wall time of the POST; when the last of its ``...created`` messages reached a plain
    JetStream subscriber (an ordered consumer in a process of its own, started before the POST) after the answer;
    and the wall time of ``telephony-settings config plan`` (a fresh process) on the exported settings, as exported
    (exit 0) and with one label changed (exit 2)."""
    rows: list[Row] = []
    n = config.changeset_items
    for backend, data_dir, database in _backends(config, "changeset"):
        with infra.nats_server(config.work_dir) as nats:
            service = infra.start_service(data_dir, database("events"), nats.url)
            try:
                wait_relay_caught_up(service.port, timeout=60)
                raw = _changeset_once(config, service, nats.url, data_dir)
            finally:
                service.stop()
        raw["backend"] = backend
        stream_raw = {k: v for k, v in raw.items() if k.startswith(("stream_", "sent_to_", "answered_to_"))}
        plan_raw = {"export_s": raw["export_s"], "plan": raw["plan"], "stored": raw["stored"]}
        limit = 2.0 if backend == "SQLite" else 4.0
        stored_ok = raw["stored"] == raw["answered_items"] == n
        rows.append(
            Row(
                "changeset",
                f"{n:,} creates in one POST, {backend}",
                f"{raw['post_s']:.2f} s wall ({raw['body_bytes'] / 1e6:.1f} MB body), {raw['stored']:,} endpoints "
                f"stored, position {raw['position']}",
                "-",
                None,
                f"<= {limit:g} s",
                raw["post_s"] <= limit and stored_ok,
                raw,
            )
        )
        last = raw["answered_to_last_s"]
        missing = n - raw["stream_created"]
        rows.append(
            Row(
                "changeset",
                f"answer -> last of {n:,} messages at a stream subscriber, {backend}",
                (f"{_signed(last)} after the answer" if last is not None else "none arrived")
                + (
                    f" (first {_signed(raw['answered_to_first_s'])}; the stream stored the last "
                    f"{_signed(raw['answered_to_last_stored_s'])} after the answer)"
                    if last is not None
                    else ""
                )
                + (f", {missing:,} missing" if missing else ""),
                "-",
                None,
                "<= 2 s, none missing",
                last is not None and last <= 2.0 and missing == 0,
                {**stream_raw, "post_s": raw["post_s"]},
            )
        )
        plans = raw["plan"]
        unchanged, one_label = plans["unchanged"], plans["one_label"]  # type: ignore[index]
        rows.append(
            Row(
                "changeset",
                f"config plan on {n:,} endpoints (fresh process), {backend}",
                f"{one_label['s']:.2f} s wall with one label changed (exit {one_label['exit']}); "
                f"{unchanged['s']:.2f} s as exported (exit {unchanged['exit']}); export {raw['export_s']:.2f} s",
                "-",
                None,
                "<= 2 s",
                max(one_label["s"], unchanged["s"]) <= 2.0 and one_label["exit"] == 2 and unchanged["exit"] == 0,
                plan_raw,
            )
        )
    return rows


# -- propagation -------------------------------------------------------------------------------------------------


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))], 3)

    return {
        "n": len(ordered),
        "p50": pct(50),
        "p90": pct(90),
        "p99": pct(99),
        "max": round(ordered[-1], 3),
        "mean": round(statistics.fmean(ordered), 3),
    }


class _HttpClient:
    """One keep-alive HTTP/1.1 connection on asyncio streams (enough for 100 writes/s, and exact about timing)."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def __aenter__(self) -> _HttpClient:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.writer.close()

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {infra.API_KEY}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return status, await self.reader.readexactly(length)


async def _propagation(service_port: int, nats_url: str, writes: int, rate: float) -> dict[str, object]:
    import nats
    from nats.js.api import DeliverPolicy, KeyValueConfig, StorageType, StreamConfig

    from events import wire
    from events.phone_numbers import e164_digits

    client = await nats.connect(nats_url)
    js = client.jetstream()
    loop = asyncio.get_running_loop()
    now = time.perf_counter

    # --- the service: POST answered -> stream subscriber / KV watcher has it
    stream_seen: dict[str, float] = {}
    kv_seen: dict[str, float] = {}

    async def on_stream(msg) -> None:
        stream_seen[msg.subject.split(".")[3]] = now()

    sub = await js.subscribe(
        "telephony.settings.endpoints.*.created", cb=on_stream, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )
    bucket = await js.key_value(wire.KV_BUCKET)
    watcher = await bucket.watch("routes.>")

    async def watch_kv() -> None:
        async for entry in watcher:
            if entry is not None:
                kv_seen[entry.key[len(wire.KV_ROUTE_PREFIX) :]] = now()

    watching = asyncio.create_task(watch_kv())
    await asyncio.sleep(0.5)  # let the watcher deliver the current values
    answered: dict[str, float] = {}
    sent: dict[str, float] = {}
    post_latency: list[float] = []
    interval = 1.0 / rate
    async with _HttpClient(service_port) as http:
        start = now()
        for i in range(writes):
            await asyncio.sleep(max(0.0, start + i * interval - now()))
            number = f"+1999{i:07d}"
            body = (f'{{"phone_number":"{number}","provider":"twilio","inbound_agent_name":"agent-{i % 50}"}}').encode()
            digits = e164_digits(number)
            t0 = now()
            sent[digits] = t0
            status, _ = await http.post("/api/settings/endpoints", body)
            answered[digits] = now()
            post_latency.append((answered[digits] - t0) * 1000)
            if status != 201:
                raise RuntimeError(f"POST answered {status}")
    deadline = now() + 10
    while (len(stream_seen) < writes or len(kv_seen) < writes) and now() < deadline:
        await asyncio.sleep(0.05)
    await sub.unsubscribe()
    watching.cancel()
    await watcher.stop()
    to_stream = [(stream_seen[d] - answered[d]) * 1000 for d in answered if d in stream_seen]
    to_kv = [(kv_seen[d] - answered[d]) * 1000 for d in answered if d in kv_seen]
    sent_to_stream = [(stream_seen[d] - sent[d]) * 1000 for d in sent if d in stream_seen]

    # --- the floor: raw JetStream publish -> receive, and raw KV put -> watch, on the same server
    await js.add_stream(
        StreamConfig(name="BENCH_RAW", subjects=["bench.raw.>"], storage=StorageType.FILE, duplicate_window=120.0)
    )
    raw_kv = await js.create_key_value(KeyValueConfig(bucket="bench_raw", history=1, storage=StorageType.FILE))
    raw_seen: dict[str, float] = {}
    raw_kv_seen: dict[str, float] = {}

    async def on_raw(msg) -> None:
        raw_seen[msg.subject.split(".")[2]] = now()

    raw_sub = await js.subscribe("bench.raw.>", cb=on_raw, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW)
    raw_watcher = await raw_kv.watch("r.>")

    async def watch_raw() -> None:
        async for entry in raw_watcher:
            if entry is not None:
                raw_kv_seen[entry.key[2:]] = now()

    raw_watching = asyncio.create_task(watch_raw())
    await asyncio.sleep(0.5)
    published: dict[str, float] = {}
    put: dict[str, float] = {}
    payload = b'{"x":"' + b"y" * 400 + b'"}'
    start = now()
    for i in range(writes):
        await asyncio.sleep(max(0.0, start + i * interval - now()))
        key = str(i)
        published[key] = now()
        await js.publish(f"bench.raw.{key}", payload, headers={"Nats-Msg-Id": f"raw:{key}"})
        put[key] = now()
        await raw_kv.put(f"r.{key}", payload)
    deadline = now() + 10
    while (len(raw_seen) < writes or len(raw_kv_seen) < writes) and now() < deadline:
        await asyncio.sleep(0.05)
    raw_latency = [(raw_seen[k] - published[k]) * 1000 for k in published if k in raw_seen]
    raw_kv_latency = [(raw_kv_seen[k] - put[k]) * 1000 for k in put if k in raw_kv_seen]
    await raw_sub.unsubscribe()
    raw_watching.cancel()
    await raw_watcher.stop()
    await js.delete_stream("BENCH_RAW")
    await js.delete_key_value("bench_raw")
    await client.close()
    del loop
    return {
        "writes": writes,
        "rate": rate,
        "post_ms": _percentiles(post_latency),
        "answered_to_stream_ms": _percentiles(to_stream),
        "answered_to_kv_ms": _percentiles(to_kv),
        "sent_to_stream_ms": _percentiles(sent_to_stream),
        "raw_publish_to_receive_ms": _percentiles(raw_latency),
        "raw_kv_put_to_watch_ms": _percentiles(raw_kv_latency),
        "missing_stream": writes - len(to_stream),
        "missing_kv": writes - len(to_kv),
    }


def scenario_propagation(config: Config) -> list[Row]:
    data_dir = config.work_dir / "propagation"
    shutil.rmtree(data_dir, ignore_errors=True)
    with infra.nats_server(config.work_dir) as nats:
        service = infra.start_service(data_dir, f"sqlite:///{data_dir / 'events.db'}", nats.url)
        try:
            wait_relay_caught_up(service.port)
            time.sleep(1.0)  # the relay has created the stream and bucket
            raw = asyncio.run(_propagation(service.port, nats.url, config.propagation_writes, config.propagation_rate))
        finally:
            service.stop()
    rows = []
    for label, key, floor in (
        ("POST answered -> stream subscriber", "answered_to_stream_ms", "raw_publish_to_receive_ms"),
        ("POST answered -> KV watcher", "answered_to_kv_ms", "raw_kv_put_to_watch_ms"),
    ):
        measured, baseline = raw[key], raw[floor]
        missing = raw["missing_stream" if "stream" in key else "missing_kv"]
        floor_name = "raw publish->receive" if "stream" in key else "raw put->watch"
        met = measured.get("n", 0) > 0 and measured["p50"] <= 3 and measured["p99"] <= 15 and missing == 0
        rows.append(
            Row(
                "propagation",
                f"{label}, {config.propagation_rate:.0f} writes/s (SQLite)",
                f"p50 {measured['p50']:.2f} ms, p99 {measured['p99']:.2f} ms"
                + (f", {missing} lost" if missing else ""),
                f"p50 {baseline['p50']:.2f} ms, p99 {baseline['p99']:.2f} ms ({floor_name})",
                None,
                "p50 <= 3 ms, p99 <= 15 ms",
                met,
                raw,
            )
        )
    return rows


# -- rebuild -----------------------------------------------------------------------------------------------------


def _cached_sqlite(config: Config, name: str, seeder: Callable[[str], object]) -> str:
    """A seeded SQLite store kept in the work dir between runs (seeding a million events is the slow part)."""
    cache = config.work_dir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{name}.db"
    done = cache / f"{name}.done"
    url = f"sqlite:///{path}"
    if not done.exists():
        for stale in cache.glob(f"{name}.db*"):
            stale.unlink()
        seeder(url)
        done.write_text(json.dumps({"seeded_at": time.time()}))
    return url


def _worker(*args: str) -> dict[str, object]:
    output = subprocess.run(
        [sys.executable, "-m", "bench.worker", *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(infra.ROOT)},
        cwd=infra.ROOT,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH_JSON "))
    return json.loads(line[len("BENCH_JSON ") :])


def scenario_rebuild(config: Config) -> list[Row]:
    rows = []
    targets: list[tuple[str, int, str]] = []
    for size in config.rebuild_sizes:
        url = _cached_sqlite(config, f"rebuild-{size}", lambda u, n=size: seed_store(infra.store_env_for(u), n))
        targets.append(("SQLite", size, url))
    pg = config.postgres()
    try:
        if pg is not None:
            for size in config.pg_rebuild_sizes:
                url = pg.create(f"rebuild{size}")
                seed_store(infra.store_env_for(url), size)
                targets.append(("PostgreSQL", size, url))
        for backend, size, url in targets:
            args = ["rebuild", "--database-url", url, "--repeats", str(2 if size > 200_000 else 3)]
            if config.profile_dir is not None:
                config.profile_dir.mkdir(parents=True, exist_ok=True)
                args += ["--profile", str(config.profile_dir / f"rebuild-{backend.lower()}-{size}.txt")]
            raw = _worker(*args)
            ratio = raw["rebuild_eps"] / raw["raw_eps"]
            sqlite = backend == "SQLite"
            rows.append(
                Row(
                    "rebuild",
                    f"{backend}, {size:,} events",
                    f"{raw['rebuild_eps']:,} events/s ({raw['rebuild_s']} s; best of {raw['repeats']})",
                    f"{raw['raw_eps']:,} events/s ({raw['raw_s']} s; best of {raw['repeats']})",
                    round(ratio, 2),
                    ">= 100k events/s on SQLite" if sqlite else "- (reported)",
                    raw["rebuild_eps"] >= 100_000 if sqlite else None,
                    raw,
                )
            )
    finally:
        if pg is not None:
            pg.drop_all()
    return rows


# -- cold start --------------------------------------------------------------------------------------------------


async def _mark_published(nats_url: str, position: int) -> None:
    """Make a fresh NATS look like one the relay has published everything to (a restart of a caught-up service):
    the stream's last message carries the store's head position, and the bucket exists."""
    import nats

    from events import wire
    from service.publish.relay import ensure_bucket, ensure_stream

    client = await nats.connect(nats_url)
    js = client.jetstream()
    await ensure_stream(js)
    await ensure_bucket(js)
    await js.publish(
        wire.PROVIDER_SUBJECT, b"{}", headers={wire.HEADER_POSITION: str(position), wire.HEADER_MSG_ID: "bench:mark"}
    )
    await client.close()


def _endpoints_store(config: Config, n: int) -> str:
    """The cached SQLite store of ``n`` endpoints (``2n + 1`` events): its URL."""
    return _cached_sqlite(
        config, f"coldstart-{n}", lambda u: seed_store(infra.store_env_for(u), 2 * n + 1, endpoints=n)
    )


def scenario_coldstart(config: Config) -> list[Row]:
    n = config.coldstart_endpoints
    url = _endpoints_store(config, n)
    variants = [("NATS off", False, False), ("NATS off, from its snapshot", False, True)]
    variants.append(("NATS on, relay caught up", True, False))
    rows = [_cold_start(config, url, f"{n:,} endpoints ({2 * n + 1:,} events, SQLite)", *v) for v in variants]
    pg = config.postgres()
    if pg is not None:  # a replica on PostgreSQL starts from the snapshot in the database (written by any replica)
        try:
            pg_url = pg.create(f"coldstart{n}")
            seed_store(infra.store_env_for(pg_url), 2 * n + 1, endpoints=n)
            what = f"{n:,} endpoints ({2 * n + 1:,} events, PostgreSQL)"
            rows.append(_cold_start(config, pg_url, what, "NATS off, full fold", False, False))
            rows.append(_cold_start(config, pg_url, what, "NATS off, from its snapshot", False, True))
        finally:
            pg.drop_all()
    return rows


def scenario_coldstart_history(config: Config) -> list[Row]:
    """Issue 17's start with years of history: the full fold, then the start from the snapshot that the first start
    wrote at its shutdown (and the snapshot's own write time, from the service's log)."""
    n, events = config.coldstart_endpoints, config.coldstart_history_events
    url = _cached_sqlite(
        config, f"coldstart-history-{n}-{events}", lambda u: seed_store(infra.store_env_for(u), events, endpoints=n)
    )
    what = f"{n:,} endpoints, {events:,} events (SQLite)"
    full = _cold_start(config, url, what, "full fold", False, False, target=None)
    snapshot = _cold_start(config, url, what, "from its snapshot", False, True, target=(3.0, 250.0))
    return [full, snapshot]


def _snapshot_path(url: str) -> Path:
    return Path(url[len("sqlite:///") :] + ".snapshot")


def _snapshot_exists(url: str, drop: bool = False) -> bool:
    """Whether the store at ``url`` has a read-model snapshot (a file beside SQLite, a row in PostgreSQL); with
    ``drop``, remove it first (the next start folds the whole log)."""
    if url.startswith("sqlite"):
        if drop:
            _snapshot_path(url).unlink(missing_ok=True)
        return _snapshot_path(url).exists()
    import psycopg

    from service.read.snapshots import TABLE

    with psycopg.connect(url, autocommit=True) as connection:
        if connection.execute("SELECT to_regclass(%s)", [TABLE]).fetchone()[0] is None:
            return False
        if drop:
            connection.execute(f"DELETE FROM {TABLE}")
        return connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] > 0


def _cold_start(
    config: Config,
    url: str,
    what: str,
    variant: str,
    with_nats: bool,
    from_snapshot: bool,
    target: tuple[float, float] | None = (5.0, 200.0),
) -> Row:
    """Spawn ``serve`` on the store at ``url`` -> first 200 from /health/ready; RSS then and once settled. Without
    ``from_snapshot`` the snapshot is removed first (a full fold); with it, the one the previous start wrote stays."""
    if not from_snapshot:
        _snapshot_exists(url, drop=True)
    elif not _snapshot_exists(url):
        raise RuntimeError(f"no snapshot for {url}: run the full-fold variant first")
    data_dir = config.work_dir / "coldstart"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    with infra.nats_server(config.work_dir) as nats:
        nats_url = None
        if with_nats:
            nats_url = nats.url
            head = _store_head(url)
            asyncio.run(_mark_published(nats.url, head))
        service = infra.start_service(data_dir, url, nats_url, wait=False)
        try:
            service.ready_at = infra.wait_http(service.port, "/health/ready", 600, service.process)
            ready_s = service.ready_at - service.started_at
            rss_ready = infra.rss_mb(service.pid)
            settled: dict[str, object] = {}
            if nats_url is not None:
                settled = wait_relay_caught_up(service.port, timeout=120)
                time.sleep(0.5)
            _, _, _body = infra.http_request(service.port, "GET", "/api/settings/endpoints?page=1&page_size=1")
            rss_settled = infra.rss_mb(service.pid)
            peak = infra.peak_rss_mb(service.pid)
        finally:
            stop_started = time.monotonic()
            service.stop()  # writes the snapshot the next start may use
            stop_s = time.monotonic() - stop_started
    rss = max(rss_ready, rss_settled)
    met = None if target is None else ready_s <= target[0] and rss <= target[1]
    return Row(
        "cold start",
        f"{what}, {variant}",
        f"ready in {ready_s:.2f} s; RSS {rss:.0f} MB (peak {peak:.0f} MB); stop (snapshot written) {stop_s:.2f} s",
        "-",
        None,
        "-" if target is None else f"ready <= {target[0]:g} s; <= {target[1]:g} MB RSS",
        met,  # type: ignore[arg-type]
        {
            "ready_s": round(ready_s, 3),
            "rss_at_ready_mb": round(rss_ready, 1),
            "rss_settled_mb": round(rss_settled, 1),
            "peak_rss_mb": round(peak, 1),
            "stop_s": round(stop_s, 3),
            "health": settled,
        },
    )


def _store_head(url: str) -> int:
    import sqlite3

    with sqlite3.connect(url[len("sqlite:///") :]) as connection:
        (head,) = connection.execute("SELECT MAX(rowid) FROM stored_events").fetchone()
    return int(head or 0)


# -- snapshot writes under write load ---------------------------------------------------------------------------

SNAPSHOT_LOAD_EVERY = 5_000
"""Events between background snapshots in the measured variant: ten times the default's frequency, so that a
10-second run at full write rate writes several."""
SNAPSHOT_WRITTEN = re.compile(r"snapshot written at position \d+ \((\d+) endpoints, (\d+) bytes\) in ([\d.]+) s")


def scenario_snapshot_load(config: Config) -> list[Row]:
    """Issue 17: what writing read-model snapshots costs the write path. Two services on copies of the same store
    (100k endpoints): one writes a snapshot every ``SNAPSHOT_LOAD_EVERY`` events, the other none during the run
    (``TELEPHONY_SNAPSHOT_EVERY=0``); POSTs from 16 clients, measured alternately, NATS off (only this cost)."""
    n = config.coldstart_endpoints
    seeded = _endpoints_store(config, n)
    services: dict[str, infra.ServerProcess] = {}
    try:
        for name, every in (("none", 0), ("every", SNAPSHOT_LOAD_EVERY)):
            data_dir = config.work_dir / f"snapshot-load-{name}"
            shutil.rmtree(data_dir, ignore_errors=True)
            data_dir.mkdir(parents=True)
            shutil.copyfile(seeded[len("sqlite:///") :], data_dir / "events.db")
            services[name] = infra.start_service(
                data_dir, f"sqlite:///{data_dir / 'events.db'}", env={"TELEPHONY_SNAPSHOT_EVERY": str(every)}
            )
        url = "http://127.0.0.1:{}/api/settings/endpoints"
        while next(_BASES) < 8:  # the seeded numbers are in area codes 201..: the loads' first bases would be 409s
            pass
        without, with_snapshots, runs = _pair(
            config, url.format(services["none"].port), url.format(services["every"].port), 16, post=True
        )
        time.sleep(1.0)  # the follower's tick after the last writes
        writes = [
            (int(m.group(1)), int(m.group(2)), float(m.group(3)))
            for m in SNAPSHOT_WRITTEN.finditer(services["every"].log_path.read_text(errors="replace"))
        ]
    finally:
        for service in services.values():
            service.stop()
    seconds = [w[2] for w in writes]
    ratio = with_snapshots.rps / without.rps
    described = (
        f"{len(writes)} written, {statistics.mean(seconds):.2f} s mean, {max(seconds):.2f} s max, "
        f"{writes[-1][1] / 1e6:.1f} MB ({writes[-1][0]:,} endpoints)"
        if writes
        else "none written"
    )
    return [
        Row(
            "snapshot writes under load",
            f"POST SQLite, 16 clients, {n:,} endpoints, a snapshot every {SNAPSHOT_LOAD_EVERY:,} events ({described})",
            _load_text(with_snapshots),
            _load_text(without) + " (no snapshot during the run)",
            round(ratio, 2),
            ">= 0.9 x req/s without snapshots",
            ratio >= 0.9 and bool(writes) and with_snapshots.errors == 0,
            {
                "with_snapshots": with_snapshots.as_dict(),
                "without": without.as_dict(),
                "runs": runs,
                "snapshot_writes": [{"endpoints": e, "bytes": b, "seconds": t} for e, b, t in writes],
            },
        )
    ]


# -- live streams --------------------------------------------------------------------------------------------------


async def _streams_run(port: int, pid: int, streams: int, writes: int) -> dict[str, object]:
    """Open ``streams`` live streams, then POST ``writes`` endpoints at 50/s: RSS before and with the streams open,
    and for every (stream, change) the time from the POST's answer to the event on that stream."""
    answered: dict[str, float] = {}
    arrivals: list[dict[str, float]] = [{} for _ in range(streams)]
    now = time.perf_counter

    async def follow(index: int, ready: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"GET /api/settings/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {infra.API_KEY}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        ready.set()
        try:
            while len(arrivals[index]) < writes:
                line = await reader.readline()
                if not line:
                    return
                if b'"phone_number":"' in line:  # a data: line of an endpoint event
                    number = line.split(b'"phone_number":"', 1)[1].split(b'"', 1)[0].decode()
                    arrivals[index].setdefault(number, now())
        finally:
            writer.close()

    rss_idle = infra.rss_mb(pid)
    readies = [asyncio.Event() for _ in range(streams)]
    opening = now()
    tasks = [asyncio.create_task(follow(i, readies[i])) for i in range(streams)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=300)
    open_s = now() - opening
    await asyncio.sleep(1.0)
    rss_open = infra.rss_mb(pid)
    async with _HttpClient(port) as client:
        for n in range(writes):
            number = f"+1 699 555 {n:04d}"
            started = now()
            status, _ = await client.post(
                "/api/settings/endpoints", json.dumps({"phone_number": number, "provider": "twilio"}).encode()
            )
            if status != 201:
                raise RuntimeError(f"POST answered {status}")
            answered[f"+1699555{n:04d}"] = now()
            await asyncio.sleep(max(0.0, 1 / 50 - (now() - started)))
    _, pending = await asyncio.wait(tasks, timeout=60)
    for task in pending:
        task.cancel()
    rss_after = infra.rss_mb(pid)
    latencies = [(seen[number] - answered[number]) * 1000 for seen in arrivals for number in seen if number in answered]
    return {
        "open_s": round(open_s, 3),
        "rss_idle_mb": round(rss_idle, 1),
        "rss_streams_open_mb": round(rss_open, 1),
        "rss_after_writes_mb": round(rss_after, 1),
        "delivered": len(latencies),
        "expected": streams * writes,
        "latency_ms": _percentiles(latencies),
    }


def scenario_streams(config: Config) -> list[Row]:
    """What open live streams cost: ``config.streams`` of them on the 100k-endpoint store, RSS against the idle service,
    and the delay from a POST's answer to its event on every stream."""
    n = config.coldstart_endpoints
    seeded = _endpoints_store(config, n)
    data_dir = config.work_dir / "streams"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    shutil.copyfile(seeded[len("sqlite:///") :], data_dir / "events.db")
    service = infra.start_service(data_dir, f"sqlite:///{data_dir / 'events.db'}")
    try:
        infra.http_request(service.port, "GET", "/api/settings/endpoints?page=1&page_size=1")
        raw = asyncio.run(_streams_run(service.port, service.pid, config.streams, config.stream_writes))
    finally:
        service.stop()
    latency = raw["latency_ms"]
    assert isinstance(latency, dict)
    ratio = float(raw["rss_streams_open_mb"]) / float(raw["rss_idle_mb"])  # type: ignore[arg-type]
    complete = raw["delivered"] == raw["expected"]
    return [
        Row(
            "live streams",
            f"{config.streams} open streams, {n:,} endpoints (SQLite), {config.stream_writes} POSTs at 50/s",
            f"all open in {raw['open_s']:.2f} s; RSS {raw['rss_idle_mb']} -> {raw['rss_streams_open_mb']} MB open -> "
            f"{raw['rss_after_writes_mb']} MB "
            f"after the writes; POST answer -> event on each stream p50 {latency.get('p50', 0):.1f} ms, "
            f"p99 {latency.get('p99', 0):.1f} ms; {raw['delivered']:,}/{raw['expected']:,} delivered",
            "the same service idle",
            round(ratio, 2),
            "RSS with the streams open <= 1.5 x idle; every event on every stream; p99 <= 250 ms",
            ratio <= 1.5 and complete and latency.get("p99", 1e9) <= 250,
            raw,
        )
    ]


# -- the load generator's own ceiling -----------------------------------------------------------------------------


def scenario_loadgen(config: Config) -> list[Row]:
    """How fast the load generators go against the cheapest server there is (the GET baseline)."""
    from bench.load import run_wrk, wrk_available
    from bench.pyload import run_pyload

    data_dir = config.work_dir / "loadgen"
    data_dir.mkdir(parents=True, exist_ok=True)
    fixture = data_dir / "fixture.json"
    one = {
        "id": "00000000-0000-0000-0000-000000000000",
        "phone_number": "+15551234567",
        "provider": "twilio",
        "inbound_agent_name": "a",
        "outbound_agent_name": None,
        "label": None,
        "is_active": True,
        "created_at": "2026-01-01T00:00:00",
        "updated_at": "2026-01-01T00:00:00",
        "inbound_webhook_url": None,
    }
    fixture.write_text(json.dumps({"one": one, "page": [one], "total": 1}))
    baseline = infra.start_baseline("get", fixture=fixture)
    rows = []
    try:
        url = f"http://127.0.0.1:{baseline.port}/api/settings/endpoints/x"
        results = {}
        if wrk_available():
            results["wrk"] = run_wrk(url, 32, config.duration)
        results["python"] = run_pyload(url, 32, config.duration)
        for name, result in results.items():
            rows.append(
                Row(
                    "load generator",
                    f"{name} vs bare Litestar GET, 32 connections",
                    _load_text(result),
                    "-",
                    None,
                    "(ceiling of the generator)",
                    None,
                    {"result": result.as_dict()},
                )
            )
    finally:
        baseline.stop()
    return rows


def scenario_whatif(config: Config) -> list[Row]:
    """The potential of changes proposed for files this harness's author may not edit (see ``bench.whatif``):
    the service with each applied in memory, beside the unpatched service and the bare baseline. NATS off. Every
    variant is measured ``config.http_repeats`` times in alternating rounds; the best run of each is kept."""
    data_dir, database_url, one_path, _ = _get_store(config, "whatif")
    everything = "quiet-access-log,switch-interval"
    variants = ["", "quiet-access-log", "switch-interval", everything]
    probe = infra.start_service(data_dir, database_url)
    try:
        fixture, _, _ = _fixture(probe.port, data_dir, one_path, "/api/settings/endpoints?page=1&page_size=1")
    finally:
        probe.stop()
    post_dir = config.work_dir / "whatif-post"
    shutil.rmtree(post_dir, ignore_errors=True)
    post_dir.mkdir(parents=True)
    post_variants = ["", everything]
    best: dict[tuple[str, str], LoadResult] = {}
    runs: dict[tuple[str, str], list[dict[str, object]]] = {}

    def keep(key: tuple[str, str], result: LoadResult) -> None:
        runs.setdefault(key, []).append(result.as_dict())
        if key not in best or result.rps > best[key].rps:
            best[key] = result

    for _ in range(config.http_repeats):
        baseline = infra.start_baseline("get", fixture=fixture)
        try:
            keep(("get", "baseline"), _measure(f"http://127.0.0.1:{baseline.port}{one_path}", 32, config))
        finally:
            baseline.stop()
        for patches in variants:
            service = infra.start_service(data_dir, database_url, patches=patches)
            try:
                keep(("get", patches), _measure(f"http://127.0.0.1:{service.port}{one_path}", 32, config))
            finally:
                service.stop()
        baseline = infra.start_baseline("post", database_url=f"sqlite:///{post_dir / 'baseline.db'}")
        try:
            url = f"http://127.0.0.1:{baseline.port}/api/settings/endpoints"
            keep(("post", "baseline"), _measure(url, 16, config, post=True))
        finally:
            baseline.stop()
        for patches in post_variants:
            service = infra.start_service(post_dir, f"sqlite:///{post_dir / 'events.db'}", patches=patches)
            try:
                url = f"http://127.0.0.1:{service.port}/api/settings/endpoints"
                keep(("post", patches), _measure(url, 16, config, post=True))
            finally:
                service.stop()
    rows: list[Row] = []
    for kind, names in (("get", variants), ("post", post_variants)):
        base_result = best[(kind, "baseline")]
        for patches in names:
            result = best[(kind, patches)]
            ratio = result.rps / base_result.rps
            if kind == "get":
                label, variant = "what-if GET", f"one endpoint, {patches or 'as committed'}"
                target, met = ">= 0.7 x baseline req/s", ratio >= 0.7
            else:
                label, variant = "what-if POST", f"SQLite, 16 clients, NATS off, {patches or 'as committed'}"
                target = ">= 0.6 x baseline req/s; p99 <= 25 ms"
                met = ratio >= 0.6 and result.p99_ms <= 25 and result.errors == 0
            rows.append(
                Row(
                    label,
                    variant,
                    _load_text(result),
                    _load_text(base_result),
                    round(ratio, 2),
                    target,
                    met,
                    {
                        "service": result.as_dict(),
                        "baseline": base_result.as_dict(),
                        "patches": patches,
                        "runs": runs[(kind, patches)],
                        "baseline_runs": runs[(kind, "baseline")],
                    },
                )
            )
    return rows


SCENARIOS: dict[str, Callable[[Config], list[Row]]] = {
    "get": scenario_get,
    "post": scenario_post,
    "bulk": scenario_bulk,
    "changeset": scenario_changeset,
    "propagation": scenario_propagation,
    "rebuild": scenario_rebuild,
    "coldstart": scenario_coldstart,
}
EXTRA: dict[str, Callable[[Config], list[Row]]] = {
    "loadgen": scenario_loadgen,
    "whatif": scenario_whatif,
    "coldstart-history": scenario_coldstart_history,  # seeds 10M events once (cached): minutes
    "snapshot-load": scenario_snapshot_load,
    "streams": scenario_streams,
}
