"""Aggregate ids derived from values: the phone-number index (one per E.164 number) and the Idempotency-Key records
(one per API key name and key).

Aggregate ids are stored in clear, beside the payloads (which are encrypted when ``TELEPHONY_CIPHER_KEY`` is set). A
public derivation (``uuid5`` of the value) would let anyone who reads the store test candidate numbers against the
ids and recover every configured number in a second. So, with a cipher key, these ids are keyed:
``UUID(HMAC-SHA256(id key, public id))``, where the id key is derived from the cipher key (HMAC-SHA256 with a fixed
label, so it never equals the key that encrypts). Without the cipher key the store reveals everything anyway, and the
ids stay public (and identical to those stored before keyed ids existed).

Keying the public id (rather than the value) lets ``telephony-settings migrate keyed-ids`` re-key a store written
with public ids without knowing the numbers or the keys behind them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid5

PHONE_NUMBER_NAMESPACE = uuid5(NAMESPACE_URL, "urn:telephony-settings:phone-number")
IDEMPOTENCY_NAMESPACE = uuid5(NAMESPACE_URL, "urn:telephony-settings:idempotency-key")
_ID_KEY_LABEL = b"telephony-settings/aggregate-ids/v1"


def public_phone_number_index_id(e164: str) -> UUID:
    return uuid5(PHONE_NUMBER_NAMESPACE, e164)


def public_idempotency_id(actor: str, key: str) -> UUID:
    return uuid5(IDEMPOTENCY_NAMESPACE, f"{actor}\n{key}")


@dataclass(frozen=True)
class AggregateIds:
    """How this store derives ids from values: keyed (``key`` set) or public."""

    key: bytes | None = None

    @classmethod
    def for_cipher_key(cls, cipher_key: str | None) -> AggregateIds:
        """Keyed ids for an encrypted store (``cipher_key`` as in ``TELEPHONY_CIPHER_KEY``), public ids otherwise."""
        if not cipher_key:
            return cls()
        secret = base64.b64decode(cipher_key.encode())
        return cls(hmac.new(secret, _ID_KEY_LABEL, hashlib.sha256).digest())

    @property
    def keyed(self) -> bool:
        return self.key is not None

    def phone_number_index(self, e164: str) -> UUID:
        return self.of(public_phone_number_index_id(e164))

    def idempotency(self, actor: str, key: str) -> UUID:
        return self.of(public_idempotency_id(actor, key))

    def of(self, public_id: UUID) -> UUID:
        """The id this store uses for a value whose public id is ``public_id``."""
        if self.key is None:
            return public_id
        digest = hmac.new(self.key, public_id.bytes, hashlib.sha256).digest()
        return UUID(bytes=digest[:16], version=4)


PUBLIC = AggregateIds()
