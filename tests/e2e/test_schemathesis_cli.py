"""schemathesis, run as an outside client runs it: its command line, every check (``--checks all``), the stateful
phase (sequences of calls linked by ids and Location headers), against the real server over HTTP.

The document must be at least as strict as the server, so every failure schemathesis reports must be one the
document cannot prevent, because it depends on what happened before the request, not on its shape:

* 412 to an ``If-Match`` that names no current version (the tags are the server's to give);
* 422 to an ``Idempotency-Key`` already used for another request (schemathesis reuses generated values);
* 422 to a partial provider update that would leave the active provider without its credentials or the base URL,
  or that sends a masked secret other than the current one's mask (both about the stored configuration);
* "deleted resource still available" for ``/api/settings/endpoints/{id}/history``: the history of a deleted
  endpoint is kept on purpose (auditors read it after the deletion).

Anything else (a server error, a valid request refused for its shape, an invalid one accepted, an undocumented
status, header or body) fails this test. The in-process fuzzing (``tests/integration/test_fuzzing.py``) covers the
other phases with more examples.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from service.write.decisions import STALE_MASK
from tests.clients import TEST_API_KEY
from tests.e2e.conftest import ServiceProcess, service_environment

MAX_EXAMPLES = 10
SEED = 20261130
STATE_DEPENDENT_422 = (
    "was used for another request",  # the Idempotency-Key
    "is required when provider is",
    "is required for every provider",
    STALE_MASK,
)


def schemathesis_command() -> list[str]:
    script = Path(sys.executable).with_name("schemathesis")
    if script.exists():
        return [str(script)]
    found = shutil.which("schemathesis") or shutil.which("st")
    if found is None:
        pytest.skip("the schemathesis command is not installed (pip install -e '.[dev]')")
    return [found]


def _errors_of(text: str) -> list[str]:
    """The messages of the 422 body quoted in a failure report (none when it is missing or truncated)."""
    quoted = re.search(r"`(\{.*\})`", text)
    if quoted is None:
        return []
    try:
        body = json.loads(quoted.group(1))
    except ValueError:
        return []
    return [str(error.get("message", "")) for error in body.get("errors", [])]


def by_design(case: str, code: str, text: str) -> bool:
    """Whether a reported failure depends on earlier requests rather than on the request's shape (see above)."""
    status = next((line for line in text.splitlines() if line.startswith("[")), "")
    if code == "ST202" and status.startswith("[412]"):
        return "If-Match does not match" in text
    if code == "ST202" and status.startswith("[422]"):
        errors = _errors_of(text)
        return bool(errors) and all(any(m in error for m in STATE_DEPENDENT_422) for error in errors)
    if code == "ST301":
        return "/history" in text and "EndpointDeleted" in text
    return False


def test_schemathesis_with_every_check_and_the_stateful_phase_finds_nothing_the_document_could_prevent(
    service_factory: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    server = service_factory(env={"TELEPHONY_NATS_URL": "off"})
    reports = tmp_path / "reports"
    result = subprocess.run(
        [
            *schemathesis_command(),
            "run",
            f"{server.url}/schema/openapi.json",
            "--checks",
            "all",
            "--phases",
            "examples,stateful",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--continue-on-failure",  # a by-design failure must not hide the next one of the same operation
            "--seed",
            str(SEED),
            "--header",
            f"Authorization: Bearer {TEST_API_KEY}",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(reports),
        ],
        capture_output=True,
        text=True,
        env=service_environment(),
        cwd=tmp_path,  # schemathesis keeps a cache of what it found in the working directory
        timeout=600,
        check=False,
    )
    [report] = reports.glob("*.xml")
    failures = [
        (case.get("name", ""), failure.get("message", ""), failure.text or "")
        for case in ET.parse(report).iter("testcase")
        for failure in case.iter("failure")
    ]
    unexpected = [f"{case}: {code}\n{text}" for case, code, text in failures if not by_design(case, code, text)]
    assert "Stateful" in result.stdout, result.stdout[-3000:]  # the stateful phase did run
    assert not unexpected, "\n\n".join(unexpected)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]  # 1: only by-design ones
