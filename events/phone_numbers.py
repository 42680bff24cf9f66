"""Phone numbers in the contract are E.164 (``+`` and digits); subjects and KV keys use the digits alone."""

from __future__ import annotations

import re

import phonenumbers

# What a human may type around the digits of an international number: "+1 (555) 123-4567", "+91.98765.43210".
_PHONE_SHAPE = re.compile(r"^\+[0-9][0-9 ().\-]{0,30}$")


def to_e164(raw: str) -> str:
    """The E.164 form of an international phone number (``+`` and country code required).

    Raises ``ValueError`` with a message that does not repeat the input.
    """
    text = raw.strip()
    if not text.startswith("+"):
        raise ValueError("must be in international format, starting with + and the country code (E.164)")
    if not _PHONE_SHAPE.match(text):
        raise ValueError("may contain only +, digits, spaces, dashes, dots and parentheses (E.164)")
    e164 = _format(text)
    # E.164 allows at most 15 digits; and the stored form must be a fixed point (phonenumbers drops leading
    # zeros of some national numbers, so "+640077..." would shrink each time it is normalised again).
    if len(e164) - 1 > 15 or _format(e164) != e164:
        raise ValueError("is not a possible phone number for its country code (E.164)")
    return e164


def _format(text: str) -> str:
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("is not a phone number with a known country code (E.164)") from exc
    if not phonenumbers.is_possible_number(number):
        raise ValueError("is not a possible phone number for its country code (E.164)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def e164_digits(e164: str) -> str:
    """``+15551234567`` -> ``15551234567`` (NATS subjects and KV keys allow no ``+``)."""
    return e164.lstrip("+")
