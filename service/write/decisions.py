"""The domain rules of telephony settings as pure ``decide`` functions: state + command -> new events.

State comes from the same folds the read side uses (``projections``); the write side (``service.write.application``)
loads it from the store, calls a ``decide_*`` function and saves the events it returns with optimistic
concurrency. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.domain import DomainEvent

from events import (
    PROVIDER_FIELDS,
    SECRET_FIELDS,
    SETTINGS_ID,
    EndpointCreated,
    EndpointDeleted,
    EndpointUpdated,
    PhoneNumberClaimed,
    PhoneNumberReleased,
    ProviderUpdated,
)
from projections import Endpoint, ProviderConfig, ProviderView, looks_masked, mask_secret
from service.write.commands import Actor, NewEndpoint, PatchEndpoint, UpdateProvider
from service.write.errors import (
    DuplicatePhoneNumberError,
    EndpointNotFoundError,
    FieldError,
    InvalidSettingsError,
)
from service.write.ids import PHONE_NUMBER_NAMESPACE as PHONE_NUMBER_NAMESPACE  # re-exported
from service.write.ids import public_phone_number_index_id

STALE_MASK = (
    "is a masked value that is not the mask of the current secret (it changed since it was read): send the "
    "secret itself, or leave the field out to keep the current one"
)

REQUIRED_CREDENTIALS = {
    "twilio": ("twilio_account_sid", "twilio_auth_token"),
    "exotel": ("exotel_account_sid", "exotel_api_key", "exotel_api_token"),
    "vobiz": ("vobiz_auth_id", "vobiz_auth_token"),
}


@dataclass(frozen=True)
class PhoneNumberIndex:
    """Which endpoint holds a phone number; ``version`` is the index aggregate's, 0 before its first event.

    ``id`` is the index aggregate's id as this store derives it (``write.ids``: keyed when the store is encrypted);
    ``None`` means the public id of the number.
    """

    endpoint_id: UUID | None = None
    version: int = 0
    id: UUID | None = None

    def aggregate_id(self, e164: str) -> UUID:
        return self.id if self.id is not None else public_phone_number_index_id(e164)


phone_number_index_id = public_phone_number_index_id
"""The public index id of a number (an unencrypted store's); ``SettingsApplication.ids`` gives the store's own."""


def evolve_index(index: PhoneNumberIndex, event: object) -> PhoneNumberIndex:
    if isinstance(event, PhoneNumberClaimed):
        return replace(index, endpoint_id=event.endpoint_id, version=event.originator_version)
    if isinstance(event, PhoneNumberReleased):
        return replace(index, endpoint_id=None, version=event.originator_version)
    return index


def _stamp(actor: Actor) -> dict[str, Any]:
    return {"timestamp": DomainEvent.create_timestamp(), "actor": actor.name, "request_id": actor.request_id}


def decide_create_endpoint(
    endpoint_id: UUID, index: PhoneNumberIndex, command: NewEndpoint, actor: Actor
) -> list[DomainEvent]:
    if index.endpoint_id is not None:
        raise DuplicatePhoneNumberError(f"an endpoint for {command.phone_number} already exists")
    stamp = _stamp(actor)
    return [
        EndpointCreated(
            originator_id=endpoint_id,
            originator_version=1,
            phone_number=command.phone_number,
            provider=command.provider,
            inbound_agent_name=command.inbound_agent_name,
            outbound_agent_name=command.outbound_agent_name,
            label=command.label,
            is_active=command.is_active,
            change_set=actor.change_set,
            **stamp,
        ),
        PhoneNumberClaimed(
            originator_id=index.aggregate_id(command.phone_number),
            originator_version=index.version + 1,
            phone_number=command.phone_number,
            endpoint_id=endpoint_id,
            **stamp,
        ),
    ]


def decide_update_endpoint(endpoint: Endpoint | None, command: PatchEndpoint, actor: Actor) -> list[DomainEvent]:
    """Only the fields that change are recorded; a command that changes nothing stores nothing."""
    if endpoint is None:
        raise EndpointNotFoundError(f"endpoint {command.endpoint_id} not found")
    changes = {name: value for name, value in command.changes.items() if getattr(endpoint, name) != value}
    if not changes:
        return []
    return [
        EndpointUpdated(
            originator_id=endpoint.id,
            originator_version=endpoint.version + 1,
            phone_number=endpoint.phone_number,
            changes=changes,
            previous={name: getattr(endpoint, name) for name in changes},
            change_set=actor.change_set,
            **_stamp(actor),
        )
    ]


def decide_delete_endpoint(
    endpoint_id: UUID, endpoint: Endpoint | None, index: PhoneNumberIndex, actor: Actor
) -> list[DomainEvent]:
    if endpoint is None:
        raise EndpointNotFoundError(f"endpoint {endpoint_id} not found")
    stamp = _stamp(actor)
    return [
        EndpointDeleted(
            originator_id=endpoint.id,
            originator_version=endpoint.version + 1,
            phone_number=endpoint.phone_number,
            change_set=actor.change_set,
            **stamp,
        ),
        PhoneNumberReleased(
            originator_id=index.aggregate_id(endpoint.phone_number),
            originator_version=index.version + 1,
            phone_number=endpoint.phone_number,
            endpoint_id=endpoint.id,
            **stamp,
        ),
    ]


def decide_update_provider(current: ProviderView, command: UpdateProvider, actor: Actor) -> list[DomainEvent]:
    """Merge the command's changes into the configuration and check the result as a whole.

    A secret sent back exactly as it is shown masked keeps the stored secret, so a client can PUT what it GOT. Any
    other value in the masked form is refused: it is a read of an older (or absent) secret sent back, and storing it
    would replace the real secret with its own mask.
    """
    config = current.config
    changes: dict[str, Any] = {}
    stale_masks = []
    for name, value in command.changes.items():
        stored = getattr(config, name)
        if name in SECRET_FIELDS and isinstance(value, str) and looks_masked(value):
            if stored is None or value != mask_secret(stored):
                stale_masks.append(FieldError(name, STALE_MASK))
            continue
        if value != stored:
            changes[name] = value
    if stale_masks:
        raise InvalidSettingsError(stale_masks)
    merged = msgspec.structs.replace(config, **changes)
    problems = missing_settings(merged)
    if problems:
        raise InvalidSettingsError(problems)
    if not changes:
        return []
    return [
        ProviderUpdated(
            originator_id=SETTINGS_ID,
            originator_version=current.version + 1,
            changes={name: changes[name] for name in PROVIDER_FIELDS if name in changes},
            previous={name: getattr(config, name) for name in PROVIDER_FIELDS if name in changes},
            change_set=actor.change_set,
            **_stamp(actor),
        )
    ]


def missing_settings(config: ProviderConfig) -> list[FieldError]:
    """What the configuration lacks to be usable: the public base URL and the active provider's credentials."""
    problems = []
    if not config.public_base_url:
        problems.append(FieldError("public_base_url", "is required for every provider"))
    for name in REQUIRED_CREDENTIALS[config.provider]:
        if not getattr(config, name):
            problems.append(FieldError(name, f"is required when provider is {config.provider}"))
    return problems
