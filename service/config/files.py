"""The settings file of ``config export|plan|apply`` (format version 1): reading it, checking it, writing it.

Reading composes the YAML into nodes (``yaml.compose`` on libyaml) instead of loading it into Python values: a node
keeps its line, so every problem of a file (a wrong type, an unknown key, a missing environment variable, a number
that is not one) is reported with the line to fix, all of them in one run. The structure and the types are checked
here; the rules of the values (agent names, URLs, the provider's credentials) are the service's, which a plan asks
in a dry run and maps back to lines.

A file holds no secret when ``export`` writes it: a secret is a reference to the environment (``${TWILIO_AUTH_TOKEN}``),
read when a plan is made. ``${NAME}`` may stand in any string value; ``$${`` writes a literal ``${``. A secret written
literally is accepted with a warning. No message of this module repeats a value: it may be a secret.

The field rules below are the only description of the format: the loader follows them, and
``service.config.schema`` turns them into the JSON Schema in ``docs/`` (a test keeps the two in step).
"""

from __future__ import annotations

import difflib
import gc
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from events import ENDPOINT_FIELDS as UPDATABLE_ENDPOINT_FIELDS
from events import PROVIDER_FIELDS, PROVIDERS, SECRET_FIELDS
from projections.provider import looks_masked
from service.write.rules import to_e164

FORMAT_VERSION = 1
HEADER = "# telephony-settings (config export); secrets are ${ENV} references"

Value = str | int | bool | None
FieldKind = Literal["provider", "text", "secret", "integer", "boolean"]


@dataclass(frozen=True)
class FieldRule:
    """What a field of the file may hold: ``kind`` (``text`` and ``secret`` are strings) and whether null."""

    kind: FieldKind
    nullable: bool


def _telephony_rule(name: str) -> FieldRule:
    if name == "provider":
        return FieldRule("provider", nullable=False)
    if name in SECRET_FIELDS:
        return FieldRule("secret", nullable=True)
    if name.endswith("_max_concurrent"):
        return FieldRule("integer", nullable=False)
    return FieldRule("text", nullable=True)


TELEPHONY_FIELDS: dict[str, FieldRule] = {name: _telephony_rule(name) for name in PROVIDER_FIELDS}
"""The ``telephony:`` section: the provider fields of the REST API, in its order (a partial update)."""
ENDPOINT_FIELDS: dict[str, FieldRule] = {
    "provider": FieldRule("provider", nullable=False),
    **{
        name: FieldRule("boolean", nullable=False) if name == "is_active" else FieldRule("text", nullable=True)
        for name in UPDATABLE_ENDPOINT_FIELDS
    },
}
"""An endpoint of the ``endpoints:`` section: its provider (fixed once created) and the fields an update may change."""
TOP_LEVEL = ("version", "telephony", "endpoints")

REFERENCE_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
TEXT_PATTERN = r"^(?:[^$]|\$(?!\{)|\$\$\{|\$\{" + REFERENCE_NAME + r"\})*$"
"""A string as the loader takes it: every ``${`` starts a reference ``${NAME}`` or is escaped as ``$${``."""
REFERENCE_PATTERN = r"(?:^|[^$])\$\{" + REFERENCE_NAME + r"\}"
"""A string that holds a reference (which the loader resolves before it checks, say, a provider name)."""
_TOKEN = re.compile(r"\$\$\{|\$\{(" + REFERENCE_NAME + r")\}|\$\{")
_CANONICAL = re.compile(r"\+[1-9][0-9]{6,14}\Z")
"""What an E.164 number looks like. ``to_e164`` keeps most such strings as they are, but not all (``+4407911123456``
is ``+447911123456``): a key of this shape is trusted without libphonenumber only where the service already holds
that very number (its numbers are ``to_e164``'s fixed points), see ``DesiredEndpoint.checked``."""

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_WHAT_YAML_READ = {
    _NULL: "null",
    _BOOL: "true or false",
    _INT: "a number",
    _FLOAT: "a number",
    "tag:yaml.org,2002:timestamp": "a date",
}


class Problem(NamedTuple):
    """Something wrong (or worth a warning) in a file, at a line of it (1-based) when it has one."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


class SettingsFileError(Exception):
    """The file cannot be used as it is: every problem found, in the order of their lines."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(problems, key=lambda problem: problem.line or 0)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class Setting(NamedTuple):
    """A field as the file sets it: its value (references resolved) and the line of its key."""

    value: Value
    line: int


@dataclass
class DesiredEndpoint:
    """An endpoint of the file. ``phone_number`` is E.164 when ``checked``; otherwise it is the key as written, which
    has the E.164 shape but still needs ``to_e164`` unless the service holds that very number."""

    phone_number: str
    line: int
    fields: dict[str, Setting]
    checked: bool


