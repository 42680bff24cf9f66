"""Public base URLs: providers call back to them, so only a public https origin (and path) is accepted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.write.rules import to_public_https_url


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("https://your-domain.com", "https://your-domain.com"),
        ("https://api.exotel.com", "https://api.exotel.com"),
        ("https://your-domain.com/", "https://your-domain.com"),
        ("https://your-domain.com/voice/", "https://your-domain.com/voice"),
        ("https://your-domain.com/voice//", "https://your-domain.com/voice"),
        ("  https://your-domain.com/  ", "https://your-domain.com"),
    ],
)
def test_a_public_https_url_is_kept_without_its_trailing_slash(typed: str, stored: str) -> None:
    assert to_public_https_url(typed) == stored


def test_the_host_is_lowercased_and_the_path_is_not() -> None:
    assert to_public_https_url("https://Your-Domain.COM/Voice/") == "https://your-domain.com/Voice"


def test_an_uppercase_scheme_is_accepted_and_written_lowercase() -> None:
    assert to_public_https_url("HTTPS://your-domain.com") == "https://your-domain.com"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("https://your-domain.com:8443/", "https://your-domain.com:8443"),
        ("https://your-domain.com:443", "https://your-domain.com:443"),
        ("https://8.8.8.8:8443/hooks/", "https://8.8.8.8:8443/hooks"),
    ],
)
def test_an_explicit_port_is_kept(typed: str, stored: str) -> None:
    assert to_public_https_url(typed) == stored


def test_a_public_ipv6_literal_keeps_its_brackets() -> None:
    assert to_public_https_url("https://[2606:4700:4700::1111]:8443/x/") == "https://[2606:4700:4700::1111]:8443/x"


@pytest.mark.parametrize("typed", ["http://your-domain.com", "ftp://your-domain.com", "your-domain.com", "wss://a.com"])
def test_only_https_is_accepted(typed: str) -> None:
    with pytest.raises(ValueError, match="https"):
        to_public_https_url(typed)


@pytest.mark.parametrize("typed", ["https://", "https:///voice", "https:your-domain.com", "https:/your-domain.com"])
def test_a_url_without_a_host_is_rejected(typed: str) -> None:
    with pytest.raises(ValueError, match="host"):
        to_public_https_url(typed)


@pytest.mark.parametrize("typed", ["https://intranet", "https://voice-box/"])
def test_a_single_label_host_name_is_rejected(typed: str) -> None:
    with pytest.raises(ValueError, match="fully qualified"):
        to_public_https_url(typed)


@pytest.mark.parametrize(
    "typed",
    ["https://user:secret@your-domain.com", "https://user@your-domain.com", "https://:secret@your-domain.com"],
)
def test_credentials_in_the_url_are_rejected(typed: str) -> None:
    with pytest.raises(ValueError, match="credentials"):
        to_public_https_url(typed)


@pytest.mark.parametrize(
    "typed",
    [
        "https://your-domain.com?token=1",
        "https://your-domain.com/voice?",
        "https://your-domain.com#top",
        "https://your-domain.com/voice#",
    ],
)
def test_a_query_or_fragment_is_rejected(typed: str) -> None:
    with pytest.raises(ValueError, match="query or fragment"):
        to_public_https_url(typed)


@pytest.mark.parametrize(
    "typed",
    ["https://localhost", "https://LOCALHOST:8443", "https://voice.localhost", "https://a.b.localhost/path"],
)
def test_localhost_names_are_rejected(typed: str) -> None:
    with pytest.raises(ValueError, match="localhost"):
        to_public_https_url(typed)


@pytest.mark.parametrize(
    "typed",
    [
        "https://127.0.0.1",
        "https://127.8.9.10:8443",
        "https://0.0.0.0",
        "https://10.1.2.3",
        "https://172.16.0.1",
        "https://192.168.1.20",
        "https://169.254.169.254",
        "https://100.64.0.1",
        "https://[::1]",
        "https://[::]",
        "https://[fe80::1]",
        "https://[fd00::1]",
        "https://[::ffff:127.0.0.1]",
    ],
)
def test_loopback_private_and_link_local_addresses_are_rejected(typed: str) -> None:
    with pytest.raises(ValueError, match="loopback, private or link-local"):
        to_public_https_url(typed)


@pytest.mark.parametrize("typed", ["https://your-domain.com:99999", "https://your-domain.com:port", "https://[::1"])
def test_a_malformed_url_is_rejected(typed: str) -> None:
    with pytest.raises(ValueError, match="not a valid URL"):
        to_public_https_url(typed)


@pytest.mark.parametrize("typed", ["https://your domain.com", "https://your-domain.com/a b", "https://a.com/\tx"])
def test_whitespace_inside_the_url_is_rejected(typed: str) -> None:
    with pytest.raises(ValueError, match="whitespace"):
        to_public_https_url(typed)


def test_an_overlong_url_is_rejected() -> None:
    with pytest.raises(ValueError, match="2048"):
        to_public_https_url("https://your-domain.com/" + "a" * 2048)


@pytest.mark.parametrize(
    "typed",
    [
        "https://admin:sk_live_SECRET123@your-domain.com",
        "http://sk-live-secret-token.example",
        "https://your-domain.com/?key=sk_live_SECRET123",
        "https://sk_live_SECRET123",
        "https://192.168.77.77/secret-path",
        "not a url with sk_live_SECRET123",
    ],
)
def test_rejection_messages_never_repeat_the_submitted_value(typed: str) -> None:
    with pytest.raises(ValueError, match=r"^(must|is) ") as caught:
        to_public_https_url(typed)
    message = str(caught.value)
    assert typed not in message
    assert "SECRET" not in message
    assert "secret" not in message
    assert "192.168" not in message


host_labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True).filter(
    lambda label: label != "localhost"
)
paths = st.lists(st.from_regex(r"[A-Za-z0-9._~-]{1,8}", fullmatch=True), max_size=3)


@given(
    labels=st.lists(host_labels, min_size=1, max_size=3),
    tld=st.sampled_from(["com", "io", "net", "org", "in"]),
    port=st.none() | st.integers(min_value=1, max_value=65535),
    path=paths,
    trailing_slashes=st.integers(min_value=0, max_value=2),
)
def test_a_normalised_public_url_is_accepted_again_unchanged(
    labels: list[str], tld: str, port: int | None, path: list[str], trailing_slashes: int
) -> None:
    host = ".".join([*labels, tld])
    typed = f"https://{host.upper()}" + (f":{port}" if port else "") + "".join(f"/{p}" for p in path)
    typed += "/" * trailing_slashes
    stored = to_public_https_url(typed)
    assert stored == f"https://{host}" + (f":{port}" if port else "") + "".join(f"/{p}" for p in path)
    assert not stored.endswith("/")
    assert to_public_https_url(stored) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "https://127.1",
        "https://0x7f.0.0.1",
        "https://0x7f.1",
        "https://localhost.",
        "https://foo.localhost.",
        "https://127.0.0.1.",
        "https://[::ffff:127.0.0.1]",
    ],
)
def test_numeric_and_trailing_dot_spellings_of_loopback_are_rejected(typed: str) -> None:
    # Resolvers read 127.1 and 0x7f.0.0.1 as 127.0.0.1; no real top-level domain is numeric.
    with pytest.raises(ValueError, match=r"localhost|loopback|fully qualified"):
        to_public_https_url(typed)


def test_port_zero_is_rejected() -> None:
    with pytest.raises(ValueError, match="port 0"):
        to_public_https_url("https://example.com:0")


def test_an_international_host_name_is_stored_in_its_ascii_form() -> None:
    assert to_public_https_url("https://例子.测试/voice/") == "https://xn--fsqu00a.xn--0zwm56d/voice"
