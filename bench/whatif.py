"""What-if: serve the real service with a proposed change applied in memory, to measure its potential before
anyone edits the files it belongs to (``service/auth.py``, ``service/app.py``, ``service/http``...).

    python -m bench.whatif --patch async-guard,quiet-access-log --port N --data-dir DIR

Each patch mirrors a change proposed in bench/RESULTS.md; ``python -m bench --only whatif`` measures every patch
beside the unpatched service and the bare baseline in one run.
"""

from __future__ import annotations

import argparse
import gc
import logging
from collections.abc import Callable
from pathlib import Path

PATCHES: dict[str, str] = {
    "async-guard": "service/auth.py: `async def authorize` (no I/O inside), so Litestar does not run the guard "
    "in a worker thread (one thread hop per request)",
    "quiet-access-log": "service/http/context.py: the per-request access line at DEBUG (INFO keeps startup/errors)",
    "no-prometheus": "service/app.py: no Litestar Prometheus middleware (per-request counter + histogram)",
    "cheap-request-id": "service/http/context.py: request ids from a per-process random prefix and a counter "
    "instead of uuid4() (an os.urandom syscall per request)",
    "switch-interval": "service/cli.py serve: sys.setswitchinterval(0.0005) (the GIL is handed between the event "
    "loop and the command threads every 0.5 ms instead of 5 ms)",
    "gc-freeze": "service/app.py lifespan: gc.freeze() after the read model is rebuilt (full collections stop "
    "walking the 100k-endpoint view)",
}


def apply(names: list[str]) -> Callable[[], None]:
    """Apply the patches; returns what to run once the app has started (for gc-freeze)."""
    import service.app
    import service.auth
    from service.logs import ACCESS_LOGGER

    after_start: list[Callable[[], None]] = []
    for name in names:
        if name == "async-guard":

            async def authorize(connection, handler, check=service.auth.authorize) -> None:  # type: ignore[no-untyped-def]
                check(connection, handler)

            service.app.authorize = authorize
        elif name == "quiet-access-log":
            after_start.append(lambda: logging.getLogger(ACCESS_LOGGER).setLevel(logging.WARNING))
        elif name == "no-prometheus":

            class Passthrough:
                def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
                    self.app = app

                async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
                    await self.app(scope, receive, send)

            class NoPrometheus:
                middleware = Passthrough

            service.app.metrics.prometheus_config = NoPrometheus()  # type: ignore[assignment]
        elif name == "cheap-request-id":
            import itertools
            import secrets

            import service.http.context as context

            class FastIds:
                class _Id:
                    __slots__ = ("hex",)
                    prefix = secrets.token_hex(8)
                    counter = itertools.count()

                    def __init__(self) -> None:
                        self.hex = f"{self.prefix}{next(self.counter):016x}"

                uuid4 = _Id

            context.uuid = FastIds  # type: ignore[assignment]
        elif name == "switch-interval":
            import sys

            sys.setswitchinterval(0.0005)
        elif name == "gc-freeze":
            after_start.append(gc.freeze)
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
