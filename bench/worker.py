"""Measurements that run in a fresh process of their own: ``python -m bench.worker rebuild --database-url URL``.

Prints one JSON object. The rebuild is exactly what ``serve`` does at start (``ReadModel.catch_up()`` from
position 0); its baseline reads the same events with bare ``select_notifications`` calls of the same batch size.
"""

from __future__ import annotations

import argparse
import gc
import json
import time

from bench.infra import peak_rss_mb, rss_mb, store_env_for


def raw_read(app, batch: int) -> tuple[int, float]:
    started = time.perf_counter()
    position, count = 0, 0
    while True:
        notifications = app.recorder.select_notifications(start=position, limit=batch, inclusive_of_start=False)
        if not notifications:
            break
        position = notifications[-1].id
        count += len(notifications)
    return count, time.perf_counter() - started


def rebuild(database_url: str, profile: str | None = None, repeats: int = 3) -> dict[str, object]:
    """The rebuild and its floor, alternated ``repeats`` times on the same store; the best of each is reported
    (the least disturbed by other processes), with every run kept in ``runs``."""
    import os

    from service.read.read_model import BATCH_SIZE, ReadModel
    from service.write.application import SettingsApplication

    app = SettingsApplication(store_env_for(database_url))
    try:
        raw_read(app, BATCH_SIZE)  # warm the page cache / shared buffers; not counted
        runs: list[dict[str, float]] = []
        endpoints = position = 0
        read_model_mb = 0.0
        for attempt in range(repeats):
            gc.collect()
            before = rss_mb(os.getpid())
            read_model = ReadModel(app)
            profiler = None
            if profile and attempt == 0:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.001)
                profiler.start()
            started, cpu = time.perf_counter(), time.process_time()
            read_model.catch_up()
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
            if profiler is not None:
                profiler.stop()
                with open(profile, "w") as out:
                    out.write(profiler.output_text(unicode=False, color=False))
            read_model_mb = max(read_model_mb, rss_mb(os.getpid()) - before)
            with read_model.reading() as view:
                endpoints = len(view.endpoints.by_id)
            position = read_model.position
            del read_model, view
            gc.collect()
            started, cpu = time.perf_counter(), time.process_time()
            events, _ = raw_read(app, BATCH_SIZE)
            raw_seconds, raw_cpu = time.perf_counter() - started, time.process_time() - cpu
            runs.append(
                {
                    "rebuild_s": round(seconds, 3),
                    "rebuild_cpu_s": round(cpu_seconds, 3),
                    "raw_s": round(raw_seconds, 3),
                    "raw_cpu_s": round(raw_cpu, 3),
                }
            )
        best = min(r["rebuild_s"] for r in runs)
        best_raw = min(r["raw_s"] for r in runs)
        return {
            "events": events,
            "position": position,
            "endpoints": endpoints,
            "rebuild_s": best,
            "rebuild_eps": round(events / best),
            "rebuild_cpu_eps": round(events / min(r["rebuild_cpu_s"] for r in runs)),
            "raw_s": best_raw,
            "raw_eps": round(events / best_raw),
            "raw_cpu_eps": round(events / min(r["raw_cpu_s"] for r in runs)),
            "repeats": repeats,
            "runs": runs,
            "batch": BATCH_SIZE,
            "read_model_mb": round(read_model_mb, 1),
            "peak_rss_mb": round(peak_rss_mb(os.getpid()), 1),
        }
    finally:
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("what", choices=("rebuild",))
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--profile", help="write a pyinstrument profile of the rebuild to this file")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("BENCH_JSON " + json.dumps(rebuild(args.database_url, args.profile, args.repeats)))


if __name__ == "__main__":
    main()
