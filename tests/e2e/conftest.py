"""End-to-end tier: the real ``telephony-settings serve`` process, spoken to over HTTP.

``service_factory`` starts servers: each one is a separate OS process on a free port, with its own data dir
(and, optionally, a PostgreSQL database), its output captured to a log file. A ``ServiceProcess`` can be stopped
gracefully (SIGTERM, then SIGKILL after a bounded wait), killed outright (SIGKILL, like a crash), and started again
on the same data dir and database. Every wait is bounded and polls for a condition; no test sleeps for correctness.
When a test fails, the captured output of every server it started is attached to the report.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.clients import AUTH, TEST_API_KEYS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0
"""Seconds a server may take to answer GET /health/live (generous: CI machines can be slow and loaded)."""
STOP_TIMEOUT = 15.0
"""Seconds a server may take to exit after SIGTERM before it is killed."""
REQUEST_TIMEOUT = 30.0
PORT_ATTEMPTS = 3
"""A free port can be taken by someone else between choosing it and the server binding it: retry that case."""

DEFAULT_DATA_DIR = object()
"""``service_factory``'s default data dir: ``tmp_path/"data"``."""
_SERVERS = pytest.StashKey[list["ServiceProcess"]]()


def serve_command() -> list[str]:
    """The installed console script next to this interpreter, else the CLI module run by this interpreter."""
    script = Path(sys.executable).with_name("telephony-settings")
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-m", "service.cli", "serve"]


COMMAND_TIMEOUT = 60


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``telephony-settings ARGS...`` to completion with the e2e environment (plus ``env``)."""
    return subprocess.run(
        [*serve_command()[:-1], *args],
        capture_output=True,
        text=True,
        env=service_environment(extra=env),
        cwd=cwd,
        timeout=COMMAND_TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def service_environment(database_url: str | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any TELEPHONY_* variable (a developer's own settings must not leak in)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TELEPHONY_")}
    env["PYTHONUNBUFFERED"] = "1"  # the log file is complete even after a SIGKILL
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env["TELEPHONY_API_KEYS"] = TEST_API_KEYS  # a test may replace it through ``extra`` (or drop it with "")
    if database_url is not None:
        env["TELEPHONY_DATABASE_URL"] = database_url
    env.update(extra or {})
    return {key: value for key, value in env.items() if value != ""}


def living_group_members(pgid: int) -> list[int]:
    """Processes of process group ``pgid`` that are not zombies (an orphaned zombie may wait long for a reaper)."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: ask the kernel whether the group has any member at all
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(int(entry.name))
    return members


class _PortTaken(Exception):
    pass


