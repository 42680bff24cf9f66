"""Conditional and idempotent commands: ``If-Match`` preconditions and ``Idempotency-Key`` records.

Both are checked by the writer (``write.writer``) as it decides the command, and the check and the save are one
atomic step: a precondition that held when the command decided cannot be invalidated by a concurrent writer (the
save would lose the optimistic-concurrency race and the command would be decided again from the store).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from events import IdempotencyKeyUsed
from service.write.errors import SettingsError

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"  # printable ASCII, no spaces, as the IETF draft's examples
BAD_IDEMPOTENCY_KEY = "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces"
_VALID_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN.removesuffix("$") + r"\Z")


Versions = tuple[int, ...]
"""The versions a resource's state depends on: ``(endpoint, provider settings)`` for an endpoint (its webhook URL
follows the provider's base URL), ``(provider settings,)`` for the provider configuration."""
Outcome = Literal["created", "updated", "unchanged", "deleted"]


class PreconditionFailedError(SettingsError):
    """``If-Match`` named no current version of the resource (412); nothing was changed."""

    def __init__(self, detail: str, current: Versions | None) -> None:
        super().__init__(detail)
        self.current = current


class SettingsChangedError(PreconditionFailedError):
    """A change set's ``If-Match`` names a settings version (a store position) after which a setting changed (412);
    ``settings_version`` is the current one."""

    def __init__(self, detail: str, settings_version: int) -> None:
        super().__init__(detail, None)
        self.settings_version = settings_version


class IdempotencyKeyError(SettingsError):
    """The ``Idempotency-Key`` header is malformed (400)."""


class IdempotencyKeyReusedError(SettingsError):
    """The key was already used, by this API key, for a different request (422); nothing was changed."""


@dataclass(frozen=True)
class Precondition:
    """An ``If-Match``, read: any current version (``*``), or one of these ``Versions``."""

    any_version: bool = False
    versions: frozenset[Versions] = frozenset()

    def holds(self, current: Versions) -> bool:
        return self.any_version or current in self.versions


@dataclass(frozen=True)
class IdempotencyRequest:
    """An ``Idempotency-Key`` and what identifies the request it was sent with."""

    actor: str
    key: str
    fingerprint: str

    @classmethod
    def of(cls, actor: str, key: str, method: str, route: str, body: Any) -> IdempotencyRequest:
        if not _VALID_KEY.match(key):
            raise IdempotencyKeyError(BAD_IDEMPOTENCY_KEY)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(f"{method} {route}\n{canonical}".encode()).hexdigest()
        return cls(actor=actor, key=key, fingerprint=digest)


@dataclass(frozen=True)
class Conditions:
    """What a command must check before it stores anything."""

    if_match: Precondition | None = None
    idempotency: IdempotencyRequest | None = None

    def check(self, current: Versions | None, what: str) -> None:
        """Raise 412 unless ``If-Match`` is absent or holds for ``current`` (``None``: the resource is gone)."""
        if self.if_match is None:
            return
        if current is not None and self.if_match.holds(current):
            return
        raise PreconditionFailedError(
            f"If-Match does not match the current version of the {what}: read it again and resend", current
        )


NO_CONDITIONS = Conditions()


@dataclass(frozen=True)
class Receipt:
    """What a command did: enough to answer it, the first time or when its ``Idempotency-Key`` is replayed."""

    outcome: Outcome
    resource_id: UUID
    resource_version: int
    provider_version: int
    position: int | None = None  # of the last stored event; None when nothing was stored
    replayed: bool = False
    saved: tuple[tuple[int, Any], ...] = field(default=(), compare=False, repr=False)
    """(position, event) of every event stored: the read model can fold them without reading them back."""
    answer: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    """A change set's: what each item did (``IdempotencyKeyUsed.answer``)."""

    @classmethod
    def of_record(cls, record: IdempotencyKeyUsed) -> Receipt:
        return cls(
            outcome=record.outcome,  # type: ignore[arg-type]
            resource_id=record.resource_id,
            resource_version=record.resource_version,
            provider_version=record.provider_version,
            replayed=True,
            answer=record.answer,
        )
