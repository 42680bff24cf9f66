"""The settings view: the endpoints view and the provider view together, with the store position they reflect."""

from __future__ import annotations

from dataclasses import dataclass, field

from projections import endpoints, provider


@dataclass
class SettingsView:
    endpoints: endpoints.EndpointsView = field(default_factory=endpoints.EndpointsView)
    provider: provider.ProviderView = provider.INITIAL
    position: int = 0
    """The notification-log position of the last event folded in (0: none)."""


def evolve(view: SettingsView, event: object, position: int) -> SettingsView:
    """Fold one stored event (at notification ``position``) into the view, in place, and return it."""
    endpoints.evolve(view.endpoints, event)
    view.provider = provider.evolve(view.provider, event)
    view.position = position
    return view
