"""``audit export`` streams the whole history as NDJSON in bounded memory (100k events), ``--after``/``--until``
select a part, and ``rebuild`` replays the store, reports its rate and finds no difference; on both backends."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from click.testing import CliRunner
from eventsourcing.domain import DomainEvent

from events import EndpointCreated, EndpointUpdated
from service.cli import main
from service.settings import Settings
from service.write.application import SettingsApplication
from tests.clients import api_client
from tests.integration.support import ENDPOINTS, TELEPHONY, endpoint_url
from tests.seed import TWILIO

LARGE = 100_000
ENDPOINT_COUNT = 100
SAVE_BATCH = 2_000

# In a child process: export the last 100 events (to nowhere), then the whole history (to stdout); report the peak
# resident set size in KiB after each. VmHWM starts afresh at exec (ru_maxrss would still count the forked parent's
# pages on Linux), and only grows: the difference is what exporting the whole history added.
EXPORT_AND_MEASURE = """
import contextlib, io, os, re, resource, sys
from pathlib import Path
from service.cli import main

def peak_kib():
    status = Path("/proc/self/status")
    found = re.search(r"VmHWM:\\s+(\\d+) kB", status.read_text()) if status.exists() else None
    return int(found.group(1)) if found else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

small_after, = sys.argv[1:]
with contextlib.redirect_stdout(io.TextIOWrapper(open(os.devnull, "wb"))):
    main(["audit", "export", "--after", small_after], standalone_mode=False)
small = peak_kib()
main(["audit", "export"], standalone_mode=False)
sys.stdout.flush()
print(small, peak_kib(), file=sys.stderr)
"""


def cli_env(settings: Settings) -> dict[str, str]:
    env = {"TELEPHONY_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["TELEPHONY_DATABASE_URL"] = settings.database_url
    return env


def write_large_history(settings: Settings, total: int) -> None:
    """``total`` events straight into the application's event store (mapped and chained like any save), in big
    batches: fast to write."""
    app = SettingsApplication(settings.store_env())
    try:
        stamp = {"actor": "bulk-writer", "request_id": None}
        ids = [uuid4() for _ in range(ENDPOINT_COUNT)]
        batch: list[DomainEvent] = [
            EndpointCreated(
                originator_id=endpoint_id,
                originator_version=1,
                timestamp=DomainEvent.create_timestamp(),
                phone_number=f"+1555{n:07d}",
                provider="twilio",
                inbound_agent_name="agent",
                outbound_agent_name=None,
                label="label 1",
                is_active=True,
                **stamp,
            )
            for n, endpoint_id in enumerate(ids)
        ]
        for n in range(total - ENDPOINT_COUNT):
            version = n // ENDPOINT_COUNT + 2
            batch.append(
                EndpointUpdated(
                    originator_id=ids[n % ENDPOINT_COUNT],
                    originator_version=version,
                    timestamp=DomainEvent.create_timestamp(),
                    phone_number=f"+1555{n % ENDPOINT_COUNT:07d}",
                    changes={"label": f"label {version}"},
                    previous={"label": f"label {version - 1}"},
                    **stamp,
                )
            )
            if len(batch) >= SAVE_BATCH:
                app.events.put(batch)  # as app.save does, without its per-event type checks
                batch = []
        if batch:
            app.events.put(batch)  # as app.save does, without its per-event type checks
    finally:
        app.close()


def export_in_child(settings: Settings, tmp_path: Path, small_after: int) -> tuple[Path, int, int]:
    """The whole export in a file, and the child's peak RSS (KiB) after exporting 100 events and after everything."""
    out = tmp_path / "export.ndjson"
    with out.open("wb") as sink:
        done = subprocess.run(
            [sys.executable, "-c", EXPORT_AND_MEASURE, str(small_after)],
            stdout=sink,
            stderr=subprocess.PIPE,
            env={**_base_env(), **cli_env(settings)},
            check=False,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    small_peak, large_peak = (int(word) for word in done.stderr.decode().strip().splitlines()[-1].split())
    return out, small_peak, large_peak


def _base_env() -> dict[str, str]:
    import os

    return {name: value for name, value in os.environ.items() if not name.startswith("TELEPHONY_")}


def test_a_large_history_is_exported_in_bounded_memory(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], record_property: Any
) -> None:
    write_large_history(settings, LARGE)

    large, small_peak, large_peak = export_in_child(settings, tmp_path, small_after=LARGE - 100)

    count, previous = 0, 0
    with large.open("rb") as lines:
        for line in lines:
            event = json.loads(line)
            assert event["position"] > previous
            previous = event["position"]
            count += 1
    assert count == LARGE
    size_mib = large.stat().st_size / 2**20
    growth_mib = (large_peak - small_peak) / 1024
    report = (
        f"audit export of {LARGE} events ({size_mib:.0f} MiB of NDJSON): peak RSS {large_peak / 1024:.1f} MiB, "
        f"{growth_mib:+.1f} MiB over exporting 100 events"
    )
    record_property("export_peak_rss_mib", round(large_peak / 1024, 1))
    with capsys.disabled():  # the figure belongs in the test run's report
        print(f"\n{report} [{'postgres' if settings.database_url else 'sqlite'}]")
    # Holding the history would cost far more than the NDJSON itself; streaming costs nothing that grows.
    assert growth_mib < min(20.0, size_mib / 2), report


def test_after_and_until_select_part_of_the_history_and_secrets_stay_masked(settings: Settings) -> None:
    with api_client(settings) as client:
        client.put(TELEPHONY, json=TWILIO).raise_for_status()
        endpoint_id = client.post(ENDPOINTS, json={"phone_number": "+15550000001", "provider": "twilio"}).json()["id"]
        between = datetime.now(UTC).isoformat()
        client.put(endpoint_url(endpoint_id), json={"label": "later"}).raise_for_status()
        expected = client.get("/api/audit/events").json()["events"]

    runner = CliRunner()
    whole = runner.invoke(main, ["audit", "export"], env=cli_env(settings))
    assert whole.exit_code == 0, whole.output
    exported = [json.loads(line) for line in whole.stdout.splitlines()]
    assert exported == expected  # the same records as the API
    assert TWILIO["twilio_auth_token"] not in whole.stdout

    after = runner.invoke(main, ["audit", "export", "--after", str(expected[0]["position"])], env=cli_env(settings))
    assert [json.loads(line) for line in after.stdout.splitlines()] == expected[1:]
    until = runner.invoke(main, ["audit", "export", "--until", between], env=cli_env(settings))
    assert [json.loads(line)["type"] for line in until.stdout.splitlines()] == ["ProviderUpdated", "EndpointCreated"]
    bad = runner.invoke(main, ["audit", "export", "--until", "soon"], env=cli_env(settings))
    assert bad.exit_code == 2
    assert "--until" in bad.output


def test_rebuild_replays_the_store_reports_its_rate_and_finds_no_difference(settings: Settings) -> None:
    with api_client(settings) as client:
        client.put(TELEPHONY, json=TWILIO).raise_for_status()
        for n in range(3):
            created = client.post(ENDPOINTS, json={"phone_number": f"+1555000000{n}", "provider": "twilio"}).json()
            client.put(endpoint_url(created["id"]), json={"inbound_agent_name": f"agent-{n}"}).raise_for_status()
        client.delete(endpoint_url(created["id"])).raise_for_status()

    result = CliRunner().invoke(main, ["rebuild"], env=cli_env(settings))
    assert result.exit_code == 0, result.output
    assert "events/s" in result.stdout
    assert ": 2 endpoints" in result.stdout
    assert "no difference" in result.stdout
