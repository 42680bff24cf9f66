"""Change sets: many changes decided together and stored in one transaction, or not at all.

A change set (``commands.ChangeSet``) is one command to the writer (``write.writer``), so it is decided against the
same state as every other command and stored by the same group commit. ``decide`` goes through its items in order,
collects every problem with the path of the item and field it concerns (``endpoints[3].phone_number``), and returns
the events of all items or raises one ``InvalidSettingsError`` that lists them all: an item that fails leaves
nothing of the others stored.

Items of one change set touch distinct aggregates (two items for one number or one endpoint are refused), so each
item is decided against the state before the change set, and the events of all of them can be applied at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import DomainEvent

from service.write import decisions as domain
from service.write.commands import Actor, ChangeSet, EndpointChange, PatchEndpoint
from service.write.errors import FieldError, InvalidSettingsError
from service.write.ids import AggregateIds
from service.write.memory import Kind, Memory, States

NUMBER_HELD = "another endpoint already holds this number"
NO_SUCH_ID = "no endpoint has this id"
NO_SUCH_NUMBER = "no endpoint has this number"
SAME_NUMBER = "names the same number as endpoints[{other}]: one item per number"
"""The problems of an item that depend on the stored settings or on the other items (not on the item's shape)."""

Answer = dict[str, Any]
"""What each part did: ``{"telephony": outcome or None, "endpoints": [[op, id, phone_number, result], ...]}``."""


class _ItemError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def created_id(change_set: UUID, index: int) -> UUID:
    """The id the item at ``index`` creates: fixed by the change set, so deciding it again keeps it."""
    return uuid5(change_set, str(index))


def decide(change_set: ChangeSet, actor: Actor, states: States) -> tuple[list[DomainEvent], Answer]:
    """Every item's events and what each did, or ``InvalidSettingsError`` naming every problem."""
    actor = replace(actor, change_set=change_set.id)
    events: list[DomainEvent] = []
    errors: list[FieldError] = []
    telephony = None
    if change_set.telephony is not None:
        try:
            decided = domain.decide_update_provider(states.provider(), change_set.telephony, actor)
        except InvalidSettingsError as exc:
            errors.extend(FieldError(f"telephony.{error.field}", error.message) for error in exc.errors)
        else:
            events.extend(decided)
            telephony = "updated" if decided else "unchanged"
    numbers: dict[str, int] = {}  # E.164 -> the item that names it
    results: list[list[Any]] = []
    for index, item in enumerate(change_set.endpoints):
        try:
            decided, result = _decide_item(change_set.id, index, item, actor, states, numbers)
        except _ItemError as exc:
            errors.append(FieldError(f"endpoints[{index}].{exc.field}", exc.message))
            continue
        except InvalidSettingsError as exc:
            errors.extend(FieldError(f"endpoints[{index}].{error.field}", error.message) for error in exc.errors)
            continue
        events.extend(decided)
        results.append(result)
    if errors:
        count = f"{len(errors)} problem{'s' if len(errors) > 1 else ''}"
        raise InvalidSettingsError(errors, detail=f"nothing was changed: the change set has {count}")
    return events, {"telephony": telephony, "endpoints": results}


def _decide_item(
    change_set: UUID, index: int, item: EndpointChange, actor: Actor, states: States, numbers: dict[str, int]
) -> tuple[list[DomainEvent], list[Any]]:
    if item.op == "create":
        assert item.new is not None
        e164 = item.new.phone_number
        _claim(numbers, e164, index, "phone_number")
        held = states.index(e164)
        if held.endpoint_id is not None:
            raise _ItemError("phone_number", NUMBER_HELD)
        endpoint_id = created_id(change_set, index)
        return domain.decide_create_endpoint(endpoint_id, held, item.new, actor), [
            "create",
            str(endpoint_id),
            e164,
            "created",
        ]
    if item.phone_number is not None:
        _claim(numbers, item.phone_number, index, "phone_number")
    field, endpoint = _addressed(item, states)
    if item.phone_number is None:
        _claim(numbers, endpoint.phone_number, index, field)
    if item.op == "update":
        events = domain.decide_update_endpoint(endpoint, PatchEndpoint(endpoint.id, item.changes), actor)
        return events, ["update", str(endpoint.id), endpoint.phone_number, "updated" if events else "unchanged"]
    events = domain.decide_delete_endpoint(endpoint.id, endpoint, states.index(endpoint.phone_number), actor)
    return events, ["delete", str(endpoint.id), endpoint.phone_number, "deleted"]


def _claim(numbers: dict[str, int], e164: str, index: int, field: str) -> None:
    other = numbers.setdefault(e164, index)
    if other != index:
        raise _ItemError(field, SAME_NUMBER.format(other=other))


def _addressed(item: EndpointChange, states: States) -> tuple[str, Any]:
    """The endpoint an update or delete names, and the field that names it."""
    if item.endpoint_id is not None:
        endpoint = states.endpoint(item.endpoint_id)
        if endpoint is None:
            raise _ItemError("id", NO_SUCH_ID)
        return "id", endpoint
    assert item.phone_number is not None
    holder = states.index(item.phone_number).endpoint_id
    endpoint = states.endpoint(holder) if holder is not None else None
    if endpoint is None:
        raise _ItemError("phone_number", NO_SUCH_NUMBER)
    return "phone_number", endpoint


def read_ahead(
    change_set: ChangeSet, memory: Memory, ids: AggregateIds, include_unseen: bool, refresh: bool
) -> set[UUID]:
    """Load what deciding ``change_set`` reads, in two queries: the endpoints and numbers its items name, then the
    endpoints those numbers lead to and the numbers of the endpoints it deletes. The numbers it creates are read only
    with ``include_unseen`` (else they are taken as unused); with ``refresh``, even what the memory holds is read
    again. Returns the ids read."""
    first: dict[UUID, Kind] = {}
    for item in change_set.endpoints:
        if item.endpoint_id is not None:
            first[item.endpoint_id] = "endpoint"
        elif item.phone_number is not None:
            first[ids.phone_number_index(item.phone_number)] = "index"
        elif include_unseen and item.new is not None:
            first[ids.phone_number_index(item.new.phone_number)] = "index"
    memory.prefetch(first, refresh=refresh)
    second: dict[UUID, Kind] = {}
    for item in change_set.endpoints:
        if item.endpoint_id is not None:
            endpoint = memory.get(item.endpoint_id, "endpoint")
            if item.op == "delete" and endpoint is not None:
                second[ids.phone_number_index(endpoint.phone_number)] = "index"
        elif item.phone_number is not None:
            holder = memory.get(ids.phone_number_index(item.phone_number), "index").endpoint_id
            if holder is not None:
                second[holder] = "endpoint"
    memory.prefetch(second, refresh=refresh)
    return {*first, *second}


def present(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The answer's items as the API shows them."""
    return {
        "telephony": answer["telephony"],
        "endpoints": [
            {"op": op, "id": endpoint_id, "phone_number": number, "result": result}
            for op, endpoint_id, number, result in answer["endpoints"]
        ],
    }
