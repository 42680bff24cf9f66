"""Properties (hypothesis) of phone-number normalisation and of partial-update merging; no services involved.

Phone numbers: however a valid number is typed (digit groups with spaces, dashes, dots and parentheses between
them, blanks around), it maps to one E.164 value; any other string either maps to an E.164 value that is its own
normal form or is rejected with ``ValueError`` (what the API answers with 422), never with another exception.

Partial updates: for random states and random patches (fields present, absent or null; secrets sent back exactly as
a GET shows them masked), the events ``decide_update_*`` returns, folded into the state by the real projection,
give the state the plain model expects: the patch applied, a masked secret keeping the stored value. Fields left
out never change, and applying the same patch again stores nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import reduce
from typing import Any
from uuid import UUID

import msgspec
import phonenumbers
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from events import ENDPOINT_FIELDS, PROVIDER_FIELDS, PROVIDERS, SECRET_FIELDS, EndpointUpdated, ProviderUpdated
from events.phone_numbers import to_e164
from projections import Endpoint, ProviderConfig, ProviderView, evolve_endpoint, looks_masked, mask_secret
from projections import provider as provider_projection
from service.write.commands import Actor, PatchEndpoint, UpdateProvider
from service.write.decisions import decide_update_endpoint, decide_update_provider
from service.write.errors import EndpointNotFoundError, InvalidSettingsError

PROPERTIES = settings(max_examples=150, deadline=None, derandomize=True, database=None)
ACTOR = Actor(name="property", request_id="req-1")
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
MAX_TYPED_LENGTH = 32  # the request schemas' limit for a phone number, and to_e164's shape


# --- phone numbers -------------------------------------------------------------------------------------------------

_TYPES = [
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.TOLL_FREE,
    phonenumbers.PhoneNumberType.VOIP,
    phonenumbers.PhoneNumberType.UAN,
]


def _valid_example_numbers() -> list[str]:
    """Every example number phonenumbers holds (per region and type, and for non-geographic codes) that it also
    calls valid, in E.164: about a thousand numbers from some 240 countries."""
    numbers = [
        phonenumbers.example_number_for_type(region, kind)
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        for kind in _TYPES
    ]
    numbers += [
        phonenumbers.example_number_for_non_geo_entity(code)
        for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
    ]
    valid = {
        phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
        for n in numbers
        if n is not None and phonenumbers.is_valid_number(n)
    }
    return sorted(valid)


VALID_NUMBERS = _valid_example_numbers()
BLANKS = st.sampled_from(["", "", " ", "  ", "\t"])
SEPARATORS = st.text(alphabet=" -.", max_size=2)  # nothing, or one or two of space, dash and dot


@st.composite
def spellings(draw: st.DrawFn, e164: str) -> str:
    """``e164`` as a human might type it: its digits cut into groups, with separators and parentheses between the
    groups (the country code's first digit right after the ``+``), and blanks around the whole."""
    digits = e164[1:]
    cuts = sorted(draw(st.sets(st.integers(min_value=1, max_value=len(digits) - 1), max_size=5)))
    groups = [digits[start:end] for start, end in zip([0, *cuts], [*cuts, len(digits)], strict=True)]
    typed = "+" + groups[0]
    for group in groups[1:]:
        typed += draw(SEPARATORS) + (f"({group})" if draw(st.booleans()) else group)
    assume(len(typed) <= MAX_TYPED_LENGTH)
    return draw(BLANKS) + typed + draw(BLANKS)


@PROPERTIES
@given(st.sampled_from(VALID_NUMBERS).flatmap(lambda e164: st.tuples(st.just(e164), spellings(e164), spellings(e164))))
def test_every_spelling_of_a_valid_number_maps_to_its_one_e164_value(case: tuple[str, str, str]) -> None:
    e164, typed, typed_otherwise = case
    assert to_e164(e164) == e164
    assert to_e164(typed) == e164
    assert to_e164(typed_otherwise) == to_e164(typed)


def _accepted_or_rejected(typed: str) -> None:
    """``to_e164`` either gives an E.164 value that is its own normal form or raises ``ValueError`` (422) whose
    message does not repeat what was typed; any other exception fails the test (it would be a 500)."""
    try:
        e164 = to_e164(typed)
    except ValueError as exc:
        message = str(exc)
        assert message.endswith("(E.164)")
        if len(typed.strip()) >= 8:
            assert typed.strip() not in message
        return
    assert E164.fullmatch(e164)
    assert to_e164(e164) == e164


PHONE_LIKE = "+0123456789 ().-"


@PROPERTIES
@given(
    st.one_of(
        st.text(max_size=40),
        st.text(alphabet=PHONE_LIKE, max_size=40),
        st.text(alphabet=PHONE_LIKE + "x#*/_,+", min_size=1, max_size=34).map(lambda rest: "+" + rest),
        st.text(alphabet="0123456789", min_size=1, max_size=20).map(lambda digits: "+" + digits),
    )
)
def test_any_string_maps_to_a_fixed_point_e164_value_or_raises_value_error(typed: str) -> None:
    _accepted_or_rejected(typed)


@PROPERTIES
@given(
    st.sampled_from(VALID_NUMBERS).flatmap(spellings),
    st.integers(min_value=0, max_value=40),
    st.characters(codec="utf-8"),
)
def test_a_valid_spelling_with_one_character_changed_still_maps_to_e164_or_raises_value_error(
    typed: str, position: int, character: str
) -> None:
    position %= len(typed) + 1
    _accepted_or_rejected(typed[:position] + character + typed[position + 1 :])


# --- provider updates ----------------------------------------------------------------------------------------------

URLS = st.sampled_from(["https://your-domain.com", "https://calls.example.org/base", "https://api.exotel.com"])
NUMBERS = st.sampled_from(["+15551234567", "+919876543210", "+442079460958"])
IDENTIFIERS = st.sampled_from(["AC0123456789abcdef0123456789abcdef", "your_sid", "auth-id-7", "x"])
# Short secrets (masked as "****" alone) and long ones (masked as "****" + their last 4 characters), and secrets that
# look like masks themselves.
SECRETS = st.one_of(
    st.text(alphabet="abcdXYZ0189_-*", min_size=1, max_size=16),
    st.sampled_from(["your_auth_token", "****", "****oken", "tok"]),
)
LIMITS = st.integers(min_value=1, max_value=1000)


def provider_values(name: str, *, nullable: bool = True) -> st.SearchStrategy[Any]:
    """Values a validated patch (or a stored state) may hold for provider field ``name``."""
    if name == "provider":
        return st.sampled_from(PROVIDERS)
    if name.endswith("_max_concurrent"):
        return LIMITS
    if name in SECRET_FIELDS:
        values = SECRETS
    elif name in ("public_base_url", "exotel_api_base"):
        values = URLS
    elif name.endswith("_phone_number"):
        values = NUMBERS
    else:
        values = IDENTIFIERS
    return st.none() | values if nullable else values


# What a usable configuration needs (the API reference's rule, written out here rather than taken from the service):
# the public base URL and the active provider's credentials.
REQUIRED = {
    "twilio": ("public_base_url", "twilio_account_sid", "twilio_auth_token"),
    "exotel": ("public_base_url", "exotel_account_sid", "exotel_api_key", "exotel_api_token"),
    "vobiz": ("public_base_url", "vobiz_auth_id", "vobiz_auth_token"),
}


def usable(config: ProviderConfig) -> bool:
    return all(getattr(config, name) for name in REQUIRED[config.provider])


@st.composite
def provider_views(draw: st.DrawFn, complete: bool | None = None) -> ProviderView:
    """A stored configuration at some version; usually (always when ``complete``) a usable one, since a stored
    configuration passed the same check, but possibly the incomplete state before the first update."""
    fields = draw(st.fixed_dictionaries({name: provider_values(name) for name in PROVIDER_FIELDS}))
    if complete or (complete is None and draw(st.integers(min_value=0, max_value=4))):
        # The active provider's credentials, and often every provider's (so that switching provider can succeed).
        providers = PROVIDERS if draw(st.booleans()) else (fields["provider"],)
        for name in sorted({name for provider in providers for name in REQUIRED[provider]}):
            if fields[name] is None:
                fields[name] = draw(provider_values(name, nullable=False))
    return ProviderView(config=ProviderConfig(**fields), version=draw(st.integers(min_value=0, max_value=50)))


@st.composite
def provider_patches(draw: st.DrawFn, config: ProviderConfig) -> dict[str, Any]:
    """A patch of some fields: each sent or left out; sent as a new value, null (when nullable), the stored value,
    or, for a secret, the stored secret exactly as a GET shows it masked."""
    patch: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from([*PROVIDER_FIELDS, *sorted(SECRET_FIELDS)]), unique=True)):
        stored = getattr(config, name)
        choices = [provider_values(name, nullable=False), st.just(stored)]
        if name != "provider" and not name.endswith("_max_concurrent"):
            choices.append(st.none())
        if name in SECRET_FIELDS and stored is not None:
            choices += [st.just(mask_secret(stored))] * 2  # what a client that PUTs what it GOT sends
        patch[name] = draw(st.one_of(choices))
    return patch


