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


def test_descriptions_do_not_depend_on_how_msgspec_dedents_docstrings() -> None:
    # msgspec 0.22 kept the indentation of a docstring's later lines in "description"; 0.23 strips it.
    as_022 = {"$defs": {"Body": {"description": "Body of a message.\n\n    ``endpoint`` is the state."}}}
    as_023 = {"$defs": {"Body": {"description": "Body of a message.\n\n``endpoint`` is the state."}}}
    assert catalogue.normalised(as_022) == catalogue.normalised(as_023) == as_023


def test_committed_descriptions_are_in_normal_form() -> None:
    def descriptions(node: object) -> list[str]:
        if isinstance(node, dict):
            own = [node["description"]] if isinstance(node.get("description"), str) else []
            return own + [text for value in node.values() for text in descriptions(value)]
        if isinstance(node, list):
            return [text for item in node for text in descriptions(item)]
        return []

    for name in catalogue.BODIES:
        schema = json.loads((catalogue.HERE / f"{name}.schema.json").read_text())
        for text in descriptions(schema):
            assert "\n " not in text, f"{name}: a description keeps docstring indentation: {text!r}"
