"""API keys: parsing ``TELEPHONY_API_KEYS``, recognising a presented key, and the admin key made at first start.

The expectations come from the issue (``name:key:scopes``, scopes joined by ``+`` from read/write/audit/secrets or
``*``, ``sha256:<hex>`` instead of a clear key; first start: an admin key shown once, only its hash kept in
``<data dir>/api-keys``), not from the module's own constants.
"""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from service.http.auth import KeyConfigurationError, KeyRing, entry, load_key_ring, new_key, parse_keys

ALICE_KEY = "alice-key-0123456789abcdef"
BOB_KEY = "bob-key-fedcba9876543210"
ROOT_KEY = "root-key-00000000000000000"
ALL_SCOPES = ("read", "write", "audit", "secrets")


def sha256_hex(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def ring(text: str) -> KeyRing:
    return KeyRing(parse_keys(text))


# -- parse_keys: good entries ------------------------------------------------------------------------------------


def test_an_entry_gives_the_name_the_single_scope_and_only_the_hash_of_the_key() -> None:
    [key] = parse_keys(f"alice:{ALICE_KEY}:read")

    assert key.name == "alice"
    assert key.scopes == frozenset({"read"})
    assert key.digest == hashlib.sha256(ALICE_KEY.encode()).digest()
    assert ALICE_KEY not in repr(key)  # the clear key is not kept


def test_scopes_joined_by_plus_are_all_granted_and_no_other() -> None:
    [key] = parse_keys(f"bob:{BOB_KEY}:read+write+secrets")

    assert key.scopes == frozenset({"read", "write", "secrets"})
    assert key.allows("read")
    assert key.allows("write")
    assert key.allows("secrets")
    assert not key.allows("audit")


def test_a_star_grants_every_scope() -> None:
    [key] = parse_keys(f"root:{ROOT_KEY}:*")

    for scope in ALL_SCOPES:
        assert key.allows(scope), scope


def test_a_single_scope_allows_nothing_else() -> None:
    [key] = parse_keys(f"alice:{ALICE_KEY}:audit")

    assert key.allows("audit")
    for scope in ("read", "write", "secrets"):
        assert not key.allows(scope), scope


def test_several_entries_separated_by_commas_with_spaces_and_a_trailing_comma() -> None:
    keys = parse_keys(f" alice:{ALICE_KEY}:read , bob:{BOB_KEY}:write,")

    assert [(key.name, key.scopes) for key in keys] == [
        ("alice", frozenset({"read"})),
        ("bob", frozenset({"write"})),
    ]


def test_an_empty_configuration_has_no_keys() -> None:
    assert parse_keys("") == []
    assert parse_keys(" , ,") == []


def test_a_key_given_as_sha256_hex_is_taken_as_its_digest() -> None:
    hexdigest = sha256_hex(ALICE_KEY)

    [key] = parse_keys(f"alice:sha256:{hexdigest}:read+write")

    assert key.name == "alice"
    assert key.digest == bytes.fromhex(hexdigest)
    assert key.scopes == frozenset({"read", "write"})


def test_a_sha256_digest_in_upper_case_hex_is_accepted() -> None:
    keys = ring(f"alice:sha256:{sha256_hex(ALICE_KEY).upper()}:read")

    alice = keys.authenticate(ALICE_KEY)
    assert alice is not None
    assert alice.name == "alice"


# -- parse_keys: bad entries -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        pytest.param(f"alice:{ALICE_KEY}", ALICE_KEY, id="no-scopes"),
        pytest.param(f"alice:{ALICE_KEY}:", ALICE_KEY, id="empty-scopes"),
        pytest.param("alice::read", "", id="empty-key"),
        pytest.param("alice", "", id="name-only"),
        pytest.param(f":{ALICE_KEY}:read", ALICE_KEY, id="empty-name"),
        pytest.param(f"al ice:{ALICE_KEY}:read", ALICE_KEY, id="name-with-space"),
        pytest.param(f"{'n' * 65}:{ALICE_KEY}:read", ALICE_KEY, id="name-too-long"),
        pytest.param(f"alice:{ALICE_KEY}:admin", ALICE_KEY, id="unknown-scope"),
        pytest.param(f"alice:{ALICE_KEY}:read+admin", ALICE_KEY, id="one-unknown-scope-among-good-ones"),
        pytest.param(f"alice:{ALICE_KEY}:read,write", ALICE_KEY, id="scopes-joined-by-comma"),
        pytest.param(f"alice:{ALICE_KEY}:Read", ALICE_KEY, id="scope-in-wrong-case"),
        pytest.param("alice:tiny-k3y-xy:read", "tiny-k3y-xy", id="clear-key-shorter-than-16"),
        pytest.param("alice:sha256:zz" + "0" * 62 + ":read", "zz" + "0" * 62, id="sha256-not-hex"),
        pytest.param(
            "alice:sha256:" + sha256_hex(ALICE_KEY)[:63] + ":read", sha256_hex(ALICE_KEY)[:63], id="sha256-63"
        ),
        pytest.param("alice:sha256:" + sha256_hex(ALICE_KEY) + "a:read", sha256_hex(ALICE_KEY) + "a", id="sha256-65"),
        pytest.param("alice:sha256::read", "", id="sha256-empty"),
    ],
)
def test_a_bad_entry_is_refused_without_showing_its_key(text: str, secret: str) -> None:
    with pytest.raises(KeyConfigurationError) as caught:
        parse_keys(text)

    message = str(caught.value)
    assert message  # says what is wrong
    if secret:
        assert secret not in message


