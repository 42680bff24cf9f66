"""Logging: structured JSON lines (one per request, plus everything the service and its libraries log), or
human-readable lines when writing to a terminal. Built on structlog rendering the standard ``logging`` records, so
uvicorn's, eventsourcing's and our own loggers all come out in one format.

Nothing here logs a request or response body, and no log call in the service passes a secret.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

import msgspec
import structlog

ACCESS_LOGGER = "telephony_settings.access"


def _drop_color_message(_: object, __: str, event: dict[str, object]) -> dict[str, object]:
    event.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message
    return event


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Route every ``logging`` record through structlog; ``fmt`` is ``json``, ``console`` or ``auto`` (console
    when ``stream`` is a terminal)."""
    stream = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[structlog.typing.Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    formatter_class = _FastAccessLines if as_json else structlog.stdlib.ProcessorFormatter
    formatter = formatter_class(
        foreign_pre_chain=[*shared, structlog.processors.format_exc_info] if as_json else shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our access line carries more (route, request id, actor)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


_RECORD_KEYS = frozenset(logging.LogRecord("name", 0, "pathname", 0, "msg", (), None).__dict__)
"""A plain record's own attributes; the others are a call's ``extra`` fields (the rule of structlog's ExtraAdder)."""


class _FastAccessLines(structlog.stdlib.ProcessorFormatter):
    """structlog's JSON lines, with the access line (one per request, most of all lines) encoded directly: the same
    keys and values as the processor chain gives it, for a fraction of its cost."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name != ACCESS_LOGGER or record.args or record.exc_info:
            return super().format(record)
        line = {
            "event": record.msg,
            "level": record.levelname.lower(),
            "logger": record.name,
            **{key: value for key, value in record.__dict__.items() if key not in _RECORD_KEYS},
            "timestamp": datetime.fromtimestamp(record.created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        return msgspec.json.encode(line).decode()
