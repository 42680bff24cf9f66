"""``/health/live`` and ``/health/ready``: for orchestrators and load balancers; no authentication."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from service.container import Container


class HealthController(Controller):
    path = "/health"
    tags = ["Health"]
    include_in_schema = True

    @get("/live", summary="The process is up")
    async def live(self) -> dict[str, str]:
        return {"status": "ok"}

    @get(
        "/ready",
        summary="The event store answers; read-model and relay lag in events; NATS connection state",
        description="503 only when the store is unreachable: with NATS down the service still accepts changes "
        "and publishes them when NATS returns (see relay_lag).",
        sync_to_thread=True,
        responses={503: ResponseSpec(data_container=dict[str, str], description="The event store is unreachable")},
    )
    def ready(self, container: NamedDependency[Container]) -> Response[dict[str, object]]:
        try:
            head = container.app.recorder.max_notification_id() or 0
        except Exception as exc:  # any failure of the store means not ready
            body = {"status": "unavailable", "store": "unreachable", "error": type(exc).__name__}
            return Response(body, status_code=HTTP_503_SERVICE_UNAVAILABLE)
        position = container.read_model.position
        body = {
            "status": "ok",
            "store": "ok",
            "store_position": head,
            "read_model_position": position,
            "read_model_lag": max(head - position, 0),
            "nats": "off" if container.nats is None else ("connected" if container.nats.is_connected else "down"),
        }
        if container.nats is not None:
            # Where (redacted: never a password or token), why not connected, and settings of the stream or bucket
            # that differ from those asked (e.g. replicas): what an operator needs without reading the logs.
            nats_details: dict[str, object] = {"servers": container.nats.url, "state": container.nats.state}
            if container.nats.reason and not container.nats.is_connected:
                nats_details["reason"] = container.nats.reason
            if container.nats.stream_warnings:
                nats_details["warnings"] = list(container.nats.stream_warnings)
            body["nats_details"] = nats_details
        if container.relay is not None:
            body["relay"] = "active" if container.relay.active else "standby"
            if container.relay.active:
                body["relay_position"] = container.relay.position
                body["relay_lag"] = max(head - container.relay.position, 0)
        return Response(body, status_code=HTTP_200_OK)
