"""Phone numbers in the contract are E.164 (``+`` and digits); subjects and KV keys use the digits alone."""

from __future__ import annotations

import functools
import re

import phonenumbers

# What a human may type around the digits of an international number: "+1 (555) 123-4567", "+91.98765.43210".
PHONE_NUMBER_SHAPE = r"^\+[0-9][0-9 ().\-]{0,30}$"
"""The spelling accepted (after surrounding whitespace is stripped); the number must also be possible for its
country code, which no pattern expresses."""
_PHONE_SHAPE = re.compile(PHONE_NUMBER_SHAPE.removesuffix("$") + r"\Z")


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


@functools.cache
def possible_number_pattern() -> str:
    """A regular expression (ECMAScript and Python alike) for E.164 numbers that ``to_e164`` accepts, derived from
    libphonenumber's metadata: ``+``, a known country code, then a national number that does not start with 0 and
    has as many digits as a number of that country may have.

    For documents (the OpenAPI schema), not for checking: it describes the canonical form, a subset of what is
    accepted (separators are tolerated; libphonenumber's finer rules, such as national prefixes and Italian leading
    zeros, are not regular), so that a client that follows it never sends a number that is refused.
    """
    groups: dict[tuple[str, tuple[int, ...]], list[str]] = {}
    for country_code, regions in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(country_code, regions[0])
        if metadata is None:
            continue
        lengths = metadata.general_desc.possible_length or ()
        fitting = tuple(sorted(n for n in set(lengths) if n > 0 and n + len(str(country_code)) <= 15))
        if fitting:
            groups.setdefault((_first_digits(metadata), fitting), []).append(str(country_code))
    branches = [f"(?:{'|'.join(codes)}){first}{_more_digits(lengths)}" for (first, lengths), codes in groups.items()]
    return rf"^\+(?:{'|'.join(branches)})$"


def _first_digits(metadata: phonenumbers.PhoneMetadata) -> str:
    """The digits a national number may start with without libphonenumber taking them for a trunk prefix."""
    parsing = metadata.national_prefix_for_parsing or ""
    simple = re.fullmatch(r"[0-9|?]*", parsing) is not None  # "0|80?"; not Argentina's long expression
    prefixes = [metadata.national_prefix or "", *(parsing.split("|") if simple else ())]
    excluded = {"0"} | {prefix[0] for prefix in prefixes if prefix[:1].isdigit()}
    return "[" + "".join(digit for digit in "123456789" if digit not in excluded) + "]"


def _more_digits(lengths: tuple[int, ...]) -> str:
    """The digits after the first of a national number of one of ``lengths`` digits."""
    runs: list[list[int]] = []
    for length in lengths:
        if runs and length == runs[-1][1] + 1:
            runs[-1][1] = length
        else:
            runs.append([length, length])
    parts = [f"[0-9]{{{low - 1}}}" if low == high else f"[0-9]{{{low - 1},{high - 1}}}" for low, high in runs]
    return parts[0] if len(parts) == 1 else f"(?:{'|'.join(parts)})"


def e164_digits(e164: str) -> str:
    """``+15551234567`` -> ``15551234567`` (NATS subjects and KV keys allow no ``+``)."""
    return e164.lstrip("+")
