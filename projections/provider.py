"""The provider view: the current telephony provider configuration, folded from ``ProviderUpdated`` events."""

from __future__ import annotations

from datetime import datetime

import msgspec

from events import PROVIDER_FIELDS, SECRET_FIELDS, ProviderUpdated

MASK = "****"


class ProviderConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The provider configuration as stored (secrets in clear). Defaults are the state before any change."""

    provider: str = "twilio"
    public_base_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_phone_number: str | None = None
    twilio_max_concurrent: int = 10
    exotel_account_sid: str | None = None
    exotel_api_key: str | None = None
    exotel_api_token: str | None = None
    exotel_phone_number: str | None = None
    exotel_api_base: str | None = None
    exotel_max_concurrent: int = 5
    vobiz_auth_id: str | None = None
    vobiz_auth_token: str | None = None
    vobiz_phone_number: str | None = None
    vobiz_max_concurrent: int = 5


class ProviderView(msgspec.Struct, frozen=True, kw_only=True):
    config: ProviderConfig = ProviderConfig()
    version: int = 0
    updated_at: datetime | None = None


INITIAL = ProviderView()


def evolve(view: ProviderView, event: object) -> ProviderView:
    """Pure fold: the view after ``event`` (other event types leave it as it is)."""
    if not isinstance(event, ProviderUpdated):
        return view
    return ProviderView(
        config=msgspec.structs.replace(view.config, **event.changes),
        version=event.originator_version,
        updated_at=event.timestamp,
    )


def mask_secret(value: str | None) -> str | None:
    """``"****"`` plus the last 4 characters; a secret shorter than 8 characters shows none of itself."""
    if value is None:
        return None
    return MASK + value[-4:] if len(value) >= 8 else MASK


def looks_masked(value: str) -> bool:
    """Whether ``value`` has the form ``mask_secret`` gives (``"****"`` and at most 4 more characters): a client that
    sends it back is echoing a read, not setting a secret."""
    return value.startswith(MASK) and len(value) <= len(MASK) + 4


def masked(config: ProviderConfig) -> dict[str, object]:
    """The configuration as every response shows it: the fields of the API reference, secrets masked."""
    return {
        name: mask_secret(getattr(config, name)) if name in SECRET_FIELDS else getattr(config, name)
        for name in PROVIDER_FIELDS
    }
