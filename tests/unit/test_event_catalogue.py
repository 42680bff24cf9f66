"""The event catalogue in events/catalogue is generated from events/wire.py; this fails when they drift apart."""

from __future__ import annotations

import json

from events import catalogue, wire


def test_catalogue_files_match_the_wire_types() -> None:
    stale = [name for name, text in catalogue.files().items() if (catalogue.HERE / name).read_text() != text]
    assert not stale, f"regenerate with `python -m events.catalogue`: {stale} differ from events/wire.py"


def test_every_published_body_has_a_schema_naming_its_fields() -> None:
    for name, body in catalogue.BODIES.items():
        schema = json.loads((catalogue.HERE / f"{name}.schema.json").read_text())
        definition = schema["$defs"][body.__name__]
        assert set(definition["properties"]) == set(body.__struct_fields__)


def test_catalogue_names_every_subject_and_header() -> None:
    text = (catalogue.HERE / "events.md").read_text()
    for fragment in (
        wire.STREAM,
        wire.KV_BUCKET,
        wire.PROVIDER_SUBJECT,
        wire.HEADER_MSG_ID,
        wire.HEADER_EVENT_TYPE,
        wire.HEADER_POSITION,
        ".created",
        ".updated",
        ".deleted",
    ):
        assert fragment in text
