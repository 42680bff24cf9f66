"""``MsgspecJSONTranscoder``: eventsourcing's ``JSONTranscoder`` (the stored format is unchanged) that decodes with
msgspec: about 2.5 times faster than ``json`` with an object hook, and decoding is most of the cost of folding the
log (start-up, replicas catching up, the relay, past states). Named as ``TRANSCODER_TOPIC``, eventsourcing's own
hook for it, so the application's one mapper reads every event this way.

``json`` calls its object hook on every decoded object, innermost first; ``_revive`` walks the decoded value the
same way and turns each ``{"_type_": name, "_data_": data}`` object into ``transcoding.decode(data)``. Anything
msgspec refuses (e.g. ``NaN``, which ``json`` accepts) is decoded by ``json``, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)

# eventsourcing's own transcodings of str data, called directly (their decode() only adds an assert).
_STR_DECODERS: dict[type, Callable[[str], Any]] = {
    DatetimeAsISO: datetime.fromisoformat,
    UUIDAsHex: UUID,
    DecimalAsStr: Decimal,
}


class MsgspecJSONTranscoder(JSONTranscoder):
    def __init__(self) -> None:
        super().__init__()
        self._fast_decode = msgspec.json.Decoder().decode
        self._from_str: dict[str, Callable[[str], Any]] = {}

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        convert = _STR_DECODERS.get(type(transcoding))
        if convert is not None:
            self._from_str[transcoding.name] = convert

    def decode(self, data: bytes) -> Any:
        try:
            decoded = self._fast_decode(data)
        except msgspec.DecodeError:
            return super().decode(data)
        if type(decoded) is not dict or (len(decoded) == 2 and "_type_" in decoded):
            return self._revive(decoded)
        # The top-level object, with the common case inline: {"_type_": <a str transcoding>, "_data_": "..."}.
        from_str = self._from_str
        for key, item in decoded.items():
            kind = type(item)
            if kind is dict:
                if (
                    len(item) == 2
                    and type(text := item.get("_data_")) is str
                    and type(name := item.get("_type_")) is str
                    and (convert := from_str.get(name)) is not None
                ):
                    decoded[key] = convert(text)
                else:
                    decoded[key] = self._revive(item)
            elif kind is list:
                decoded[key] = self._revive(item)
        return decoded

    def _revive(self, value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            for key, item in value.items():
                if type(item) in (dict, list):
                    value[key] = self._revive(item)  # replacing values while iterating is safe: no key changes
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                try:
                    transcoding = self.names[value["_type_"]]
                except (KeyError, TypeError):
                    raise TranscodingNotRegisteredError(
                        f"Data serialized with name '{value['_type_']}' is not deserializable. Please register a "
                        "custom transcoding for this type."
                    ) from None
                return transcoding.decode(value["_data_"])
            return value
        if kind is list:
            return [self._revive(item) if type(item) in (dict, list) else item for item in value]
        return value