def test_a_bad_entry_among_good_ones_is_refused_and_named_by_its_position() -> None:
    with pytest.raises(KeyConfigurationError) as caught:
        parse_keys(f"alice:{ALICE_KEY}:read,bob:{BOB_KEY}:everything")

    message = str(caught.value)
    assert "2" in message or "bob" in message  # the operator can find the entry
    assert BOB_KEY not in message
    assert ALICE_KEY not in message


def test_two_entries_with_the_same_name_are_refused_without_showing_either_key() -> None:
    with pytest.raises(KeyConfigurationError) as caught:
        parse_keys(f"alice:{ALICE_KEY}:read,alice:{BOB_KEY}:write")

    message = str(caught.value)
    assert ALICE_KEY not in message
    assert BOB_KEY not in message


def test_a_bare_key_without_name_or_scopes_is_refused_without_showing_the_key() -> None:
    """A likely mistake: TELEPHONY_API_KEYS set to the key that ``keys new`` printed, not to its entry."""
    key = new_key()

    with pytest.raises(KeyConfigurationError) as caught:
        parse_keys(key)

    assert key not in str(caught.value)


def test_a_key_with_scopes_but_no_name_is_refused_without_showing_the_key() -> None:
    key = new_key()

    with pytest.raises(KeyConfigurationError) as caught:
        parse_keys(f"{key}:read")

    assert key not in str(caught.value)


def test_the_configuration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="expected name:key:scopes"):  # a lone word could be a key: not echoed
        parse_keys("alice")


# -- KeyRing.authenticate ----------------------------------------------------------------------------------------


def test_the_ring_recognises_each_key_as_its_own_entry() -> None:
    keys = ring(f"alice:{ALICE_KEY}:read,bob:{BOB_KEY}:write,root:{ROOT_KEY}:*")

    alice = keys.authenticate(ALICE_KEY)
    bob = keys.authenticate(BOB_KEY)
    root = keys.authenticate(ROOT_KEY)

    assert alice is not None
    assert (alice.name, alice.scopes) == ("alice", frozenset({"read"}))
    assert bob is not None
    assert (bob.name, bob.scopes) == ("bob", frozenset({"write"}))
    assert root is not None
    assert root.name == "root"


@pytest.mark.parametrize(
    "presented",
    [
        pytest.param("", id="empty"),
        pytest.param("not-a-configured-key-at-all", id="unknown"),
        pytest.param(ALICE_KEY[:-1], id="prefix"),
        pytest.param(ALICE_KEY + "x", id="longer"),
        pytest.param(ALICE_KEY.upper(), id="other-case"),
        pytest.param(" " + ALICE_KEY, id="leading-space"),
        pytest.param(sha256_hex(ALICE_KEY), id="the-digest-itself"),
        pytest.param(f"sha256:{sha256_hex(ALICE_KEY)}", id="the-digest-entry-form"),
        pytest.param("alice", id="the-name"),
    ],
)
def test_the_ring_knows_no_key_but_the_configured_ones(presented: str) -> None:
    keys = ring(f"alice:{ALICE_KEY}:read,hashed:sha256:{sha256_hex(BOB_KEY)}:read")

    assert keys.authenticate(presented) is None


def test_a_key_configured_by_its_sha256_is_recognised_from_the_clear_key() -> None:
    keys = ring(f"alice:{ALICE_KEY}:read,bob:sha256:{sha256_hex(BOB_KEY)}:write+audit")

    bob = keys.authenticate(BOB_KEY)

    assert bob is not None
    assert bob.name == "bob"
    assert bob.scopes == frozenset({"write", "audit"})
    assert keys.authenticate(sha256_hex(BOB_KEY)) is None  # knowing the stored digest is not enough


def test_an_empty_ring_knows_no_key() -> None:
    assert KeyRing([]).authenticate(ALICE_KEY) is None
    assert KeyRing([]).authenticate("") is None


# -- entry() and new_key() ---------------------------------------------------------------------------------------


def test_a_new_key_is_long_random_and_usable_in_clear() -> None:
    keys = {new_key() for _ in range(50)}

    assert len(keys) == 50
    for key in keys:
        assert len(key) >= 32
        assert ":" not in key
        assert "," not in key
        assert not any(c.isspace() for c in key)
        [parsed] = parse_keys(f"k:{key}:read")  # long enough to be given in clear
        assert parsed.digest == hashlib.sha256(key.encode()).digest()


