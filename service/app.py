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
from service.http.telephony import TelephonyController
from service.settings import Settings

log = logging.getLogger("telephony_settings")

__version__ = "0.1.0"


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
        follower = asyncio.create_task(_follow_store(built, settings.poll_interval))
        try:
            yield
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            if owned:
                built.close()

    def provide_container() -> Container:
        return holder["container"]

    return Litestar(
        route_handlers=[TelephonyController, EndpointsController, HealthController],
        dependencies={
            "container": Provide(provide_container, sync_to_thread=False),
            "actor": Provide(provide_actor, sync_to_thread=False),
        },
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
