"""The events of telephony-settings: the stored and published contract.

Every change to the telephony settings is one of these events. They are stored in the event store (their
topic is ``module:Class``, so these module paths are fixed for ever), and they are what the relay publishes
and what auditors replay. Change them only by adding versions (``class_version`` plus an upcaster), never by
editing the meaning of a field that has already been stored.

The events are frozen data classes (eventsourcing's :class:`DomainEvent`: ``originator_id``,
``originator_version``, ``timestamp``) with standard-typed fields and no behaviour. A call router can import this
package without the service.
"""

from events.endpoints import (
    ENDPOINT_FIELDS,
    EndpointCreated,
    EndpointDeleted,
    EndpointUpdated,
    PhoneNumberClaimed,
    PhoneNumberReleased,
)
from events.idempotency import IdempotencyKeyUsed
from events.provider import (
    PROVIDER_FIELDS,
    PROVIDERS,
    SECRET_FIELDS,
    SETTINGS_ID,
    ProviderUpdated,
)

PUBLIC_EVENT_TYPES = (EndpointCreated, EndpointUpdated, EndpointDeleted, ProviderUpdated)
"""The events other services see; the phone-number claims and idempotency keys are internal to the write side."""

__all__ = [
    "ENDPOINT_FIELDS",
    "PROVIDERS",
    "PROVIDER_FIELDS",
    "PUBLIC_EVENT_TYPES",
    "SECRET_FIELDS",
    "SETTINGS_ID",
    "EndpointCreated",
    "EndpointDeleted",
    "EndpointUpdated",
    "IdempotencyKeyUsed",
    "PhoneNumberClaimed",
    "PhoneNumberReleased",
    "ProviderUpdated",
]
