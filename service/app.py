"""``create_app(settings)``: the Litestar application, its lifespan and its dependencies."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import threading
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from litestar import Litestar
from litestar.concurrency import sync_to_thread
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from service import metrics
from service.audit.checkpoints import Checkpointer
from service.console.pages import console_routes
from service.container import Container, build_container
from service.http import openapi
from service.http.audit import AuditController
from service.http.auth import KEY_FILE, guarded, load_key_ring
from service.http.changes import ChangesController
from service.http.context import RequestContextMiddleware, allowed_methods
from service.http.endpoints import EndpointsController
from service.http.errors import EXCEPTION_HANDLERS
from service.http.health import HealthController
from service.http.schemas import BEARER
from service.http.sessions import Sessions
from service.http.stream import StreamController
from service.http.telephony import TelephonyController
from service.publish.lease import lease_for
from service.publish.nats_embedded import EmbeddedNatsServer
from service.publish.nats_link import NatsLink
from service.publish.notify import StoreListener
from service.publish.relay import Relay
from service.settings import Settings

log = logging.getLogger("telephony_settings")

__version__ = "0.1.0"
T = TypeVar("T")

RELAY_STOP_TIMEOUT = 5.0
MAX_BODY_BYTES = 64 * 1024  # a settings document is a few hundred bytes; anything near this is abuse (413)


async def _follow_store(container: Container, interval: float, stop: asyncio.Event, wake: asyncio.Event) -> None:
    """Fold changes written by other processes (other replicas, CLI tools) into the read model, and write a
    read-model snapshot when enough has been folded since the last (``service.read.snapshots``).

    Woken by ``wake`` (a store notification, ``service.publish.notify``) or every ``interval`` seconds. Stopped through
    ``stop`` (which also sets ``wake``), never by cancellation: a cancelled task would leave its store query running
    in a worker thread while the store is closed under it (which crashes SQLite).
    """
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=interval)
        wake.clear()
        if stop.is_set():
            return
        try:
            container.store_head = await sync_to_thread(_refresh, container)
        except Exception as exc:  # the store may be briefly unreachable: keep serving, retry next tick
            log.warning("read model catch-up failed: %s", type(exc).__name__)
        if container.snapshots is not None and container.snapshots.due(container.read_model):
            await sync_to_thread(container.save_snapshot)  # in the background: the next start folds less


@contextlib.asynccontextmanager
async def _listening(settings: Settings, container: Container, wake: asyncio.Event) -> AsyncIterator[None]:
    """On PostgreSQL, wake the follower and the relay whenever any process commits events (``publish.notify``)."""
    url = settings.effective_database_url
    channel = getattr(container.app.recorder, "channel_name", None)  # eventsourcing's PostgreSQL recorder has one
    if not url.startswith("postgres") or channel is None:
        yield
        return
    loop = asyncio.get_running_loop()

    def on_change() -> None:
        loop.call_soon_threadsafe(wake.set)
        if container.relay is not None:
            container.relay.wake()

    listener = StoreListener(url, channel, on_change)
    listener.start()
    try:
        yield
    finally:
        await sync_to_thread(listener.stop)


@contextlib.asynccontextmanager
async def _publishing(settings: Settings, container: Container) -> AsyncIterator[None]:
    """Run the relay (and the embedded nats-server when no NATS URL is configured) for the ``with`` block."""
    if settings.nats_mode == "off":
        yield
        return
    embedded: EmbeddedNatsServer | None = None
    url = settings.nats_url
    if settings.nats_mode == "embedded":
        embedded = EmbeddedNatsServer(settings.data_dir / "nats")
        await sync_to_thread(embedded.start)
        url = embedded.url
        embedded.write_url_file()
        if embedded.moved_from is not None:
            log.warning(
                "the embedded nats-server's port %d is taken by another program: it listens on %d from now on "
                "(routers that follow %s find it)",
                embedded.moved_from,
                embedded.port,
                embedded.url_file,
            )
        log.info(
            "embedded nats-server listening on %s, kept for this data dir (%s); JetStream store %s",
            url,
            embedded.port_file,
            embedded.store_dir,
        )
    assert url is not None
    lease = lease_for(settings.effective_database_url)
    # The relay and its NATS connection run on an event loop of their own, in a thread of their own: publishing
    # never competes with requests for this loop (the GIL is still shared; the waits are not).
    relay_loop = LoopThread("telephony-relay")

    async def start() -> tuple[NatsLink, Relay, asyncio.Task[None]]:
        link = NatsLink(settings.nats_connection(url), replicas=settings.nats_replicas)
        relay = Relay(
            container.app,
            link,
            poll_interval=settings.poll_interval,
            lease=lease,
            inline_reads=True,
            start_view=container.snapshots.newest_view if container.snapshots is not None else None,
        )
        await link.start()
        return link, relay, asyncio.create_task(relay.run(), name="relay")

    link, relay, task = await relay_loop.run(start())
    container.nats, container.relay = link, relay
    container.app.on_saved(lambda _saved: relay.wake())
    try:
        yield
    finally:
        relay.stop()  # it finishes the publication in hand, then returns
        await relay_loop.run(_finish(task, RELAY_STOP_TIMEOUT))
        await relay_loop.run(link.close())
        await sync_to_thread(relay_loop.close)
        if embedded is not None:
            await sync_to_thread(embedded.stop)


class LoopThread:
    """An asyncio event loop running in a thread of its own."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on this loop and wait for its result from the caller's loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


