"""Log rendering: JSON lines for machines, readable lines for a terminal; extras become fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from service.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level


def test_json_format_renders_one_object_per_record_with_its_extra_fields() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    logging.getLogger("telephony_settings.access").info("request", extra={"route": "/x", "status": 201})
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 7)
    logging.getLogger("telephony_settings").debug("hidden below the level")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "request"
    assert lines[0]["route"] == "/x"
    assert lines[0]["status"] == 201
    assert lines[0]["level"] == "info"
    assert lines[0]["logger"] == "telephony_settings.access"
    assert lines[0]["timestamp"].endswith("Z")
    assert lines[1]["event"] == "Started server process [7]"
    assert "color_message" not in lines[1]
    assert len(lines) == 2


def test_console_format_is_human_readable() -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", "console", stream)
    logging.getLogger("telephony_settings").debug("read model rebuilt at position %d", 3)
    text = stream.getvalue()
    assert "read model rebuilt at position 3" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_auto_format_chooses_json_when_not_writing_to_a_terminal() -> None:
    stream = io.StringIO()  # isatty() is False
    configure_logging("INFO", "auto", stream)
    logging.getLogger("x").warning("w")
    assert json.loads(stream.getvalue())["level"] == "warning"


def test_the_fast_access_line_has_the_same_fields_and_values_as_the_structlog_chain() -> None:
    # The access line is encoded directly (service.logs._FastAccessLines); any other record goes through structlog.
    # Both must give one and the same line for an access record, apart from the moment it was written.
    fast, slow = io.StringIO(), io.StringIO()
    fields = {"method": "POST", "route": "/r", "status": 201, "duration_ms": 1.5, "request_id": "id-1", "actor": "k"}
    configure_logging("INFO", "json", fast)
    logging.getLogger("telephony_settings.access").info("request", extra=fields)
    configure_logging("INFO", "json", slow)
    logging.getLogger("telephony_settings.access_like").info("request", extra=fields)  # not the access logger
    fast_line, slow_line = json.loads(fast.getvalue()), json.loads(slow.getvalue())

    assert fast_line.pop("logger") == "telephony_settings.access"
    assert slow_line.pop("logger") == "telephony_settings.access_like"
    assert fast_line.keys() == slow_line.keys()
    assert {k: v for k, v in fast_line.items() if k != "timestamp"} == {
        k: v for k, v in slow_line.items() if k != "timestamp"
    }
    assert len(fast_line["timestamp"]) == len(slow_line["timestamp"])
    assert fast_line["timestamp"].endswith("Z")
