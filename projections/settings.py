"""The settings view: the endpoints view and the provider view together, with the store position they reflect."""

from __future__ import annotations

from dataclasses import dataclass, field

from events import EndpointCreated, EndpointDeleted, EndpointUpdated, ProviderUpdated
from projections import endpoints, provider


@dataclass
class SettingsView:
    endpoints: endpoints.EndpointsView = field(default_factory=endpoints.EndpointsView)
    provider: provider.ProviderView = provider.INITIAL
    position: int = 0
    """The notification-log position of the last event folded in (0: none)."""


CONSUMED_EVENTS = (EndpointCreated, EndpointUpdated, EndpointDeleted, ProviderUpdated)
"""The event types ``evolve`` reads; any other event only advances ``position`` (callers may skip decoding it)."""


def evolve(view: SettingsView, event: object, position: int) -> SettingsView:
    """Fold one stored event (at notification ``position``) into the view, in place, and return it."""
    kind = type(event)
    if kind in _ENDPOINT_EVENTS:  # the common case first: a replay is mostly endpoint events
        endpoints.evolve(view.endpoints, event)
    elif kind is ProviderUpdated:
        view.provider = provider.evolve(view.provider, event)
    elif kind not in _IGNORED:  # a subclass, or a type never seen: let both folds decide
        endpoints.evolve(view.endpoints, event)
        view.provider = provider.evolve(view.provider, event)
        if not isinstance(event, CONSUMED_EVENTS):
            _IGNORED.add(kind)
    view.position = position
    return view


_ENDPOINT_EVENTS = frozenset((EndpointCreated, EndpointUpdated, EndpointDeleted))
_IGNORED: set[type] = set()
"""Event types neither fold reads (e.g. the phone-number claims), learnt as they are met."""