async def _finish(task: asyncio.Task[None], timeout: float) -> None:
    """Wait for ``task`` to end, then cancel it; never hang on one that ignores cancellation (nats-py can)."""
    await asyncio.wait({task}, timeout=timeout)
    if not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    if not task.done():
        log.warning("task %s did not stop; abandoning it", task.get_name())
    elif not task.cancelled() and task.exception() is not None:
        log.warning("task %s ended with %s", task.get_name(), type(task.exception()).__name__)


def _refresh(container: Container) -> int:
    """Catch up with the store if it is ahead. This process's own writes are folded by the writer before they
    are answered, so a notification of one costs one index-only query (the head), not a read of the log."""
    head = container.app.recorder.max_notification_id() or 0
    if head > container.read_model.position:
        container.read_model.catch_up()
    return max(head, container.read_model.position)


def announce_admin_key(key: str, settings: Settings) -> None:
    """Show a generated admin key once, on the console only: it is never logged and only its hash is kept."""
    sys.stderr.write(
        "\n"
        "  telephony-settings created an admin API key. It is shown only now; its hash is kept in\n"
        f"  {settings.data_dir / KEY_FILE}.\n\n"
        f"      {key}\n\n"
        "  Send it with every /api request:  Authorization: Bearer <key>\n"
        "  More keys (and scopes): telephony-settings keys new NAME --scopes read+write\n\n"
    )
    sys.stderr.flush()


def create_app(settings: Settings | None = None) -> Litestar:
    """The service, built from ``settings`` (read from the environment when not given) at start-up."""
    settings = settings or Settings.from_env()
    holder: dict[str, Container] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        key_ring, new_admin_key = load_key_ring(settings.api_keys, settings.data_dir)
        if new_admin_key is not None:
            announce_admin_key(new_admin_key, settings)
        app.state["key_ring"] = key_ring
        app.state["sessions"] = Sessions.for_data_dir(settings.session_secret, settings.data_dir, key_ring)
        container = holder["container"] = app.state["container"] = await sync_to_thread(build_container, settings)
        # The rebuilt read model is long-lived: move it out of the collector's sight, so collections triggered by
        # request garbage do not walk every endpoint again and again (a p99 spike at 100k endpoints).
        gc.freeze()
        metrics.collector.container = container
        stop_following, wake_follower = asyncio.Event(), asyncio.Event()
        follower = asyncio.create_task(
            _follow_store(container, settings.poll_interval, stop_following, wake_follower),
            name="read-model-follower",
        )
        checkpointer = await sync_to_thread(Checkpointer, container.app)
        container.app.on_saved(lambda _saved: checkpointer.wake())
        sealing = asyncio.create_task(checkpointer.run(stop_following), name="audit-checkpointer")
        try:
            async with _listening(settings, container, wake_follower), _publishing(settings, container):
                yield
        finally:
            stop_following.set()
            wake_follower.set()
            await _finish(follower, 10.0)  # lets an in-flight catch-up finish before the store closes
            await _finish(sealing, 10.0)  # seals the last commits before the store closes
            if metrics.collector.container is container:
                metrics.collector.container = None
            container.close()

    def provide_container() -> Container:
        return holder["container"]

    docs, docs_assets = openapi.docs_ui()
    app = Litestar(
        route_handlers=[
            docs_assets,
            TelephonyController,
            EndpointsController,
            ChangesController,
            StreamController,
            AuditController,
            HealthController,
            metrics.MetricsController,
            *console_routes(),
        ],
        dependencies={
            "container": Provide(provide_container, sync_to_thread=False),
        },
        request_max_body_size=MAX_BODY_BYTES,
        middleware=[guarded],  # the key, its scope and the query rules (not guards: see there)
        before_request=openapi.tighten_before_serving,
        logging_config=None,  # logging is configured once, by the CLI (service.logs); tests keep their own
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="telephony-settings",
            version=__version__,
            description="Telephony provider configuration and phone-number -> agent endpoints, event-sourced.",
            path="/schema",
            render_plugins=[docs],
            components=Components(
                security_schemes={
                    BEARER: SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="An API key (TELEPHONY_API_KEYS, or the admin key shown at first start). "
                        "Scopes: read (GET), write (PUT/POST/DELETE), secrets (unmasked credentials), audit.",
                    )
                }
            ),
        ),
    )
    # In front of Litestar's router, not among its middleware (which runs only for matched routes): every request,
    # 404 and 405 included, gets its request id, access line and metrics; HEAD and OPTIONS are answered there too.
    app.asgi_handler = RequestContextMiddleware(app.asgi_handler, allowed_methods(app.routes), settings.body_timeout)
    return app
