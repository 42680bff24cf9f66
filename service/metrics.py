"""Prometheus metrics: request counts and latencies per route template and status (recorded by the request
context middleware, ``observe_request``), plus gauges of where the store, the read model and the relay stand, and
whether NATS is connected.

The gauges are read from memory at scrape time (the store head is refreshed by the read-model follower), so a
scrape never waits on the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from litestar.plugins.prometheus import PrometheusController
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from service.container import Container

PREFIX = "telephony_settings"
APP_NAME = "telephony-settings"
METRICS_PATH = "/metrics"

# Labelled by route template, never by each endpoint id (bounded cardinality); the names and labels are those of
# Litestar's Prometheus plugin, which this replaces (one middleware layer less per request).
_LABELS = ("method", "path", "status_code", "app_name")
REQUESTS = Counter(f"{PREFIX}_requests_total", "HTTP requests answered", _LABELS)
DURATION = Histogram(f"{PREFIX}_request_duration_seconds", "Time to answer HTTP requests", _LABELS)
_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(method: str, path: str, status: int, seconds: float) -> None:
    key = (method, path, status)
    children = _children.get(key)
    if children is None:
        labels = (method, path, str(status), APP_NAME)
        children = _children[key] = (REQUESTS.labels(*labels), DURATION.labels(*labels))
    children[0].inc()
    children[1].observe(seconds)


class MetricsController(PrometheusController):
    path = METRICS_PATH
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
        writer = container.app.writer
        yield CounterMetricFamily(
            f"{PREFIX}_write_transactions", "Transactions the writer stored (each carries a batch)", writer.batches
        )
        yield CounterMetricFamily(
            f"{PREFIX}_write_commands",
            "Changes the writer stored; over write_transactions, the mean batch size (group commit)",
            writer.commands_stored,
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
