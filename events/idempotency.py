"""The internal event that remembers an ``Idempotency-Key``.

Stored topic: ``events.idempotency:IdempotencyKeyUsed``. Do not move or rename.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEvent


class IdempotencyKeyUsed(DomainEvent):
    """Internal: a command sent with an ``Idempotency-Key`` succeeded; a retry with the same key gets its response.

    The aggregate id is ``uuid5(IDEMPOTENCY_NAMESPACE, actor + key)``, so a key is remembered per API key name, and
    this event is always version 1: two requests racing with one key cannot both record it. It is saved in the same
    transaction as the command's own events (possibly none, when the command changed nothing), so a change and the
    memory of its key are stored together or not at all. The response is not copied: ``resource_id`` at
    ``resource_version`` (and the provider settings at ``provider_version``, for the webhook URL) re-create it from
    the store. Not published.

    Version 3 adds ``answer``, for a change set only (``resource_id`` is then the change set's id): what each of its
    items did (``{"telephony": outcome or None, "endpoints": [[op, id, phone_number, result], ...]}``), which the
    store cannot re-create for items that changed nothing. ``None`` for every other command and earlier versions.
    """

    class_version = 3

    actor: str
    request_id: str | None
    fingerprint: str  # sha256 of method, route and canonical JSON body: the same key with another request is refused
    outcome: str  # "created", "updated", "unchanged" or "deleted": what the first request did (version 1: ``status``)
    resource_id: UUID
    resource_version: int
    provider_version: int
    answer: dict[str, Any] | None = None

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Version 1 kept the HTTP status of the first answer; an outcome is what the write side knows (a 200 was
        an update or no change: both answered the same, so "updated" re-creates the same answer)."""
        status = state.pop("status")
        state["outcome"] = {201: "created", 204: "deleted"}.get(status, "updated")

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        state["answer"] = None
