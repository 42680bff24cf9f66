"""The load generator: wrk (Debian's package) with Lua scripts, run as its own process; the same generator with the
same options measures the service and its baseline. Without wrk, a multi-process Python client (``pyload``) does
the same job; ``python -m bench --only loadgen`` shows how far it goes against the bare baseline.

POSTs get unique phone numbers from the Lua script: each wrk thread takes its own area code (from a base passed
per run, so repeated runs against one store never collide) and counts up the subscriber number.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.infra import API_KEY

REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""

GET_SCRIPT = (
    """
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer API_KEY"
"""
    + REPORT
)

POST_SCRIPT = (
    """
local counter = 0
local base = 0
local threads = 0
tid = 0

setup = function(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

init = function(args)
  base = tonumber(args[1] or "0")
end

request = function()
  counter = counter + 1
  local area = 201 + ((base + tid) % 700)
  local body = string.format(
    '{"phone_number":"+1 %03d %07d","provider":"twilio","inbound_agent_name":"agent-%d",' ..
    '"outbound_agent_name":"sales-agent","label":"bench line"}', area, counter, counter % 50)
  return wrk.format("POST", wrk.path, {["Authorization"] = "Bearer API_KEY",
    ["Content-Type"] = "application/json"}, body)
end
"""
    + REPORT
)


@dataclass
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    """Socket errors, timeouts and non-2xx/3xx answers."""
    generator: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def _script(text: str) -> Path:
    handle = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
    handle.write(text.replace("API_KEY", API_KEY))
    handle.close()
    return Path(handle.name)


def run_wrk(url: str, connections: int, seconds: float, post: bool = False, base: int = 0) -> LoadResult:
    threads = 1 if connections < 4 else 2
    script = _script(POST_SCRIPT if post else GET_SCRIPT)
    try:
        command = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ]
        if post:
            command += ["--", str(base)]
        output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    finally:
        script.unlink(missing_ok=True)
    match = re.search(r"BENCH_JSON (\{.*\})", output)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    raw = json.loads(match.group(1))
    duration = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    return LoadResult(
        requests=raw["requests"],
        seconds=round(duration, 3),
        rps=round(raw["requests"] / duration, 1),
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        errors=errors,
        generator="wrk",
    )


def run_load(url: str, connections: int, seconds: float, post: bool = False, base: int = 0) -> LoadResult:
    """wrk when installed, else the Python client; both closed-loop with ``connections`` keep-alive connections."""
    if wrk_available():
        return run_wrk(url, connections, seconds, post=post, base=base)
    from bench.pyload import run_pyload

    return run_pyload(url, connections, seconds, post=post, base=base)
