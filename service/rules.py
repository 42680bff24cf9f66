"""Validation rules for values that come from clients: phone numbers, public URLs, names.

Each rule returns the normalised value or raises ``ValueError`` with a message that never repeats the
submitted value (it may be a secret typed into the wrong field).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

import phonenumbers

AGENT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
TWILIO_ACCOUNT_SID_PATTERN = r"^AC[0-9a-fA-F]{32}$"
LABEL_MAX_LENGTH = 100

# What a human may type around the digits of an international number: "+1 (555) 123-4567", "+91.98765.43210".
_PHONE_SHAPE = re.compile(r"^\+[0-9][0-9 ().\-]{0,30}$")


def to_e164(raw: str) -> str:
    """The E.164 form of an international phone number (``+`` and country code required)."""
    text = raw.strip()
    if not text.startswith("+"):
        raise ValueError("must be in international format, starting with + and the country code (E.164)")
    if not _PHONE_SHAPE.match(text):
        raise ValueError("may contain only +, digits, spaces, dashes, dots and parentheses (E.164)")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("is not a phone number with a known country code (E.164)") from exc
    if not phonenumbers.is_possible_number(number):
        raise ValueError("is not a possible phone number for its country code (E.164)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def e164_digits(e164: str) -> str:
    """The digits of an E.164 number, as used in NATS subjects and KV keys (``+15551234567`` -> ``15551234567``)."""
    return e164.lstrip("+")


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
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("must include a host")
    if host == "localhost" or host.endswith(".localhost"):
        raise ValueError("must be publicly reachable, not localhost")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
        if "." not in host:
            raise ValueError("must have a fully qualified public host name") from None
    if address is not None and not address.is_global:
        raise ValueError("must be publicly reachable, not a loopback, private or link-local address")
    netloc = f"[{host}]" if address is not None and address.version == 6 else host
    if port is not None:
        netloc += f":{port}"
    return f"https://{netloc}{parts.path.rstrip('/')}"