@dataclass
class SettingsFile:
    """A file read and checked. ``None`` for a section the file leaves out (or leaves empty): the file then does not
    manage it (no change, nothing pruned)."""

    telephony: dict[str, Setting] | None
    endpoints: dict[str, DesiredEndpoint] | None
    warnings: list[Problem] = field(default_factory=list)


def env_name(secret_field: str) -> str:
    """The environment variable ``export`` names for a secret: ``twilio_auth_token`` -> ``TWILIO_AUTH_TOKEN``."""
    return secret_field.upper()


# -- reading ----------------------------------------------------------------------------------------------------------


def load_settings(text: str, environ: Mapping[str, str]) -> SettingsFile:
    """The file ``text``, checked, its references resolved from ``environ``.

    Raises ``SettingsFileError`` with every problem found (a YAML syntax error stops the reading at the first).
    """
    reader = _Reader(environ)
    with _collection_paused():
        try:
            root = yaml.compose(text, Loader=yaml.CSafeLoader)
        except yaml.MarkedYAMLError as exc:
            raise SettingsFileError([_syntax_problem(exc)]) from None
        except yaml.reader.ReaderError as exc:  # a character YAML does not allow; libyaml counts bytes of UTF-8
            line = text.encode("utf-8", "surrogatepass")[: exc.position].count(b"\n") + 1
            problem = f"a character YAML does not allow (#x{exc.character:04x}): {exc.reason}"
            raise SettingsFileError([Problem(line, problem)]) from None
        settings = reader.read(root)
    if reader.problems:
        raise SettingsFileError(reader.problems)
    return settings