def stale_masks(config: ProviderConfig, patch: dict[str, Any]) -> list[str]:
    """The secrets sent in the masked form ("****" and at most 4 more characters) that are not the current mask."""
    return [
        name
        for name in SECRET_FIELDS & set(patch)
        if isinstance(patch[name], str)
        and looks_masked(patch[name])
        and (getattr(config, name) is None or patch[name] != mask_secret(getattr(config, name)))
    ]


def merged_by_model(config: ProviderConfig, patch: dict[str, Any]) -> ProviderConfig:
    """The documented semantics: a field sent replaces the stored value (null clears it), except that a secret
    sent back as it is shown masked keeps the stored secret; a field left out keeps its value."""
    fields = msgspec.structs.asdict(config)
    for name, value in patch.items():
        stored = fields[name]
        if name in SECRET_FIELDS and stored is not None and value is not None and value == mask_secret(stored):
            continue
        fields[name] = value
    return ProviderConfig(**fields)


def provider_after(view: ProviderView, events: list[Any]) -> ProviderView:
    return reduce(provider_projection.evolve, events, view)


@PROPERTIES
@given(provider_views().flatmap(lambda view: st.tuples(st.just(view), provider_patches(view.config))))
def test_a_provider_update_stores_the_patch_merged_with_masked_secrets_kept(case: tuple[ProviderView, dict]) -> None:
    view, patch = case
    expected = merged_by_model(view.config, patch)
    masked_back = [name for name in SECRET_FIELDS & set(patch) if getattr(view.config, name) is not None]
    event(f"secrets sent back masked: {sum(patch[n] == mask_secret(getattr(view.config, n)) for n in masked_back)}")
    event("rejected: incomplete" if not usable(expected) else ("no change" if expected == view.config else "changed"))
    if stale_masks(view.config, patch):
        # A value in the masked form that is not the current secret's mask: refused (422), never stored.
        with pytest.raises(InvalidSettingsError):
            decide_update_provider(view, UpdateProvider(patch), ACTOR)
        return
    if not usable(expected):
        # The merged configuration would be unusable: rejected as a whole (422), nothing stored.
        with pytest.raises(InvalidSettingsError):
            decide_update_provider(view, UpdateProvider(patch), ACTOR)
        return

    events = decide_update_provider(view, UpdateProvider(patch), ACTOR)
    after = provider_after(view, events)

    assert after.config == expected
    for name in PROVIDER_FIELDS:
        if name not in patch:
            assert getattr(after.config, name) == getattr(view.config, name), f"{name} was left out but changed"
    if expected == view.config:
        assert events == []
        assert after.version == view.version
    else:
        [update] = events
        assert isinstance(update, ProviderUpdated)
        assert update.originator_version == view.version + 1
        assert update.actor == ACTOR.name
        # Only what was sent, and of that only what differs from the stored value, is recorded.
        assert set(update.changes) <= set(patch)
        assert all(value != getattr(view.config, name) for name, value in update.changes.items())

    assert decide_update_provider(after, UpdateProvider(patch), ACTOR) == [], "the same patch again must store nothing"


