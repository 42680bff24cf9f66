"""Prometheus metrics: request counts and latencies per route and status (Litestar's Prometheus plugin), plus
gauges of where the store, the read model and the relay stand, and whether NATS is connected.

The gauges are read from memory at scrape time (the store head is refreshed by the read-model follower), so a
scrape never waits on the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from service.container import Container

PREFIX = "telephony_settings"

prometheus_config = PrometheusConfig(
    app_name="telephony-settings",
    prefix=PREFIX,
    group_path=True,  # label requests by route template, not by each endpoint id (bounded cardinality)
    exclude=["/metrics"],
)


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False


class SettingsCollector(Collector):
    """Reports the running service's positions; one instance for the process (the registry is global)."""

    def __init__(self) -> None:
        self.container: Container | None = None

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        container = self.container
        if container is None:
            return
        head = container.store_head
        read_model = container.read_model.position

        def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, value=value)

        yield gauge("store_position", "Position of the newest event in the store (refreshed each poll)", head)
        yield gauge("read_model_position", "Position up to which the read model has folded events", read_model)
        yield gauge("read_model_lag", "Stored events not yet in the read model", max(head - read_model, 0))
        yield gauge(
            "nats_connected",
            "1 when connected to NATS, 0 otherwise",
            int(bool(container.nats and container.nats.is_connected)),
        )
        if container.relay is not None:
            relay = container.relay
            yield gauge("relay_active", "1 when this process holds the relay lease and publishes", int(relay.active))
        if container.relay is not None and container.relay.active:
            relay = container.relay
            yield gauge("relay_position", "Position up to which events are published to JetStream", relay.position)
            yield gauge("relay_lag", "Stored events not yet published to JetStream", max(head - relay.position, 0))
            yield CounterMetricFamily(
                f"{PREFIX}_relay_published", "Messages published to JetStream by this process", value=relay.published
            )


collector = SettingsCollector()
REGISTRY.register(collector)
