"""A plan: what applying a settings file would change on a service, and how a person reviews it.

``compute_plan`` is a pure function of the service's current state (as its GET routes answer) and the file
(``SettingsFile``): no I/O, so every case is a unit test on plain data. The plan carries the one change set that
applies it (``Plan.request``, the body of ``POST /api/settings/changes``) and the way back from an error the service
names (``endpoints[3].label``) to the line of the file (``Plan.locate``). ``render_plan`` is separate: it shows a
plan; no secret value is ever in what it shows, not even masked.

Values are compared as the service stores them (URLs without a trailing slash, numbers in E.164, credentials
trimmed), so a file in another spelling of the same settings plans no change; what is sent is the file's value,
which the service normalises and checks itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from events import SECRET_FIELDS
from projections.provider import looks_masked, mask_secret
from service.config.files import (
    ENDPOINT_FIELDS,
    Problem,
    SettingsFile,
    SettingsFileError,
    Value,
    duplicate_number,
)
from service.write.rules import to_e164, to_public_https_url

URL_FIELDS = frozenset({"public_base_url", "exotel_api_base"})


@dataclass(frozen=True)
class CurrentState:
    """The service's settings at ``version`` (its ``X-Settings-Version``; ``None`` when it does not say).

    ``telephony`` and ``endpoints`` as its GET routes answer them (secrets masked); ``credentials`` the provider
    settings with secrets in clear, when the API key may read them (scope secrets), else ``None``.
    """

    telephony: Mapping[str, Any]
    endpoints: Sequence[Mapping[str, Any]]
    version: int | None = None
    credentials: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class FieldChange:
    name: str
    old: Value
    new: Value
    line: int

    @property
    def secret(self) -> bool:
        return self.name in SECRET_FIELDS


@dataclass(frozen=True)
class Create:
    phone_number: str
    fields: Mapping[str, Value]
    line: int
    field_lines: Mapping[str, int]


@dataclass(frozen=True)
class Update:
    endpoint_id: str
    phone_number: str
    changes: tuple[FieldChange, ...]
    line: int


@dataclass(frozen=True)
class Delete:
    endpoint_id: str
    phone_number: str
    label: str | None


Operation = Create | Update | Delete


@dataclass(frozen=True)
class Plan:
    """The changes, in the order they are sent: the provider settings first, then the endpoints by number."""

    version: int | None
    telephony: tuple[FieldChange, ...]
    operations: tuple[Operation, ...]
    endpoints_managed: bool
    """Whether the file has an ``endpoints:`` section (without one, no endpoint is created, changed or pruned)."""
    kept: int
    """Endpoints on the service that the file does not name and that stay (no ``--prune``)."""
    secrets_by_mask: bool
    """Whether some secret was compared by its last 4 characters only (the key may not read secrets)."""

    @property
    def changed(self) -> bool:
        return bool(self.telephony or self.operations)

    def count(self, kind: type[Operation]) -> int:
        return sum(isinstance(operation, kind) for operation in self.operations)

    def request(self) -> dict[str, Any]:
        """The body of ``POST /api/settings/changes``: one change set for the whole plan."""
        body: dict[str, Any] = {}
        if self.telephony:
            body["telephony"] = {change.name: change.new for change in self.telephony}
        items: list[dict[str, Any]] = []
        for operation in self.operations:
            if isinstance(operation, Create):
                items.append({"op": "create", "phone_number": operation.phone_number, **operation.fields})
            elif isinstance(operation, Update):
                changes = {change.name: change.new for change in operation.changes}
                items.append({"op": "update", "id": operation.endpoint_id, **changes})
            else:
                items.append({"op": "delete", "id": operation.endpoint_id})
        if items:
            body["endpoints"] = items
        return body

    def locate(self, field: str) -> tuple[int | None, str]:
        """Where an error the service gives about ``field`` (``telephony.x``, ``endpoints[3].label``) is in the file:
        its line (``None`` when the file has none, e.g. a deletion) and what the field is, for a person."""
        head, _, name = field.partition(".")
        if head == "telephony":
            line = next((change.line for change in self.telephony if change.name == name), None)
            return line, field
        if head.startswith("endpoints[") and head.endswith("]") and head[10:-1].isdigit():
            index = int(head[10:-1])
            if index < len(self.operations):
                operation = self.operations[index]
                subject = f"endpoint {operation.phone_number}" + (f": {name}" if name else "")
                if isinstance(operation, Create):
                    return operation.field_lines.get(name, operation.line), subject
                if isinstance(operation, Update):
                    lines = {change.name: change.line for change in operation.changes}
                    return lines.get(name, operation.line), subject
                return None, f"{subject} (to delete: not in the file)"
        return None, field


def compute_plan(current: CurrentState, desired: SettingsFile, *, prune: bool = False) -> Plan:
    """What applying ``desired`` to ``current`` changes. ``prune``: also delete the endpoints the file does not name
    (only when it has an ``endpoints:`` section).

    Raises ``SettingsFileError`` for what the file asks that cannot be: a number that is not one, two keys for one
    number, a new number without a provider, another provider for an existing number.
    """
    problems: list[Problem] = []
    by_mask = False
    telephony: list[FieldChange] = []
    for name, (value, line) in (desired.telephony or {}).items():
        old = current.telephony.get(name)
        if name in SECRET_FIELDS:
            clear = None if current.credentials is None else current.credentials.get(name)
            changed = _secret_changed(value, old, clear, exact=current.credentials is not None)
            by_mask = by_mask or (current.credentials is None and value is not None and not looks_masked(str(value)))
        else:
            changed = _comparable(name, value) != old
        if changed:
            telephony.append(FieldChange(name, old, value, line))

    existing = {endpoint["phone_number"]: endpoint for endpoint in current.endpoints}
    wanted = _numbers(desired, existing, problems)
    operations: list[Operation] = []
    numbers = sorted(wanted.keys() | existing.keys()) if prune and desired.endpoints is not None else sorted(wanted)
    for number in numbers:
        endpoint = existing.get(number)
        if number not in wanted:
            operations.append(Delete(str(endpoint["id"]), number, endpoint.get("label")))  # type: ignore[index]
            continue
        line, fields = wanted[number]
        if endpoint is None:
            if "provider" not in fields:
                problems.append(Problem(line, f"endpoint {number} is a new number: it needs a provider"))
                continue
            values = {name: setting.value for name, setting in fields.items()}
            operations.append(Create(number, values, line, {name: setting.line for name, setting in fields.items()}))
            continue
        provider = fields.get("provider")
        if provider is not None and provider.value != endpoint["provider"]:
            problems.append(
                Problem(
                    provider.line,
                    f"endpoint {number} is a {endpoint['provider']} number on the service, not {provider.value}: the "
                    "provider of a number is fixed (delete the number, then create it again)",
                )
            )
            continue
        changes = tuple(
            FieldChange(name, endpoint.get(name), setting.value, setting.line)
            for name, setting in fields.items()
            if name != "provider" and setting.value != endpoint.get(name)
        )
        if changes:
            operations.append(Update(str(endpoint["id"]), number, changes, line))
    if problems:
        raise SettingsFileError(problems)
    managed = desired.endpoints is not None
    kept = 0 if prune and managed else len(existing.keys() - wanted.keys())
    return Plan(current.version, tuple(telephony), tuple(operations), managed, kept, by_mask)


def _numbers(
    desired: SettingsFile, existing: Mapping[str, Any], problems: list[Problem]
) -> dict[str, tuple[int, Mapping[str, Any]]]:
    """E.164 number -> (line, fields) of the file's endpoints. A key the reader trusted for its shape alone is
    normalised here unless the service holds that very number (so 10,000 known numbers cost no libphonenumber)."""
    wanted: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for endpoint in (desired.endpoints or {}).values():
        number = endpoint.phone_number
        if not endpoint.checked and number not in existing:
            try:
                number = to_e164(number)
            except ValueError as exc:
                problems.append(Problem(endpoint.line, f"endpoint {endpoint.phone_number}: the phone number {exc}"))
                continue
        if number in wanted:
            problems.append(Problem(endpoint.line, duplicate_number(endpoint.phone_number, number, wanted[number][0])))
            continue
        wanted[number] = (endpoint.line, endpoint.fields)
    return wanted


def _secret_changed(value: Value, masked: Any, clear: Any, *, exact: bool) -> bool:
    """Whether setting a secret to ``value`` changes it. ``exact``: ``clear`` is the current secret; else only its
    mask (``masked``) is known, and a secret that keeps its last 4 characters looks unchanged."""
    if value is None:
        return masked is not None
    text = str(value)
    if looks_masked(text):  # the file echoes a read: the service keeps the secret if it is its current mask
        return text != masked
    if exact:
        return text.strip() != clear
    return mask_secret(text.strip()) != masked


def _comparable(name: str, value: Value) -> Value:
    """``value`` as the service would store it (when it would take it at all: else as it is, and the service says
    what is wrong)."""
    if not isinstance(value, str):
        return value
    try:
        if name in URL_FIELDS:
            return to_public_https_url(value)
        if name.endswith("_phone_number"):
            return to_e164(value)
    except ValueError:
        return value
    return value.strip()


# -- rendering --------------------------------------------------------------------------------------------------------


def render_plan(plan: Plan) -> str:
    """The plan as a person reviews it: ``+`` create, ``~`` update (each field old -> new), ``-`` delete, and what the
    plan does not do. Secrets appear as ``(secret changed)``, never with a value."""
    lines: list[str] = []
    if plan.telephony:
        lines.append("telephony:")
        lines.extend(f"  ~ {change.name}: {_change(change)}" for change in plan.telephony)
    if plan.operations:
        lines.append("endpoints:")
    for operation in plan.operations:
        if isinstance(operation, Create):
            lines.append(f"  + {operation.phone_number}")
            lines.extend(f"      {name}: {_shown(operation.fields[name])}" for name in _ordered(operation.fields))
        elif isinstance(operation, Update):
            lines.append(f"  ~ {operation.phone_number}")
            lines.extend(f"      {change.name}: {_change(change)}" for change in operation.changes)
        else:
            label = f" ({operation.label})" if operation.label else ""
            lines.append(f"  - {operation.phone_number}{label}")
    if lines:
        lines.append("")
    lines.append(summary(plan))
    if plan.kept:
        kept = f"{plan.kept} endpoint{'s' if plan.kept != 1 else ''} on the service"
        if plan.endpoints_managed:
            lines.append(f"{kept} not in the file: kept (--prune would delete them).")
        else:
            lines.append(f"The file has no endpoints section: the {kept} are left as they are.")
    if plan.secrets_by_mask:
        lines.append(
            "Secrets were compared by their last 4 characters only (the API key lacks the secrets scope): "
            "a new secret that ends like the current one shows no change."
        )
    return "\n".join(lines) + "\n"


def summary(plan: Plan) -> str:
    if not plan.changed:
        return "No changes: the service already matches the file."
    fields = len(plan.telephony)
    return (
        f"Plan: {plan.count(Create)} to create, {plan.count(Update)} to update, {plan.count(Delete)} to delete; "
        f"provider settings: {fields} field{'s' if fields != 1 else ''} to change."
    )


def _change(change: FieldChange) -> str:
    if change.secret:
        return "(secret cleared)" if change.new is None else "(secret changed)"
    return f"{_shown(change.old)} → {_shown(change.new)}"


def _shown(value: Value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _ordered(fields: Mapping[str, Value]) -> list[str]:
    return [name for name in ENDPOINT_FIELDS if name in fields]