@PROPERTIES
@given(provider_views(complete=True))
def test_sending_back_every_field_as_a_get_shows_it_changes_nothing(view: ProviderView) -> None:
    shown = {
        name: mask_secret(value) if name in SECRET_FIELDS else value
        for name, value in msgspec.structs.asdict(view.config).items()
    }
    assert decide_update_provider(view, UpdateProvider(shown), ACTOR) == []


# --- endpoint updates ----------------------------------------------------------------------------------------------

AGENTS = st.none() | st.sampled_from(["support-agent", "sales-agent", "a", "Agent_9.x", "sales-agent-v2"])
LABELS = st.none() | st.sampled_from(["Main support line", "", "x" * 100, "Ünïcode ☎"])
ENDPOINT_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "inbound_agent_name": AGENTS,
    "outbound_agent_name": AGENTS,
    "label": LABELS,
    "is_active": st.booleans(),
}
CREATED = datetime(2026, 3, 18, 10, 0, 0, tzinfo=UTC)

endpoints = st.builds(
    Endpoint,
    id=st.integers(min_value=1, max_value=2**64).map(lambda n: UUID(int=n)),
    phone_number=NUMBERS,
    provider=st.sampled_from(PROVIDERS),
    inbound_agent_name=AGENTS,
    outbound_agent_name=AGENTS,
    label=LABELS,
    is_active=st.booleans(),
    created_at=st.just(CREATED),
    updated_at=st.just(CREATED),
    version=st.integers(min_value=1, max_value=50),
)


