"""``rebuild``: replay the whole store into fresh read models, time it, and compare with the live read models.

The replay is the plain fold of ``projections`` over every stored event, in log order, read in batches. The live
read models are those of a running service (fetched over HTTP at its read-model position, so both describe the
same events) or, without one, those the service's own catch-up (``service.read.read_model.ReadModel``) builds.
Differences are reported per endpoint and field.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from projections import SettingsView
from projections.settings import evolve
from service.read.past import PastReadModel
from service.read.queries import EndpointFilter, get_provider_settings, list_endpoints
from service.read.read_model import ReadModel, gc_paused
from service.write.application import SettingsApplication
from service.write.log import BATCH_SIZE, LogDecoder, batches

LIVE_ATTEMPTS = 5
CATCH_UP_STEP = 10 * BATCH_SIZE
"""Positions the catch-up folds between two progress reports."""


@dataclass
class Replay:
    view: SettingsView = field(default_factory=SettingsView)
    events: int = 0
    seconds: float = 0.0

    @property
    def position(self) -> int:
        return self.view.position

    @property
    def endpoints(self) -> int:
        return len(self.view.endpoints.by_id)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def replay(app: SettingsApplication, stop: int | None = None, progress: Callable[[int], None] | None = None) -> Replay:
    """Fold every stored event (up to position ``stop``) into a fresh view, timed; ``progress(position)`` after each
    batch read."""
    result = Replay()
    view = result.view
    to_domain_event = LogDecoder(app).to_domain_event
    started = time.perf_counter()
    for batch in batches(app.recorder, stop=stop):
        for notification in batch:
            evolve(view, to_domain_event(notification), notification.id)
            result.events += 1
        if progress is not None:
            progress(batch[-1].id)
    result.seconds = time.perf_counter() - started
    return result


def presented(view: SettingsView) -> dict[str, Any]:
    """The read models as the API shows them (secrets masked): what is compared."""
    past = PastReadModel(view)
    endpoints, _ = list_endpoints(past, EndpointFilter())
    return {
        "telephony": msgspec.to_builtins(get_provider_settings(past)),
        "endpoints": {item.id: msgspec.to_builtins(item) for item in endpoints},
    }


def differences(expected: dict[str, Any], live: dict[str, Any]) -> list[str]:
    found = [
        f"telephony.{name}: replay {value!r}, live {live['telephony'].get(name)!r}"
        for name, value in expected["telephony"].items()
        if live["telephony"].get(name) != value
    ]
    for endpoint_id, endpoint in expected["endpoints"].items():
        other = live["endpoints"].get(endpoint_id)
        if other is None:
            found.append(f"endpoint {endpoint_id}: in the replay, missing live")
            continue
        found += [
            f"endpoint {endpoint_id}.{name}: replay {value!r}, live {other.get(name)!r}"
            for name, value in endpoint.items()
            if other.get(name) != value
        ]
    found += [
        f"endpoint {endpoint_id}: live, missing from the replay"
        for endpoint_id in live["endpoints"]
        if endpoint_id not in expected["endpoints"]
    ]
    return found


def compare_with_catch_up(
    app: SettingsApplication, result: Replay, progress: Callable[[int], None] | None = None
) -> list[str]:
    """Compare the replay with the read model the service's catch-up builds (``progress(position)`` as it goes)."""
    live = ReadModel(app)
    if progress is None:
        live.catch_up(until=result.position)
    else:
        # The same catch-up, in steps, to report between them; collections stay paused across the steps, as in one.
        with gc_paused():
            step = CATCH_UP_STEP
            while live.position < result.position:
                progress(live.catch_up(until=min(live.position + step, result.position)))
    with live.reading() as view:
        return differences(presented(result.view), presented(view))


def compare_with_service(
    app: SettingsApplication, url: str, api_key: str, progress: Callable[[int], None] | None = None
) -> tuple[Replay, list[str]]:
    """Replay up to the service's read-model position and compare with what it serves at that position."""
    base = url.rstrip("/")
    for _ in range(LIVE_ATTEMPTS):
        position = _get(f"{base}/health/ready", None)["read_model_position"]
        live = {
            "telephony": _get(f"{base}/api/settings/telephony", api_key),
            "endpoints": {item["id"]: item for item in _get(f"{base}/api/settings/endpoints", api_key)},
        }
        if _get(f"{base}/health/ready", None)["read_model_position"] == position:
            result = replay(app, stop=position, progress=progress)
            return result, differences(presented(result.view), live)
    raise RuntimeError("the service kept changing while it was read; try again when it is quieter")


def _get(url: str, api_key: str | None) -> Any:
    if not url.startswith(("http://", "https://")):
        raise ValueError("--url must be an http:// or https:// URL")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"} if api_key else {})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.load(response)
