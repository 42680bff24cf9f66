"""The store's transcoder reads with msgspec exactly what eventsourcing's JSON transcoder gives."""

from __future__ import annotations

import datetime
import decimal
import uuid

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

from service.write.transcoder import MsgspecJSONTranscoder


def registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


@pytest.fixture
def transcoder() -> JSONTranscoder:
    return registered(JSONTranscoder())


@pytest.fixture
def fast() -> MsgspecJSONTranscoder:
    return registered(MsgspecJSONTranscoder())  # type: ignore[return-value]


SAMPLES = [
    {
        "timestamp": datetime.datetime(2026, 3, 18, 10, 0, 0, 123456, tzinfo=datetime.UTC),
        "actor": "admin",
        "request_id": None,
        "changes": {"label": "x", "is_active": False, "nested": [1, {"id": uuid.UUID(int=7)}]},
    },
    {"_type_": "not a transcoding", "n": 1},
    {"d": decimal.Decimal("1.50"), "l": [uuid.UUID(int=1), [datetime.datetime(2020, 1, 1)]]},
    [1, 2, {"t": uuid.UUID(int=3)}],
    "text",
    5,
    uuid.UUID(int=9),
    {"f": float("inf"), "big": 2**70, "unicode": "\u00e9\u2603"},
]


@pytest.mark.parametrize("value", SAMPLES)
def test_it_decodes_what_the_json_transcoder_encodes_to_the_same_values(
    transcoder: JSONTranscoder, fast: MsgspecJSONTranscoder, value
) -> None:
    data = transcoder.encode(value)
    expected = transcoder.decode(data)
    decoded = fast.decode(data)
    assert decoded == expected
    assert type(decoded) is type(expected)
    assert fast.encode(value) == data  # and it writes what the JSON transcoder writes


@pytest.mark.parametrize(
    "data", [b'{"k": {"_type_": "unknown", "_data_": "x"}}', b'{"k": {"_type_": 3, "_data_": "x"}}']
)
def test_an_unknown_transcoding_is_an_error_as_with_the_json_transcoder(
    transcoder: JSONTranscoder, fast: MsgspecJSONTranscoder, data
) -> None:
    with pytest.raises(Exception, match="not deserializable"):
        transcoder.decode(data)
    with pytest.raises(Exception, match="not deserializable"):
        fast.decode(data)
