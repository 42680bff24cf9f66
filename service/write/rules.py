"""Validation rules for values that come from clients: phone numbers, public URLs, names.

Each rule returns the normalised value or raises ``ValueError`` with a message that never repeats the
submitted value (it may be a secret typed into the wrong field).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from events.phone_numbers import PHONE_NUMBER_SHAPE, e164_digits, to_e164

AGENT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
PHONE_NUMBER_PATTERN = r"^\s*" + PHONE_NUMBER_SHAPE.removeprefix("^").removesuffix("$") + r"\s*$"
"""``PHONE_NUMBER_SHAPE`` with the surrounding whitespace that is stripped: what a ``phone_number`` filter must look
like (a query parameter is checked by Litestar against it)."""
LABEL_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
"""A label as ``pattern_errors`` accepts it (no control character), for documents."""
TEXT_PATTERN = r"^\s*[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?\s*$"
"""A credential or identifier as the provider rules accept it (something besides the surrounding whitespace, which is
stripped; no control character), for documents."""
TWILIO_ACCOUNT_SID_PATTERN = r"^AC[0-9a-fA-F]{32}$"
LABEL_MAX_LENGTH = 100

# The schema patterns end in "$", which in Python (and so in msgspec) also matches before a final newline:
# these whole-string checks close that gap for values that go into URLs and provider API calls.
WHOLE_VALUE_PATTERNS = {
    "inbound_agent_name": re.compile(AGENT_NAME_PATTERN.removesuffix("$") + r"\Z"),
    "outbound_agent_name": re.compile(AGENT_NAME_PATTERN.removesuffix("$") + r"\Z"),
    "twilio_account_sid": re.compile(TWILIO_ACCOUNT_SID_PATTERN.removesuffix("$") + r"\Z"),
}


# Free text that people read, and the credentials and identifiers sent to providers: a control character (NUL,
# escape, a line break) in them is never intended, and would reach consoles, logs, NATS consumers and provider APIs.
# (The provider's strings are checked after their surrounding whitespace is stripped: ``no_control_characters``.)
PLAIN_TEXT_FIELDS = ("label",)
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROL_CHARACTERS = "must not contain control characters (such as NUL or a line break)"


def no_control_characters(value: str) -> str:
    if _CONTROL_CHARACTER.search(value):
        raise ValueError(CONTROL_CHARACTERS)
    return value


def pattern_errors(fields: dict[str, object]) -> list[tuple[str, str]]:
    """(field, message) for each patterned field whose whole value does not match, and each text field with a
    control character in it (None values are fine)."""
    errors = [
        (name, "does not match the required pattern")
        for name, pattern in WHOLE_VALUE_PATTERNS.items()
        if isinstance(fields.get(name), str) and not pattern.match(fields[name])  # type: ignore[arg-type]
    ]
    errors += [
        (name, CONTROL_CHARACTERS)
        for name in PLAIN_TEXT_FIELDS
        if isinstance(fields.get(name), str) and _CONTROL_CHARACTER.search(fields[name])  # type: ignore[arg-type]
    ]
    return errors


__all__ = ["e164_digits", "pattern_errors", "phone_number_filter", "to_e164", "to_public_https_url"]


def to_public_https_url(raw: str) -> str:
    """A publicly reachable https base URL without trailing slash (telephony providers call back to it)."""
    text = raw.strip()
    if len(text) > 2048:
        raise ValueError("must be at most 2048 characters")
    if any(ch.isspace() for ch in text):
        raise ValueError("must not contain whitespace")
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError("is not a valid URL") from exc
    if parts.scheme.lower() != "https":
        raise ValueError("must be an https:// URL (providers require TLS for webhooks)")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain credentials")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise ValueError("must not contain a query or fragment")
    host = (parts.hostname or "").lower().rstrip(".")
    if port == 0:
        raise ValueError("must not use port 0")
    if not host:
        raise ValueError("must include a host")
    if host == "localhost" or host.endswith(".localhost"):
        raise ValueError("must be publicly reachable, not localhost")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
        host = _ascii_host(host)
    if address is not None and not address.is_global:
        raise ValueError("must be publicly reachable, not a loopback, private or link-local address")
    netloc = f"[{host}]" if address is not None and address.version == 6 else host
    if port is not None:
        netloc += f":{port}"
    return f"https://{netloc}{parts.path.rstrip('/')}"


def _ascii_host(host: str) -> str:
    """A DNS name in its ASCII (IDNA) form; rejects names that are not fully qualified or that resolvers would
    read as a numeric address (``0x7f.1``, ``2130706433``): no top-level domain is numeric."""
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("has an invalid host name") from None
    labels = ascii_host.rstrip(".").split(".")
    if len(labels) < 2 or any(not label for label in labels):
        raise ValueError("must have a fully qualified public host name")
    top = labels[-1]
    if top.isdigit() or top.startswith("0x") or not re.fullmatch(r"[a-z0-9-]+", top):
        raise ValueError("must have a fully qualified public host name")
    return ascii_host


def phone_number_filter(raw: str | None) -> str | None:
    """The E.164 form of a ``phone_number`` filter. A number of the documented shape that is not a possible number
    (so no endpoint can hold it) is kept as it was typed: it matches nothing, as the question deserves."""
    if raw is None:
        return None
    try:
        return to_e164(raw)
    except ValueError:
        return raw.strip()
