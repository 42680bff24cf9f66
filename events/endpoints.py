"""Events of a telephony endpoint (phone number -> agents) and of the phone-number index.

Stored topics: ``events.endpoints:EndpointCreated`` and so on. Do not move or rename.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import DomainEvent

Value = str | int | bool | None

ENDPOINT_FIELDS = ("inbound_agent_name", "outbound_agent_name", "label", "is_active")
"""The fields of an endpoint that an update may change (number and provider are fixed)."""


class EndpointCreated(DomainEvent):
    """A phone number was mapped to agents. ``originator_id`` is the endpoint id.

    Version 2 adds ``change_set``: the id of the change set (``POST /api/settings/changes``) that stored it, or
    ``None`` for a single change. Events stored in version 1 are upcast with ``change_set=None``.
    """

    class_version = 2

    actor: str
    request_id: str | None
    phone_number: str  # E.164
    provider: str
    inbound_agent_name: str | None
    outbound_agent_name: str | None
    label: str | None
    is_active: bool
    change_set: UUID | None = None

    @staticmethod
    def upcast_v1_v2(state: dict[str, object]) -> None:
        state["change_set"] = None


class EndpointUpdated(DomainEvent):
    """Some of an endpoint's ``ENDPOINT_FIELDS`` changed: ``changes`` holds only those, with their new values.

    Version 2 adds ``previous``: the same fields' values before the change, for the audit trail. Events stored in
    version 1 had no ``previous``; they are upcast with ``previous=None`` (not recorded), never with a guess.
    Version 3 adds ``change_set`` (see ``EndpointCreated``).
    """

    class_version = 3

    actor: str
    request_id: str | None
    phone_number: str  # E.164, unchanged; carried so that the event alone names the number
    changes: dict[str, Value]
    previous: dict[str, Value] | None = None
    change_set: UUID | None = None

    @staticmethod
    def upcast_v1_v2(state: dict[str, object]) -> None:
        state["previous"] = None

    @staticmethod
    def upcast_v2_v3(state: dict[str, object]) -> None:
        state["change_set"] = None


class EndpointDeleted(DomainEvent):
    """The endpoint was deleted; its phone number is free again. Version 2 adds ``change_set`` (see
    ``EndpointCreated``)."""

    class_version = 2

    actor: str
    request_id: str | None
    phone_number: str  # E.164
    change_set: UUID | None = None

    @staticmethod
    def upcast_v1_v2(state: dict[str, object]) -> None:
        state["change_set"] = None


class PhoneNumberClaimed(DomainEvent):
    """Internal: the phone-number index (id ``uuid5(PHONE_NUMBER_NAMESPACE, e164)``) now belongs to an endpoint.

    Saved atomically with ``EndpointCreated``; the index's optimistic version check is what makes
    "one endpoint per number" hold under concurrent requests. Not published.
    """

    actor: str
    request_id: str | None
    phone_number: str
    endpoint_id: UUID


class PhoneNumberReleased(DomainEvent):
    """Internal: the endpoint holding the number was deleted; saved atomically with ``EndpointDeleted``."""

    actor: str
    request_id: str | None
    phone_number: str
    endpoint_id: UUID
