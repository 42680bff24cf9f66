"""Properties of the endpoints fold over any history the write side can produce.

Histories come from random commands run through the real ``decide_*`` functions (so every history is one the
store could hold); the view folded from them must match a plain dict model, and folding is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from events import ENDPOINT_FIELDS
from projections import Endpoint, EndpointsView, evolve_endpoint
from projections import endpoints as endpoints_projection
from service.write.commands import Actor, NewEndpoint, PatchEndpoint
from service.write.decisions import (
    PhoneNumberIndex,
    decide_create_endpoint,
    decide_delete_endpoint,
    decide_update_endpoint,
    evolve_index,
)
from service.write.errors import DuplicatePhoneNumberError, EndpointNotFoundError

NUMBERS = ["+15551234567", "+919876543210", "+442079460958"]
agents = st.none() | st.sampled_from(["support-agent", "sales-agent", "a", "Agent_9.x"])
labels = st.none() | st.sampled_from(["Main support line", "", "x" * 100])

creates = st.tuples(
    st.just("create"),
    st.builds(
        NewEndpoint,
        phone_number=st.sampled_from(NUMBERS),
        provider=st.sampled_from(["twilio", "exotel", "vobiz"]),
        inbound_agent_name=agents,
        outbound_agent_name=agents,
        label=labels,
        is_active=st.booleans(),
    ),
)
patches = st.fixed_dictionaries(
    {},
    optional={
        "inbound_agent_name": agents,
        "outbound_agent_name": agents,
        "label": labels,
        "is_active": st.booleans(),
    },
)
updates = st.tuples(st.just("update"), st.integers(min_value=0, max_value=20), patches)
deletes = st.tuples(st.just("delete"), st.integers(min_value=0, max_value=20))
commands = st.lists(st.one_of(creates, updates, deletes), max_size=40)


@dataclass
class History:
    """The events the write side stored for a run of commands, beside what a plain dict model expects."""

    events: list[Any] = field(default_factory=list)
    expected: dict[UUID, dict[str, Any]] = field(default_factory=dict)  # in creation order
    expected_numbers: dict[str, UUID] = field(default_factory=dict)


def run(command_list: list[tuple]) -> History:
    history = History()
    states: dict[UUID, Endpoint | None] = {}
    indexes: dict[str, PhoneNumberIndex] = {}
    ids: list[UUID] = []
    actor = Actor()

    def store(new_events: list[Any]) -> None:
        for event in new_events:
            history.events.append(event)
            if hasattr(event, "endpoint_id"):
                indexes[event.phone_number] = evolve_index(indexes.get(event.phone_number, PhoneNumberIndex()), event)
            else:
                states[event.originator_id] = evolve_endpoint(states.get(event.originator_id), event)

    for command in command_list:
        if command[0] == "create":
            new: NewEndpoint = command[1]
            endpoint_id = UUID(int=len(ids) + 1)
            index = indexes.get(new.phone_number, PhoneNumberIndex())
            try:
                store(decide_create_endpoint(endpoint_id, index, new, actor))
            except DuplicatePhoneNumberError:
                assert new.phone_number in history.expected_numbers
                continue
            assert new.phone_number not in history.expected_numbers
            ids.append(endpoint_id)
            history.expected[endpoint_id] = {
                "phone_number": new.phone_number,
                "provider": new.provider,
                **{name: getattr(new, name) for name in ENDPOINT_FIELDS},
            }
            history.expected_numbers[new.phone_number] = endpoint_id
            continue
        target = ids[command[1] % len(ids)] if ids else UUID(int=999)
        endpoint = states.get(target)
        try:
            if command[0] == "update":
                store(decide_update_endpoint(endpoint, PatchEndpoint(target, command[2]), actor))
            else:
                assert endpoint is not None or target not in history.expected
                index = indexes.get(endpoint.phone_number) if endpoint else PhoneNumberIndex()
                store(decide_delete_endpoint(target, endpoint, index or PhoneNumberIndex(), actor))
        except EndpointNotFoundError:
            assert target not in history.expected
            continue
        if command[0] == "update":
            history.expected[target].update(command[2])
        else:
            removed = history.expected.pop(target)
            del history.expected_numbers[removed["phone_number"]]
    return history


def fold(events: list[Any]) -> EndpointsView:
    return reduce(endpoints_projection.evolve, events, EndpointsView())


def shown(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "phone_number": endpoint.phone_number,
        "provider": endpoint.provider,
        **{name: getattr(endpoint, name) for name in ENDPOINT_FIELDS},
    }


@settings(max_examples=100)
@given(commands)
def test_replaying_the_stored_events_matches_a_plain_dict_model(command_list: list[tuple]) -> None:
    history = run(command_list)
    view = fold(history.events)

    assert list(view.by_id) == list(history.expected)
    assert {endpoint_id: shown(e) for endpoint_id, e in view.by_id.items()} == history.expected
    assert view.by_phone_number == history.expected_numbers
    for endpoint_id, endpoint in view.by_id.items():
        own_events = [e for e in history.events if e.originator_id == endpoint_id]
        assert endpoint.version == len(own_events)
        assert endpoint.created_at == own_events[0].timestamp
        assert endpoint.updated_at == own_events[-1].timestamp


@settings(max_examples=60)
@given(commands)
def test_folding_the_same_events_twice_gives_the_same_view(command_list: list[tuple]) -> None:
    events = run(command_list).events
    first, second = fold(events), fold(events)
    assert list(first.by_id.items()) == list(second.by_id.items())
    assert first.by_phone_number == second.by_phone_number


@settings(max_examples=60)
@given(commands, st.data())
def test_a_view_caught_up_in_steps_equals_one_rebuilt_in_one_go(command_list: list[tuple], data: st.DataObject) -> None:
    events = run(command_list).events
    split = data.draw(st.integers(min_value=0, max_value=len(events)))
    stepwise = reduce(endpoints_projection.evolve, events[split:], fold(events[:split]))
    rebuilt = fold(events)
    assert list(stepwise.by_id.items()) == list(rebuilt.by_id.items())
    assert stepwise.by_phone_number == rebuilt.by_phone_number


@settings(max_examples=60)
@given(commands)
def test_every_phone_number_in_the_view_points_at_a_live_endpoint_with_that_number(command_list: list[tuple]) -> None:
    view = fold(run(command_list).events)
    assert len(view.by_phone_number) == len(view.by_id)
    for number, endpoint_id in view.by_phone_number.items():
        assert view.by_id[endpoint_id].phone_number == number