@contextmanager
def _collection_paused() -> Iterator[None]:
    """No cyclic garbage collection while a file is composed and read: 10,000 endpoints are some 100,000 nodes, and
    the collector would walk them over and over while they are made (three times the time), for nothing: they hold
    no cycle, and are all freed by reference counting."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _syntax_problem(exc: yaml.MarkedYAMLError) -> Problem:
    # Built from libyaml's words alone: str(exc) would quote the offending line, which may hold a secret.
    mark = exc.problem_mark or exc.context_mark
    words = "; ".join(part for part in (exc.context, exc.problem) if part)
    return Problem(mark.line + 1 if mark is not None else None, f"YAML syntax error: {words}")


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _kind_of(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, ScalarNode):
        return _WHAT_YAML_READ.get(node.tag, "a string" if node.tag == _STR else f"a {node.tag} value")
    return "a list"


class _Reader:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def problem(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(line, message))

    def read(self, root: Node | None) -> SettingsFile:
        if root is None:
            self.problem(1, f"the file is empty: a settings file starts with version: {FORMAT_VERSION}")
            return SettingsFile(None, None)
        if not isinstance(root, MappingNode):
            self.problem(
                _line(root), f"a settings file is a mapping (version, telephony, endpoints), not {_kind_of(root)}"
            )
            return SettingsFile(None, None)
        sections = self.mapping(root, "the file", TOP_LEVEL)
        version = sections.get("version")
        if version is None:
            self.problem(1, f"version is missing: a settings file starts with version: {FORMAT_VERSION}")
        elif not (
            isinstance(version[1], ScalarNode) and version[1].tag in (_INT, _FLOAT) and self.scalar(version[1]) == 1
        ):
            self.problem(version[0], f"version must be {FORMAT_VERSION} (the only format this program reads)")
        telephony = self.telephony(sections["telephony"][1]) if "telephony" in sections else None
        endpoints = self.endpoints(sections["endpoints"][1]) if "endpoints" in sections else None
        return SettingsFile(telephony, endpoints, self.warnings)

    def mapping(
        self, node: MappingNode, where: str, allowed: Mapping[str, object] | tuple[str, ...]
    ) -> dict[str, tuple[int, Node]]:
        """Key -> (line of the key, value node); reports keys that are not names, unknown keys and duplicates."""
        found: dict[str, tuple[int, Node]] = {}
        for key_node, value_node in node.value:
            line = _line(key_node)
            if not isinstance(key_node, ScalarNode):
                self.problem(line, f"a key in {where} must be a name, not {_kind_of(key_node)}")
                continue
            key = key_node.value
            if key not in allowed:
                names = tuple(allowed)
                close = difflib.get_close_matches(key, names, n=1)
                hint = f"; did you mean {close[0]}?" if close else f" (known: {', '.join(names)})"
                self.problem(line, f"unknown key {_shown(key)} in {where}{hint}")
                continue
            if key in found:
                self.problem(line, f"{_shown(key)} appears twice in {where} (also at line {found[key][0]})")
                continue
            found[key] = (line, value_node)
        return found

    def scalar(self, node: ScalarNode) -> Any:
        if node.tag == _STR:
            return node.value
        if node.tag == _NULL:
            return None
        construct = _CONSTRUCTOR.yaml_constructors.get(node.tag)
        if construct is None:
            raise ValueError("a tag this format does not use")
        return construct(_CONSTRUCTOR, node)

    def section(self, node: Node, name: str) -> MappingNode | None:
        """The mapping of a section; ``None`` when it is null (left empty) or not a mapping (reported)."""
        if isinstance(node, MappingNode):
            return node
        if not (isinstance(node, ScalarNode) and node.tag == _NULL):
            self.problem(_line(node), f"{name} must be a mapping, not {_kind_of(node)}")
        return None

    def telephony(self, node: Node) -> dict[str, Setting] | None:
        section = self.section(node, "telephony")
        if section is None:
            return None
        fields = self.mapping(section, "telephony", TELEPHONY_FIELDS)
        settings = {}
        for name, (line, value_node) in fields.items():
            setting = self.value(value_node, line, TELEPHONY_FIELDS[name], f"telephony.{name}")
            if setting is not None:
                settings[name] = setting
                if name in SECRET_FIELDS:
                    self.literal_secret_warning(name, value_node, line)
        return settings

    def literal_secret_warning(self, name: str, node: Node, line: int) -> None:
        text = node.value if isinstance(node, ScalarNode) and node.tag == _STR else None
        if text is not None and "${" not in text.replace("$${", "") and not looks_masked(text):
            self.warnings.append(Problem(line, f"{name} is written literally; use ${{{env_name(name)}}}"))

    def endpoints(self, node: Node) -> dict[str, DesiredEndpoint] | None:
        section = self.section(node, "endpoints")
        if section is None:
            return None
        endpoints: dict[str, DesiredEndpoint] = {}
        keys: dict[str, int] = {}
        for key_node, value_node in section.value:
            line = _line(key_node)
            if not isinstance(key_node, ScalarNode):
                self.problem(line, f"an endpoint's key must be its phone number, not {_kind_of(key_node)}")
                continue
            typed = key_node.value.strip()  # the text as written, even where YAML reads a number: +919876543210
            if _CANONICAL.match(typed):
                number, checked = typed, False
            else:
                try:
                    number, checked = to_e164(typed), True
                except ValueError as exc:
                    self.problem(line, f"endpoint {_shown(typed)}: the phone number {exc}")
                    continue
            if number in keys:
                self.problem(line, duplicate_number(typed, number, keys[number]))
                continue
            keys[number] = line
            fields = self.endpoint_fields(value_node, number)
            if fields is not None:
                endpoints[number] = DesiredEndpoint(number, line, fields, checked)
        return endpoints

    def endpoint_fields(self, node: Node, number: str) -> dict[str, Setting] | None:
        where = f"endpoint {number}"
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return {}  # "+15551234567:" alone: the number is in the file, every field as it is (or the default)
        if not isinstance(node, MappingNode):
            self.problem(_line(node), f"{where} must be a mapping of its fields, not {_kind_of(node)}")
            return None
        settings = {}
        for name, (line, value_node) in self.mapping(node, where, ENDPOINT_FIELDS).items():
            setting = self.value(value_node, line, ENDPOINT_FIELDS[name], f"{where}: {name}")
            if setting is not None:
                settings[name] = setting
        return settings

    def value(self, node: Node, line: int, rule: FieldRule, subject: str) -> Setting | None:
        """The field's value checked against its rule, references resolved; ``None`` when it is wrong (reported)."""
        expected = _EXPECTED[rule.kind] + (" or null" if rule.nullable else "")
        if not isinstance(node, ScalarNode):
            self.problem(line, f"{subject} must be {expected}, not {_kind_of(node)}")
            return None
        try:
            value = self.scalar(node)
        except (yaml.YAMLError, ValueError):
            self.problem(line, f"{subject} must be {expected}, not {_kind_of(node)}")
            return None
        if value is None:
            if rule.nullable:
                return Setting(None, line)
            self.problem(line, f"{subject} must be {expected}, not null")
            return None
        if rule.kind == "integer":
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # 5.0 is the integer 5, as in JSON Schema
            if isinstance(value, int) and not isinstance(value, bool):
                return Setting(value, line)
        elif rule.kind == "boolean":
            if isinstance(value, bool):
                return Setting(value, line)
        elif isinstance(value, str):
            resolved = self.resolve(value, line, subject)
            if resolved is None:
                return None
            if rule.kind == "provider" and resolved not in PROVIDERS:
                self.problem(line, f"{subject} must be {expected}")
                return None
            return Setting(resolved, line)
        stringly = rule.kind in ("text", "secret", "provider") and node.tag in _WHAT_YAML_READ
        hint = " (quote it to make it a string)" if stringly else ""
        self.problem(line, f"{subject} must be {expected}, not {_kind_of(node)}{hint}")
        return None

    def resolve(self, text: str, line: int, subject: str) -> str | None:
        """``text`` with its references replaced by the environment's values; ``None`` when one is missing."""
        if "$" not in text:
            return text
        parts: list[str] = []
        position = 0
        failed = False
        for match in _TOKEN.finditer(text):
            parts.append(text[position : match.start()])
            position = match.end()
            name = match.group(1)
            if match.group(0) == "$${":
                parts.append("${")
            elif name is None:
                self.problem(line, f"{subject} has a malformed reference: write ${{NAME}}, or $${{ for a literal ${{")
                failed = True
            elif (value := self.environ.get(name)) is None:
                self.problem(line, f"environment variable {name} is not set ({subject})")
                failed = True
            elif not value:
                self.problem(line, f"environment variable {name} is empty ({subject}); write null to clear a setting")
                failed = True
            else:
                parts.append(value)
        if failed:
            return None
        parts.append(text[position:])
        return "".join(parts)


