"""The benchmark harness (``python -m bench``) still runs: its cheapest scenarios, in tiny configurations.

No timing is asserted: the harness is for a person to run (see bench/RESULTS.md); this only proves it works.
"""

from __future__ import annotations

from pathlib import Path

from bench.report import render_markdown, render_table
from bench.scenarios import Config, scenario_changeset, scenario_rebuild, scenario_streams


def test_the_rebuild_scenario_runs_beside_its_baseline_and_renders(tmp_path: Path) -> None:
    config = Config(work_dir=tmp_path, rebuild_sizes=(300,), pg_rebuild_sizes=())
    rows = scenario_rebuild(config)
    assert [row.scenario for row in rows] == ["rebuild"]
    raw = rows[0].raw
    assert raw["events"] == raw["position"] == 300
    assert raw["endpoints"] == int(300 * 0.7) // 2
    assert raw["rebuild_eps"] > 0
    assert raw["raw_eps"] > 0
    assert "rebuild" in render_table(rows)
    meta = {
        "date": "-",
        "command": "-",
        "generator": "wrk",
        "machine": {"cores": 2, "memory_gb": 1, "cpu": "-", "python": "3", "load_average": (0, 0, 0)},
    }
    assert "| rebuild |" in render_markdown(rows, meta)


def test_the_changeset_scenario_runs_against_the_real_service_and_renders(tmp_path: Path) -> None:
    config = Config(work_dir=tmp_path, changeset_items=50)  # no pg_url: SQLite only
    rows = scenario_changeset(config)
    assert [row.scenario for row in rows] == ["changeset"] * 3
    post, stream, plan = (row.raw for row in rows)
    assert post["status"] == 200
    assert post["stored"] == post["answered_items"] == 50
    assert post["post_s"] > 0
    assert stream["stream_created"] == 50
    assert stream["stream_complete"] is True
    assert len(stream["stream_change_sets"]) == 1  # every message marked with the one change set
    assert plan["plan"]["unchanged"]["exit"] == 0
    assert plan["plan"]["one_label"]["exit"] == 2
    assert "config plan on 50 endpoints" in render_table(rows)


def test_the_streams_scenario_delivers_every_change_to_every_stream(tmp_path: Path) -> None:
    config = Config(work_dir=tmp_path, coldstart_endpoints=50, streams=4, stream_writes=5)
    (row,) = scenario_streams(config)
    assert row.raw["expected"] == 20
    assert row.raw["delivered"] == 20  # every POST's event on every open stream
    assert row.raw["rss_streams_open_mb"] > 0
