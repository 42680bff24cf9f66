"""What-if: serve the real service with a proposed change applied in memory, to measure its potential before
anyone edits the files it belongs to (``service/auth.py``, ``service/app.py``, ``service/http``...).

    python -m bench.whatif --patch async-guard,quiet-access-log --port N --data-dir DIR

Each patch mirrors a change proposed in bench/RESULTS.md; ``python -m bench --only whatif`` measures every patch
beside the unpatched service and the bare baseline in one run.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

PATCHES: dict[str, str] = {
    "quiet-access-log": "service/http/context.py: the per-request access line at DEBUG (INFO keeps startup/errors)",
    "switch-interval": "service/cli.py serve: sys.setswitchinterval(0.0005) (the GIL is handed between the event "
    "loop and the command threads every 0.5 ms instead of 5 ms)",
}
"""Proposals not (yet) adopted. Adopted since: the async guard, request metrics in the context middleware instead
of the Prometheus plugin's, counter-based request ids, and gc.freeze() after the rebuild."""


def apply(names: list[str]) -> Callable[[], None]:
    """Apply the patches; returns what to run once the app has started."""
    from service.logs import ACCESS_LOGGER

    after_start: list[Callable[[], None]] = []
    for name in names:
        if name == "quiet-access-log":
            after_start.append(lambda: logging.getLogger(ACCESS_LOGGER).setLevel(logging.WARNING))
        elif name == "switch-interval":
            import sys

            sys.setswitchinterval(0.0005)
        elif name:
            raise SystemExit(f"unknown patch {name!r}; known: {', '.join(PATCHES)}")

    def started() -> None:
        for step in after_start:
            step()

    return started


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.whatif")
    parser.add_argument("--patch", default="")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    started = apply([p for p in args.patch.split(",") if p])

    import uvicorn

    from service.app import create_app
    from service.logs import configure_logging
    from service.settings import Settings

    settings = Settings.from_env(data_dir=args.data_dir)
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    app.on_startup.append(lambda: started())  # on_startup hooks run after the lifespan managers have entered
    # The same call as ``telephony-settings serve`` makes (service/cli.py).
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, log_config=None, log_level=settings.log_level.lower(), access_log=False
    )


if __name__ == "__main__":
    main()