_EXPECTED: dict[FieldKind, str] = {
    "provider": f"one of {', '.join(PROVIDERS)}",
    "text": "a string",
    "secret": "a string (a ${NAME} reference)",
    "integer": "an integer",
    "boolean": "true or false",
}


def duplicate_number(typed: str, number: str, first_line: int) -> str:
    """The message for an endpoint whose number (typed so) the file already has at ``first_line``."""
    if typed == number:
        return f"endpoint {number} appears twice (also at line {first_line})"
    return f"endpoint {_shown(typed)} is the number {number}, also at line {first_line}"


def _shown(text: str, limit: int = 40) -> str:
    """A key as a message quotes it: JSON-quoted (control characters visible), at most ``limit`` characters."""
    return json.dumps(text if len(text) <= limit else text[:limit] + "…", ensure_ascii=False)


# -- writing ----------------------------------------------------------------------------------------------------------


def export_settings(telephony: Mapping[str, Any], endpoints: Iterable[Mapping[str, Any]]) -> str:
    """The settings file of a service's state: ``telephony`` as ``GET /api/settings/telephony`` shows it (secrets
    masked: only whether each is set is used) and ``endpoints`` as ``GET /api/settings/endpoints`` lists them.

    Every provider field the service has is written (a secret as its ``${NAME}`` reference, or null when it is not
    set), then every endpoint, keyed and sorted by number, with all of its fields.
    """
    lines = [HEADER, f"version: {FORMAT_VERSION}", "telephony:"]
    for name in TELEPHONY_FIELDS:
        if name not in telephony:
            continue  # a field this service does not have (another version of it): left as it is
        value = telephony[name]
        secret = name in SECRET_FIELDS
        lines.append(f"  {name}: {_secret_reference(name, value) if secret else _yaml_value(value)}")
    ordered = sorted(endpoints, key=lambda endpoint: endpoint["phone_number"])
    lines.append("endpoints:" if ordered else "endpoints: {}")
    for endpoint in ordered:
        lines.append(f"  {_yaml_string(endpoint['phone_number'])}:")
        lines.extend(f"    {name}: {_yaml_value(endpoint.get(name))}" for name in ENDPOINT_FIELDS)
    return "\n".join(lines) + "\n"


def _secret_reference(name: str, masked: Any) -> str:
    """A secret as a file holds it: the reference to its environment variable, or null when it is not set."""
    return "null" if masked is None else f"${{{env_name(name)}}}"


_PLAIN = re.compile(r"[A-Za-z0-9_/+][A-Za-z0-9_$/+{}.,:@=() -]*\Z")
"""Strings that are safe unquoted (when YAML also reads them as strings and they hold no ``: `` and no final blank or
colon); the rest are double-quoted."""
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*\Z")
_RESOLVER = yaml.resolver.Resolver()


def _yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _yaml_string(str(value).replace("${", "$${"))  # a value's own "${" is not a reference


def _yaml_string(text: str) -> str:
    """``text`` as a YAML scalar that reads back as exactly this string."""
    if (
        _PLAIN.match(text)
        and ": " not in text
        and not text.endswith((" ", ":"))
        and _RESOLVER.resolve(ScalarNode, text, (True, False)) == _STR
    ):
        return text
    if _PRINTABLE_ASCII.match(text):
        return json.dumps(text)  # JSON's string escapes are YAML's double-quoted ones
    dumped = yaml.dump({"": text}, Dumper=yaml.CSafeDumper, default_style='"', allow_unicode=True, width=1 << 30)
    return dumped.removeprefix('"": ').rstrip("\n")