def test_the_entry_of_a_new_key_authenticates_it_with_those_scopes_and_does_not_contain_it() -> None:
    key = new_key()

    line = entry("router", key, "read+secrets")

    assert key not in line
    assert line == f"router:sha256:{sha256_hex(key)}:read+secrets"
    found = ring(line).authenticate(key)
    assert found is not None
    assert found.name == "router"
    assert found.scopes == frozenset({"read", "secrets"})
    assert ring(line).authenticate(new_key()) is None


def test_an_entry_with_all_scopes_round_trips() -> None:
    key = new_key()

    found = ring(entry("ops", key, "*")).authenticate(key)

    assert found is not None
    assert all(found.allows(scope) for scope in ALL_SCOPES)


def test_entries_combine_with_clear_ones_in_one_configuration() -> None:
    key = new_key()
    keys = ring(f"alice:{ALICE_KEY}:read,{entry('svc', key, 'write')}")

    svc = keys.authenticate(key)
    alice = keys.authenticate(ALICE_KEY)
    assert svc is not None
    assert svc.name == "svc"
    assert alice is not None
    assert alice.name == "alice"


# -- load_key_ring -----------------------------------------------------------------------------------------------


def test_configured_keys_are_used_and_no_key_file_is_written(tmp_path: Path) -> None:
    keys, new_admin_key = load_key_ring(f"alice:{ALICE_KEY}:read", tmp_path)

    assert new_admin_key is None
    alice = keys.authenticate(ALICE_KEY)
    assert alice is not None
    assert alice.name == "alice"
    assert list(tmp_path.iterdir()) == []


def test_configured_keys_win_over_a_key_file_in_the_data_dir(tmp_path: Path) -> None:
    _, first_admin_key = load_key_ring(None, tmp_path)
    assert first_admin_key is not None
    kept = (tmp_path / "api-keys").read_text()

    keys, new_admin_key = load_key_ring(f"alice:{ALICE_KEY}:read", tmp_path)

    assert new_admin_key is None
    assert keys.authenticate(ALICE_KEY) is not None
    assert keys.authenticate(first_admin_key) is None  # the kept admin key is not in use
    assert (tmp_path / "api-keys").read_text() == kept  # and the file is left alone


def test_configured_keys_that_are_bad_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyConfigurationError):
        load_key_ring(f"alice:{ALICE_KEY}:nope", tmp_path)
    assert not (tmp_path / "api-keys").exists()  # no fallback to a generated key


def test_first_start_makes_an_admin_key_kept_only_as_its_hash_in_a_private_file(tmp_path: Path) -> None:
    keys, admin_key = load_key_ring(None, tmp_path)

    assert admin_key is not None
    path = tmp_path / "api-keys"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert admin_key not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1
    name, kind, hexdigest, scopes = lines[0].split(":")
    assert kind == "sha256"
    assert hexdigest.lower() == sha256_hex(admin_key)
    assert scopes == "*"
    found = keys.authenticate(admin_key)
    assert found is not None
    assert found.name == name


def test_the_first_start_admin_key_has_every_scope(tmp_path: Path) -> None:
    keys, admin_key = load_key_ring(None, tmp_path)

    assert admin_key is not None
    found = keys.authenticate(admin_key)
    assert found is not None
    for scope in ALL_SCOPES:
        assert found.allows(scope), scope


def test_an_empty_configuration_counts_as_none(tmp_path: Path) -> None:
    keys, admin_key = load_key_ring("", tmp_path)

    assert admin_key is not None
    assert keys.authenticate(admin_key) is not None


def test_the_first_start_creates_a_missing_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet"

    _, admin_key = load_key_ring(None, data_dir)

    assert admin_key is not None
    assert (data_dir / "api-keys").is_file()


def test_a_later_start_reads_the_kept_hash_and_shows_no_new_key(tmp_path: Path) -> None:
    _, admin_key = load_key_ring(None, tmp_path)
    assert admin_key is not None
    kept = (tmp_path / "api-keys").read_text()

    keys, again = load_key_ring(None, tmp_path)

    assert again is None
    found = keys.authenticate(admin_key)
    assert found is not None
    assert all(found.allows(scope) for scope in ALL_SCOPES)
    assert keys.authenticate(new_key()) is None
    assert (tmp_path / "api-keys").read_text() == kept
    assert stat.S_IMODE((tmp_path / "api-keys").stat().st_mode) == 0o600


def test_each_fresh_data_dir_gets_its_own_admin_key(tmp_path: Path) -> None:
    _, first = load_key_ring(None, tmp_path / "a")
    second_ring, second = load_key_ring(None, tmp_path / "b")

    assert first is not None
    assert second is not None
    assert first != second
    assert second_ring.authenticate(first) is None


def test_entries_an_operator_adds_to_the_key_file_are_used_on_the_next_start(tmp_path: Path) -> None:
    _, admin_key = load_key_ring(None, tmp_path)
    assert admin_key is not None
    path = tmp_path / "api-keys"
    path.write_text(path.read_text() + entry("reader", BOB_KEY, "read") + "\n")

    keys, again = load_key_ring(None, tmp_path)

    assert again is None
    reader = keys.authenticate(BOB_KEY)
    assert reader is not None
    assert reader.scopes == frozenset({"read"})
    assert keys.authenticate(admin_key) is not None