@st.composite
def endpoint_patches(draw: st.DrawFn, endpoint: Endpoint) -> dict[str, Any]:
    """Some of the updatable fields, each a new value, null (agents and label) or the stored value."""
    patch: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(ENDPOINT_FIELDS), unique=True)):
        patch[name] = draw(ENDPOINT_VALUES[name] | st.just(getattr(endpoint, name)))
    return patch


def endpoint_after(endpoint: Endpoint, events: list[Any]) -> Endpoint | None:
    return reduce(evolve_endpoint, events, endpoint)


def fields_of(endpoint: Endpoint) -> dict[str, Any]:
    """What an update may touch or must keep: everything but the update's own bookkeeping."""
    fields = msgspec.structs.asdict(endpoint)
    del fields["updated_at"], fields["version"]
    return fields


@PROPERTIES
@given(endpoints.flatmap(lambda endpoint: st.tuples(st.just(endpoint), endpoint_patches(endpoint))))
def test_an_endpoint_update_stores_exactly_the_patch(case: tuple[Endpoint, dict]) -> None:
    endpoint, patch = case
    events = decide_update_endpoint(endpoint, PatchEndpoint(endpoint.id, patch), ACTOR)
    after = endpoint_after(endpoint, events)
    assert after is not None

    assert fields_of(after) == {**fields_of(endpoint), **patch}
    for name in ("id", "phone_number", "provider", "created_at", *ENDPOINT_FIELDS):
        if name not in patch:
            assert getattr(after, name) == getattr(endpoint, name), f"{name} was left out but changed"
    if all(getattr(endpoint, name) == value for name, value in patch.items()):
        assert events == []
        assert after == endpoint
    else:
        [update] = events
        assert isinstance(update, EndpointUpdated)
        assert update.originator_id == endpoint.id
        assert update.originator_version == endpoint.version + 1
        assert after.version == endpoint.version + 1
        assert set(update.changes) <= set(patch)
        assert all(value != getattr(endpoint, name) for name, value in update.changes.items())

    assert decide_update_endpoint(after, PatchEndpoint(after.id, patch), ACTOR) == [], (
        "the same patch again must store nothing"
    )


@settings(PROPERTIES, max_examples=20)
@given(st.integers(min_value=1, max_value=2**64).map(lambda n: UUID(int=n)), endpoints.flatmap(endpoint_patches))
def test_updating_an_endpoint_that_does_not_exist_stores_nothing(endpoint_id: UUID, patch: dict[str, Any]) -> None:
    with pytest.raises(EndpointNotFoundError):
        decide_update_endpoint(None, PatchEndpoint(endpoint_id, patch), ACTOR)
