"""``create_app(settings)``: the Litestar application, its lifespan and its dependencies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from litestar import Litestar
from litestar.concurrency import sync_to_thread
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin

from service.container import Container, build_container
from service.http.context import RequestIdMiddleware, provide_actor
from service.http.endpoints import EndpointsController
from service.http.errors import EXCEPTION_HANDLERS
from service.http.health import HealthController
from service.http.strict import provide_raw_body
from service.http.telephony import TelephonyController
from service.nats_embedded import EmbeddedNatsServer
from service.nats_link import NatsLink
from service.relay import Relay
from service.settings import Settings

log = logging.getLogger("telephony_settings")

__version__ = "0.1.0"

RELAY_STOP_TIMEOUT = 5.0
MAX_BODY_BYTES = 64 * 1024  # a settings document is a few hundred bytes; anything near this is abuse (413)


async def _follow_store(container: Container, interval: float) -> None:
    """Fold changes written by other processes (other replicas, CLI tools) into the read model."""
    while True:
        await asyncio.sleep(interval)
        try:
            await sync_to_thread(container.read_model.catch_up)
        except Exception as exc:  # the store may be briefly unreachable: keep serving, retry next tick
            log.warning("read model catch-up failed: %s", type(exc).__name__)


def create_app(settings: Settings | None = None, container: Container | None = None) -> Litestar:
    """The service. With ``container``, use it (tests); otherwise build one from ``settings`` at start-up."""
    settings = settings or Settings.from_env()
    holder: dict[str, Container] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        owned = container is None
        built = container or await sync_to_thread(build_container, settings)
        holder["container"] = built
        tasks = [asyncio.create_task(_follow_store(built, settings.poll_interval), name="read-model-follower")]
        embedded: EmbeddedNatsServer | None = None
        try:
            if settings.nats_mode != "off":
                url = settings.nats_url
                if settings.nats_mode == "embedded":
                    embedded = EmbeddedNatsServer(settings.data_dir / "nats")
                    await sync_to_thread(embedded.start)
                    url = embedded.url
                    embedded.write_url_file()
                    log.info("embedded nats-server listening on %s (JetStream store %s)", url, embedded.store_dir)
                assert url is not None
                built.nats = NatsLink(url)
                await built.nats.start()
                built.relay = Relay(built.app, built.nats, poll_interval=settings.poll_interval)
                built.app.on_commit(lambda _position: built.relay.wake() if built.relay else None)
                tasks.append(asyncio.create_task(built.relay.run(), name="relay"))
            yield
        finally:
            if built.relay is not None:
                built.relay.stop()  # let it finish the publication in hand
                with contextlib.suppress(asyncio.TimeoutError, Exception):
                    await asyncio.wait_for(asyncio.shield(tasks[-1]), timeout=RELAY_STOP_TIMEOUT)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if built.nats is not None:
                await built.nats.close()
            if embedded is not None:
                await sync_to_thread(embedded.stop)
            if owned:
                built.close()

    def provide_container() -> Container:
        return holder["container"]

    return Litestar(
        route_handlers=[TelephonyController, EndpointsController, HealthController],
        dependencies={
            "container": Provide(provide_container, sync_to_thread=False),
            "actor": Provide(provide_actor, sync_to_thread=False),
            "raw_body": Provide(provide_raw_body),
        },
        request_max_body_size=MAX_BODY_BYTES,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        middleware=[RequestIdMiddleware],
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="telephony-settings",
            version=__version__,
            description="Telephony provider configuration and phone-number -> agent endpoints, event-sourced.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
    )
