"""Read models of telephony-settings: pure folds over the events of ``events``.

Each read model is an initial value plus ``evolve(view, event)``. They do no I/O, so the same folds serve the
service's GET routes, the relay, a call router's local table and an auditor's replay. This package imports
``events`` and never ``service``.
"""

from projections.endpoints import Endpoint, EndpointsView, evolve_endpoint, inbound_webhook_url
from projections.provider import ProviderConfig, ProviderView, looks_masked, mask_secret, masked
from projections.settings import SettingsView

__all__ = [
    "Endpoint",
    "EndpointsView",
    "ProviderConfig",
    "ProviderView",
    "SettingsView",
    "evolve_endpoint",
    "inbound_webhook_url",
    "looks_masked",
    "mask_secret",
    "masked",
]
