"""How one stored event becomes an audit record, and how filters and moments are read: pure, no store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.audit.history import AuditFilter, present
from service.read.past import Moment, parse_moment
from service.write.errors import InvalidSettingsError
from tests.unit.builders import at, endpoint_created, endpoint_deleted, endpoint_updated, provider_updated


def test_an_update_shows_old_and_new_values_and_masks_secrets() -> None:
    event = provider_updated(2, twilio_auth_token="the-new-token-5678", twilio_max_concurrent=20)
    event = type(event)(
        **{**vars(event), "previous": {"twilio_auth_token": "old-token-1234", "twilio_max_concurrent": 10}}
    )

    record = present(7, event)

    assert (record.position, record.type, record.version, record.actor) == (7, "ProviderUpdated", 2, "anonymous")
    assert record.occurred_at == at(0).astimezone(UTC).isoformat(timespec="microseconds")
    assert record.data == {
        "changes": {
            "twilio_auth_token": {"old": "****1234", "new": "****5678"},
            "twilio_max_concurrent": {"old": 10, "new": 20},
        }
    }


def test_an_update_stored_without_old_values_shows_only_the_new_ones() -> None:
    created = endpoint_created()
    record = present(3, endpoint_updated(created, 2, label="new"))  # previous=None: version 1 of the event
    assert record.data == {"phone_number": created.phone_number, "changes": {"label": {"new": "new"}}}


def test_creations_and_deletions_show_the_endpoint() -> None:
    created = endpoint_created()
    assert present(1, created).data["phone_number"] == created.phone_number
    assert present(1, created).data["is_active"] is True
    assert present(2, endpoint_deleted(created, 2)).data == {"phone_number": created.phone_number}


def test_filters_match_on_actor_time_and_number() -> None:
    created = endpoint_created()
    assert AuditFilter(actor="anonymous", phone_number=created.phone_number).matches(created)
    assert not AuditFilter(actor="someone").matches(created)
    assert AuditFilter(since=at(0), until=at(0)).matches(created)
    assert not AuditFilter(since=at(1)).matches(created)
    setting_it = provider_updated(1, twilio_phone_number=created.phone_number)
    assert AuditFilter(phone_number=created.phone_number).matches(setting_it)
    assert not AuditFilter(phone_number="+15550009999").matches(setting_it)


def test_an_unknown_or_internal_type_is_refused() -> None:
    with pytest.raises(InvalidSettingsError):
        AuditFilter(types=("PhoneNumberClaimed",))


def test_a_moment_is_a_position_a_time_or_the_earlier_of_both() -> None:
    assert parse_moment(None, None) is None
    assert parse_moment(None, 5) == Moment(position=5)
    assert parse_moment("2026-03-18T10:00:00", None) == Moment(as_of=datetime(2026, 3, 18, 10, tzinfo=UTC))
    assert parse_moment("2026-03-18T12:00:00+02:00", None).as_of == datetime(2026, 3, 18, 10, tzinfo=UTC)  # type: ignore[union-attr]
    both = parse_moment("2026-03-18T10:00:00Z", 5)
    assert both == Moment(position=5, as_of=datetime(2026, 3, 18, 10, tzinfo=UTC))
    with pytest.raises(InvalidSettingsError):
        parse_moment("noon", None)
    created = endpoint_created()
    assert Moment(position=4).includes(4, created)
    assert not Moment(position=3).includes(4, created)
    assert Moment(as_of=at(0)).includes(1, created)
    assert not Moment(as_of=at(0)).includes(1, endpoint_updated(created, 2, minute=1, label="x"))


def test_with_both_an_event_counts_only_if_it_is_within_both() -> None:
    created = endpoint_created(minute=1)
    assert Moment(position=4, as_of=at(1)).includes(4, created)
    assert not Moment(position=3, as_of=at(1)).includes(4, created)  # after the position
    assert not Moment(position=4, as_of=at(0)).includes(4, created)  # after the time
