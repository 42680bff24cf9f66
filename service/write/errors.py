"""The errors the domain raises; the HTTP layer maps each to one status code (see ``service.http.errors``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class SettingsError(Exception):
    """Base of every error a client can cause."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidSettingsError(SettingsError):
    """The request is well-formed JSON but breaks a rule (422). Messages never echo submitted values."""

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        super().__init__(detail or "; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class EndpointNotFoundError(SettingsError):
    """No live endpoint has that id (404)."""


class DuplicatePhoneNumberError(SettingsError):
    """Another endpoint already holds the phone number (409)."""


class ConcurrentChangeError(SettingsError):
    """Retries were exhausted against concurrent writers (409); the client may simply try again."""
