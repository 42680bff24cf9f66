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


def rebuild(database_url: str, profile: str | None = None) -> dict[str, object]:
    import os

    from service.application import SettingsApplication
    from service.read_model import BATCH_SIZE, ReadModel

    app = SettingsApplication(store_env_for(database_url))
    try:
        raw_read(app, BATCH_SIZE)  # warm the page cache / shared buffers; not counted
        before = rss_mb(os.getpid())
        gc.collect()
        read_model = ReadModel(app)
        profiler = None
        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001)
            profiler.start()
        started = time.perf_counter()
        read_model.catch_up()
        seconds = time.perf_counter() - started
        if profiler is not None:
            profiler.stop()
            with open(profile, "w") as out:
                out.write(profiler.output_text(unicode=False, color=False))
        after = rss_mb(os.getpid())
        with read_model.reading() as view:
            endpoints = len(view.endpoints.by_id)
        events, raw_seconds = raw_read(app, BATCH_SIZE)
        return {
            "events": events,
            "position": read_model.position,
            "endpoints": endpoints,
            "rebuild_s": round(seconds, 3),
            "rebuild_eps": round(events / seconds),
            "raw_s": round(raw_seconds, 3),
            "raw_eps": round(events / raw_seconds),
            "batch": BATCH_SIZE,
            "read_model_mb": round(after - before, 1),
            "peak_rss_mb": round(peak_rss_mb(os.getpid()), 1),
        }
    finally:
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("what", choices=("rebuild",))
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--profile", help="write a pyinstrument profile of the rebuild to this file")
    args = parser.parse_args()
    print("BENCH_JSON " + json.dumps(rebuild(args.database_url, args.profile)))


if __name__ == "__main__":
    main()
