"""Console sessions (``service.http.sessions``): what a cookie can and cannot stand for."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from service.http import sessions as sessions_module
from service.http.auth import KeyRing, parse_keys
from service.http.sessions import Sessions

ADMIN = "admin-key-0123456789abcdef"
VIEWER = "viewer-key-0123456789abcdef"


def ring(admin: str = ADMIN) -> KeyRing:
    return KeyRing(parse_keys(f"admin:{admin}:*,viewer:{VIEWER}:read"))


def test_a_valid_key_gets_a_session_with_its_name_and_scopes_and_the_cookie_holds_no_key() -> None:
    sessions = Sessions(b"s" * 32, ring())
    signed = sessions.sign_in(VIEWER)
    assert signed is not None
    session, cookie = signed
    assert (session.name, session.scopes) == ("viewer", frozenset({"read"}))
    assert session.allows("read")
    assert not session.allows("write")
    assert VIEWER not in cookie
    assert sessions.check(cookie) == session
    assert sessions.sign_in("no-such-key-0123456789") is None


def test_a_tampered_or_foreign_cookie_stands_for_nothing() -> None:
    sessions = Sessions(b"s" * 32, ring())
    _, cookie = sessions.sign_in(VIEWER)  # type: ignore[misc]
    body, _, signature = cookie.rpartition(".")
    assert sessions.check(f"{body}x.{signature}") is None
    # A signature with one character changed (the first: the last of 43 base64 characters carries only 4 bits, so
    # some changes of it decode to the same bytes, and "A" may be what it already was).
    other = "B" if signature[0] == "A" else "A"
    assert sessions.check(f"{body}.{other}{signature[1:]}") is None
    assert sessions.check("garbage") is None
    assert sessions.check("") is None
    assert Sessions(b"t" * 32, ring()).check(cookie) is None  # another secret: another service


def test_a_rotated_or_removed_key_ends_its_sessions() -> None:
    _, cookie = Sessions(b"s" * 32, ring()).sign_in(ADMIN)  # type: ignore[misc]
    assert Sessions(b"s" * 32, ring(admin="rotated-admin-key-0123456789")).check(cookie) is None
    assert Sessions(b"s" * 32, KeyRing(parse_keys(f"viewer:{VIEWER}:read"))).check(cookie) is None


def test_an_expired_or_ended_session_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = Sessions(b"s" * 32, ring())
    session, cookie = sessions.sign_in(ADMIN)  # type: ignore[misc]
    sessions.end(session)
    assert sessions.check(cookie) is None
    _, later = sessions.sign_in(ADMIN)  # type: ignore[misc]
    monkeypatch.setattr(sessions_module.time, "time", lambda: time.time_ns() / 1e9 + 9 * 3600)
    assert sessions.check(later) is None


def test_the_csrf_token_belongs_to_its_session() -> None:
    sessions = Sessions(b"s" * 32, ring())
    first, _ = sessions.sign_in(ADMIN)  # type: ignore[misc]
    second, _ = sessions.sign_in(ADMIN)  # type: ignore[misc]
    assert sessions.csrf_ok(first, first.csrf_token)
    assert not sessions.csrf_ok(first, second.csrf_token)
    assert not sessions.csrf_ok(first, None)
    assert not sessions.csrf_ok(first, "")


def test_the_secret_is_kept_in_the_data_dir_owner_only_unless_configured(tmp_path: Path) -> None:
    first = Sessions.for_data_dir(None, tmp_path, ring())
    _, cookie = first.sign_in(ADMIN)  # type: ignore[misc]
    again = Sessions.for_data_dir(None, tmp_path, ring())  # a restart: the same secret, sessions survive
    assert again.check(cookie) is not None
    assert (tmp_path / "session-secret").stat().st_mode & 0o777 == 0o600
    configured = Sessions.for_data_dir("shared-by-all-replicas", tmp_path, ring())
    assert configured.check(cookie) is None
    _, shared = configured.sign_in(ADMIN)  # type: ignore[misc]
    assert Sessions.for_data_dir("shared-by-all-replicas", tmp_path / "other", ring()).check(shared) is not None
