"""Events of the telephony provider configuration (a single aggregate with the well-known id ``SETTINGS_ID``).

Stored topic: ``events.provider:ProviderUpdated``. Do not move or rename.
"""

from __future__ import annotations

from typing import Literal, get_args
from uuid import UUID

from eventsourcing.domain import DomainEvent

from events.wire import PublicProviderConfig

Value = str | int | None

SETTINGS_ID = UUID("5e771e65-7e1e-4a0e-9000-000000000001")
"""The id of the one telephony-settings aggregate."""

ProviderName = Literal["twilio", "exotel", "vobiz"]
PROVIDERS: tuple[str, ...] = get_args(ProviderName)

PROVIDER_FIELDS: tuple[str, ...] = PublicProviderConfig.__struct_fields__
"""The provider configuration's fields, in order: those of the NATS contract's ``PublicProviderConfig`` (which shows
secrets only as "set" / "not set"; the names are the same)."""
"""The provider configuration's fields, in the order of the API reference (16, as in the seed's GET response)."""

SECRET_FIELDS = frozenset({"twilio_auth_token", "exotel_api_key", "exotel_api_token", "vobiz_auth_token"})
"""Fields whose values are credentials: stored, but never shown unmasked, logged or published."""


class ProviderUpdated(DomainEvent):
    """Some provider fields changed: ``changes`` holds only those, with their new values (``None`` = cleared).

    Secret values are stored here (encrypted at rest when a cipher key is configured); everything that
    leaves the service masks them.

    Version 2 adds ``previous``: the changed fields' values before the change, for the audit trail. Events stored in
    version 1 are upcast with ``previous=None`` (not recorded). Version 3 adds ``change_set``: the id of the change
    set (``POST /api/settings/changes``) that stored it, ``None`` for a single change (and for earlier versions).
    """

    class_version = 3

    actor: str
    request_id: str | None
    changes: dict[str, Value]
    previous: dict[str, Value] | None = None
    change_set: UUID | None = None

    @staticmethod
    def upcast_v1_v2(state: dict[str, object]) -> None:
        state["previous"] = None

    @staticmethod
    def upcast_v2_v3(state: dict[str, object]) -> None:
        state["change_set"] = None