class ServiceProcess:
    """One ``telephony-settings serve`` server, started and restarted on the same data dir and database."""

    def __init__(
        self,
        name: str,
        data_dir: Path | None,
        log_dir: Path,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        cwd: Path | None = None,
    ) -> None:
        """``data_dir=None`` leaves out ``--data-dir``: the CLI's own default applies (relative to ``cwd``)."""
        self.name = name
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.cwd = cwd if cwd is not None else log_dir
        self.database_url = database_url
        self.extra_env = dict(env or {})
        self.host = host
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.http: httpx.Client | None = None
        self.log_files: list[Path] = []
        self.left_children = False
        """Whether the latest graceful stop left processes of the server running (they were then killed)."""

    # -- lifecycle ---------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def url(self) -> str:
        assert self.port is not None, f"{self.name} has not been started"
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServiceProcess:
        """Start a new server process and wait until GET /health/live answers 200."""
        assert not self.running, f"{self.name} is already running (pid {self.process.pid})"  # type: ignore[union-attr]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.cwd.mkdir(parents=True, exist_ok=True)
        for _ in range(PORT_ATTEMPTS):
            port = free_port(self.host)
            process, log_file = self._spawn(port)
            try:
                self._wait_until_live(process, port, log_file)
            except _PortTaken:
                continue
            self.process, self.port = process, port
            self.http = httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT, trust_env=False, headers=AUTH)
            return self
        pytest.fail(f"{self.name}: no free port after {PORT_ATTEMPTS} attempts; last output:\n{self.output()}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """Graceful stop: SIGTERM, then SIGKILL (of its whole process group) if it has not exited in time.

        Returns the exit status (negative: the signal that ended it, as ``subprocess`` reports it).
        """
        process = self._detach()
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._kill_group(process)
                process.wait(timeout=timeout)
                pytest.fail(f"{self.name} did not exit within {timeout} s of SIGTERM:\n{self.output()}")
        self.left_children = self._reap_leftovers(process, timeout)
        return process.returncode

    def kill(self) -> int:
        """A crash: SIGKILL to the server and anything it started, no chance to clean up."""
        process = self._detach()
        if process is None:
            return 0
        self._kill_group(process)
        return process.wait(timeout=STOP_TIMEOUT)

    def restart(self) -> ServiceProcess:
        """Graceful stop, then a new process on the same data dir and database."""
        self.stop()
        return self.start()

    def output(self) -> str:
        """Everything the server wrote (stdout and stderr) in its latest run."""
        if not self.log_files:
            return "<never started>"
        return self.log_files[-1].read_text(encoding="utf-8", errors="replace")

    # -- internals ---------------------------------------------------------------------------------------------

    def _spawn(self, port: int) -> tuple[subprocess.Popen[bytes], Path]:
        log_file = self.log_dir / f"{self.name}-run{len(self.log_files) + 1}.log"
        self.log_files.append(log_file)
        command = [*serve_command(), "--host", self.host, "--port", str(port)]
        if self.data_dir is not None:
            command += ["--data-dir", str(self.data_dir)]
        with log_file.open("wb") as sink:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=service_environment(self.database_url, self.extra_env),
                cwd=self.cwd,  # a relative default (./data) must never land in the source tree
                start_new_session=True,  # its own process group: a crash can take its children down with it
            )
        return process, log_file

    def _wait_until_live(self, process: subprocess.Popen[bytes], port: int, log_file: Path) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        url = f"http://{self.host}:{port}/health/live"
        last_error = "no answer yet"
        with httpx.Client(timeout=5.0, trust_env=False) as probe:
            while True:
                status = process.poll()
                if status is not None:
                    output = log_file.read_text(encoding="utf-8", errors="replace")
                    if "address already in use" in output.lower():
                        raise _PortTaken
                    pytest.fail(f"{self.name} exited with status {status} before it was live; its output:\n{output}")
                try:
                    response = probe.get(url)
                    if response.status_code == 200:
                        return
                    last_error = f"HTTP {response.status_code}: {response.text[:200]}"
                except httpx.TransportError as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
                if time.monotonic() > deadline:
                    self._kill_group(process)
                    process.wait(timeout=STOP_TIMEOUT)
                    output = log_file.read_text(encoding="utf-8", errors="replace")
                    pytest.fail(
                        f"{self.name} did not answer GET /health/live within {STARTUP_TIMEOUT} s "
                        f"(last: {last_error}); its output:\n{output}"
                    )
                time.sleep(0.05)

    def _detach(self) -> subprocess.Popen[bytes] | None:
        if self.http is not None:
            self.http.close()
            self.http = None
        process, self.process = self.process, None
        return process

    @staticmethod
    def _reap_leftovers(process: subprocess.Popen[bytes], timeout: float) -> bool:
        """Kill whatever the server started and left running after it exited (e.g. an embedded nats-server).

        Returns whether there was anything. The server ran in its own session and process group, so the group
        outlives it only through its own children.
        """
        deadline = time.monotonic() + timeout
        while living_group_members(process.pid):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                return True
            time.sleep(0.05)  # children the server told to stop may need a moment to exit
        return False

    @staticmethod
    def _kill_group(process: subprocess.Popen[bytes]) -> None:
        # The process is not reaped yet, so its group id cannot have been reused.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def service_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Start servers: ``service_factory(data_dir=..., database_url=..., env=..., cwd=..., start=True)``.

    ``data_dir`` defaults to ``tmp_path/"data"``; ``None`` passes no ``--data-dir`` at all. Each server gets a
    distinct name and log files under ``tmp_path/logs``; all are stopped when the test ends.
    """
    servers: list[ServiceProcess] = []
    request.node.stash[_SERVERS] = servers

    def make(
        data_dir: Path | None = DEFAULT_DATA_DIR,  # type: ignore[assignment]
        database_url: str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        start: bool = True,
    ) -> ServiceProcess:
        server = ServiceProcess(
            name=f"server{len(servers) + 1}",
            data_dir=tmp_path / "data" if data_dir is DEFAULT_DATA_DIR else data_dir,
            log_dir=tmp_path / "logs",
            database_url=database_url,
            env=env,
            cwd=cwd,
        )
        servers.append(server)
        return server.start() if start else server

    yield make
    failures: list[BaseException] = []
    for server in servers:  # stop every one, even when stopping another fails
        try:
            server.stop()
        except BaseException as exc:
            failures.append(exc)
    if failures:
        raise failures[0]


@pytest.fixture
def service(service_factory: Callable[..., ServiceProcess]) -> ServiceProcess:
    """A running server on the embedded default: SQLite in a fresh data dir."""
    return service_factory()


@pytest.fixture
def api(service: ServiceProcess) -> httpx.Client:
    """An HTTP client for the running default server."""
    assert service.http is not None
    return service.http


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, show what every server of the test wrote: the cause is usually in there."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not report.failed:
        return
    for server in item.stash.get(_SERVERS, []):
        for log_file in server.log_files:
            if log_file.exists():
                text = log_file.read_text(encoding="utf-8", errors="replace")
                report.sections.append((f"server output {log_file.name}", text or "<empty>"))
