"""The commands the write side takes: typed, validated and built here, in one place.

The HTTP layer decodes a request into its schema (types and lengths checked there) and calls one builder below;
the builder applies the rules that need code (``rules``: E.164 numbers, public URLs, patterns, control characters)
and names every bad field at once (``InvalidSettingsError``, a 422). The application (``application``) takes only
these commands, and the decisions (``decisions``) only decide and evolve.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from events import ENDPOINT_FIELDS, PROVIDER_FIELDS
from service.write import rules
from service.write.errors import FieldError, InvalidSettingsError

ProviderValue = str | int | None


@dataclass(frozen=True)
class Actor:
    """Who causes a change, recorded on every event; ``change_set``: the change set it belongs to, if any."""

    name: str = "anonymous"
    request_id: str | None = None
    change_set: UUID | None = None


@dataclass(frozen=True)
class NewEndpoint:
    """Create an endpoint for a number (E.164) that no endpoint holds."""

    phone_number: str
    provider: str
    inbound_agent_name: str | None = None
    outbound_agent_name: str | None = None
    label: str | None = None
    is_active: bool = True


@dataclass(frozen=True)
class PatchEndpoint:
    """Change some of an endpoint's agents, label and activity; ``changes`` holds only the fields sent."""

    endpoint_id: UUID
    changes: Mapping[str, str | bool | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert set(self.changes) <= set(ENDPOINT_FIELDS), set(self.changes) - set(ENDPOINT_FIELDS)


@dataclass(frozen=True)
class DeleteEndpoint:
    endpoint_id: UUID


@dataclass(frozen=True)
class UpdateProvider:
    """Change some of the provider settings; ``changes`` holds only the fields sent (``None`` clears one)."""

    changes: Mapping[str, ProviderValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert set(self.changes) <= set(PROVIDER_FIELDS), set(self.changes) - set(PROVIDER_FIELDS)


def new_endpoint(phone_number: str, **fields: Any) -> NewEndpoint:
    errors = [FieldError(name, message) for name, message in rules.pattern_errors(fields)]
    try:
        e164 = rules.to_e164(phone_number)
    except ValueError as exc:
        errors.insert(0, FieldError("phone_number", str(exc)))
    if errors:
        raise InvalidSettingsError(errors)
    return NewEndpoint(phone_number=e164, **fields)


def patch_endpoint(endpoint_id: UUID, fields: Mapping[str, Any]) -> PatchEndpoint:
    """An endpoint update from the fields a client sent."""
    errors = [FieldError(name, message) for name, message in rules.pattern_errors(dict(fields))]
    if errors:
        raise InvalidSettingsError(errors)
    return PatchEndpoint(endpoint_id, dict(fields))


def update_provider(fields: Mapping[str, Any]) -> UpdateProvider:
    """A provider update from the fields a client sent, each normalised (URLs, E.164 numbers, trimmed text)."""
    errors = [FieldError(name, message) for name, message in rules.pattern_errors(dict(fields))]
    changes: dict[str, ProviderValue] = {}
    for name, value in fields.items():
        try:
            changes[name] = _provider_value(name, value)
        except ValueError as exc:
            errors.append(FieldError(name, str(exc)))
    if errors:
        raise InvalidSettingsError(errors)
    return UpdateProvider(changes)


def _provider_value(name: str, value: Any) -> ProviderValue:
    if value is None:
        return None
    if name in ("public_base_url", "exotel_api_base"):
        return rules.to_public_https_url(value)
    if name.endswith("_phone_number"):
        return rules.to_e164(value)
    if isinstance(value, str):
        value = value.strip()
        if not value:
            raise ValueError("must not be empty (send null to clear it)")
        return rules.no_control_characters(value)
    return value  # type: ignore[no-any-return]


# -- change sets --------------------------------------------------------------------------------------------------

MAX_CHANGE_SET_ITEMS = 10_000
"""Endpoint items of one change set at most (``POST /api/settings/changes``)."""


@dataclass(frozen=True)
class EndpointChange:
    """One endpoint item of a change set, validated like the single-endpoint route it mirrors.

    ``create`` carries the new endpoint; ``update`` and ``delete`` address one by ``endpoint_id`` or by
    ``phone_number`` (E.164), and ``update`` carries ``changes`` as ``PatchEndpoint`` does."""

    op: str  # "create" | "update" | "delete"
    endpoint_id: UUID | None = None
    phone_number: str | None = None
    new: NewEndpoint | None = None
    changes: Mapping[str, str | bool | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangeSet:
    """Many changes, stored all together in one transaction or not at all.

    ``since``: the store position the client's view reflects (``If-Match``); the change set is refused (412) when any
    setting changed after it. ``dry_run``: decide everything, store nothing."""

    id: UUID
    telephony: UpdateProvider | None = None
    endpoints: tuple[EndpointChange, ...] = ()
    since: int | None = None
    dry_run: bool = False
