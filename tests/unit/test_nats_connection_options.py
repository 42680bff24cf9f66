"""The NATS connection options (issue 17, parts 2 and 3): several servers, replicas, credentials and TLS files read
from the environment with clear errors, and URLs shown only with their password or token redacted."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from projections.nats_connect import NatsConnection, describe_error, redact, secrets_of, telling_reason
from service.settings import ConfigurationError, Settings


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
        ("nats://user:s3cret@127.0.0.1:4222", "nats://user:***@127.0.0.1:4222"),
        ("nats://tok3n@127.0.0.1:4222", "nats://***@127.0.0.1:4222"),
        ("tls://u:p%40ss@nats.example.com:4222", "tls://u:***@nats.example.com:4222"),
        ("nats://a:pw-one@h1:4222, nats://b:pw-two@h2:4222", "nats://a:***@h1:4222,nats://b:***@h2:4222"),
        ("u:pw@h3:4222", "nats://u:***@h3:4222"),
    ],
)
def test_urls_are_shown_without_their_password_or_token(url: str, shown: str) -> None:
    assert redact(url) == shown
    for secret in secrets_of(url):
        assert secret not in redact(url)


def test_several_servers_are_given_to_nats_py_as_a_list() -> None:
    connection = NatsConnection.of(" nats://a:4222 ,nats://b:4222,, nats://c:4222")
    assert connection.connect_options() == {"servers": ["nats://a:4222", "nats://b:4222", "nats://c:4222"]}
    assert Settings(nats_url="nats://a:4222,nats://b:4222").nats_connection().servers == (
        "nats://a:4222",
        "nats://b:4222",
    )


def test_errors_say_what_is_wrong_without_secrets() -> None:
    from nats.errors import Error

    assert describe_error(Error("nats: 'Authorization Violation'")).startswith("authorization violation")
    failed = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert "certificate verify failed" in describe_error(failed)
    assert "hunter2" not in describe_error(OSError("bad hunter2"), {"hunter2"})
    # The server closing the connection after an authorization error does not hide the reason.
    assert telling_reason("authorization violation (x)", BrokenPipeError()) == "authorization violation (x)"
    assert telling_reason(None, BrokenPipeError()).startswith("BrokenPipeError")


def env(**values: str) -> dict[str, str]:
    return {f"TELEPHONY_{name.upper()}": value for name, value in values.items()}


def test_replicas_default_to_one_and_must_be_one_to_five() -> None:
    assert Settings.from_env({}).nats_replicas == 1
    assert Settings.from_env(env(nats_replicas="3")).nats_replicas == 3
    for wrong in ("0", "6", "three", "-1", "2.5"):
        with pytest.raises(ConfigurationError, match="TELEPHONY_NATS_REPLICAS must be a whole number from 1 to 5"):
            Settings.from_env(env(nats_replicas=wrong))


def test_tls_and_credentials_files_must_exist_and_cert_goes_with_key(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    settings = Settings.from_env(env(nats_ca=str(cert), nats_cert=str(cert), nats_key=str(key)))
    assert (settings.nats_ca, settings.nats_cert, settings.nats_key) == (cert, cert, key)
    assert settings.nats_files == {"creds": None, "ca": cert, "cert": cert, "key": key}
    with pytest.raises(ConfigurationError, match="TELEPHONY_NATS_CA: no such file"):
        Settings.from_env(env(nats_ca=str(tmp_path / "missing.pem")))
    with pytest.raises(ConfigurationError, match="TELEPHONY_NATS_CERT and TELEPHONY_NATS_KEY go together"):
        Settings.from_env(env(nats_cert=str(cert)))
    with pytest.raises(ConfigurationError, match="TELEPHONY_NATS_CREDS: no such file"):
        Settings.from_env(env(nats_creds=str(tmp_path / "missing.creds")))


def test_a_credentials_file_is_given_to_nats_py(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    creds = tmp_path / "user.creds"
    creds.write_text("-----BEGIN NATS USER JWT-----\n...\n")
    if importlib.util.find_spec("nkeys") is None:
        with pytest.raises(ConfigurationError, match="nkeys package"):
            Settings(nats_url="nats://h:4222", nats_creds=creds).nats_connection()
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    options = Settings(nats_url="nats://h:4222", nats_creds=creds).nats_connection().connect_options()
    assert options["user_credentials"] == str(creds)
