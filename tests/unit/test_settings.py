"""Settings: read once from the environment, and turned into the event store's configuration."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from service.settings import ConfigurationError, Settings


def test_an_empty_environment_gives_the_embedded_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.data_dir == Path("data")
    assert settings.database_url is None
    assert settings.nats_url is None
    assert settings.cipher_key is None
    assert settings.log_level == "INFO"
    assert settings.poll_interval == 1.0


def test_every_known_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "TELEPHONY_DATA_DIR": "/var/lib/telephony",
            "TELEPHONY_DATABASE_URL": "postgresql://db.example/telephony",
            "TELEPHONY_NATS_URL": "nats://nats.example:4222",
            "TELEPHONY_API_KEYS": "key-one,key-two",
            "TELEPHONY_CIPHER_KEY": "c2VjcmV0",
            "TELEPHONY_LOG_LEVEL": "debug",
            "TELEPHONY_POLL_INTERVAL": "0.25",
        }
    )
    assert settings == Settings(
        data_dir=Path("/var/lib/telephony"),
        database_url="postgresql://db.example/telephony",
        nats_url="nats://nats.example:4222",
        api_keys="key-one,key-two",
        cipher_key="c2VjcmV0",
        log_level="DEBUG",
        poll_interval=0.25,
    )


def test_empty_variables_count_as_unset() -> None:
    settings = Settings.from_env(
        {"TELEPHONY_DATA_DIR": "", "TELEPHONY_DATABASE_URL": "", "TELEPHONY_CIPHER_KEY": "", "TELEPHONY_LOG_LEVEL": ""}
    )
    assert settings == Settings()


def test_variables_without_the_prefix_are_ignored() -> None:
    assert Settings.from_env({"DATABASE_URL": "postgresql://x/y", "DATA_DIR": "/elsewhere"}) == Settings()


def test_a_poll_interval_that_is_not_a_number_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="TELEPHONY_POLL_INTERVAL"):
        Settings.from_env({"TELEPHONY_POLL_INTERVAL": "soon"})


def test_the_header_and_body_deadlines_come_from_the_environment() -> None:
    assert (Settings().header_timeout, Settings().body_timeout) == (10.0, 30.0)
    settings = Settings.from_env({"TELEPHONY_HEADER_TIMEOUT": "2.5", "TELEPHONY_BODY_TIMEOUT": "7"})
    assert (settings.header_timeout, settings.body_timeout) == (2.5, 7.0)


@pytest.mark.parametrize("value", ["soon", "0", "-1", "inf", "nan"])
@pytest.mark.parametrize("name", ["TELEPHONY_HEADER_TIMEOUT", "TELEPHONY_BODY_TIMEOUT", "TELEPHONY_POLL_INTERVAL"])
def test_a_deadline_must_be_a_positive_number_of_seconds(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value})


def test_the_cli_bounds_positions_as_the_api_does() -> None:
    from service.cli import MAX_POSITION as CLI_MAX
    from service.http.schemas import MAX_POSITION as API_MAX

    assert CLI_MAX == API_MAX == 2**53 - 1


def test_command_line_overrides_win_and_missing_ones_are_ignored() -> None:
    settings = Settings.from_env(
        {"TELEPHONY_DATA_DIR": "/from/env", "TELEPHONY_LOG_LEVEL": "warning"}, data_dir=Path("/from/cli"), nats_url=None
    )
    assert settings.data_dir == Path("/from/cli")
    assert settings.log_level == "WARNING"
    assert settings.nats_url is None


def test_without_an_explicit_environment_the_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEPHONY_DATA_DIR", "/from/process")
    monkeypatch.delenv("TELEPHONY_DATABASE_URL", raising=False)
    monkeypatch.delenv("TELEPHONY_POLL_INTERVAL", raising=False)
    settings = Settings.from_env()
    assert settings.data_dir == Path("/from/process")


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().log_level = "DEBUG"  # type: ignore[misc]


# -- the event store's environment ----------------------------------------------------------------------------


def test_by_default_the_store_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'data' / 'events.db'}"

    env = settings.store_env()

    assert env["PERSISTENCE_MODULE"] == "service.write.store:SQLiteStore"
    assert env["SQLITE_DBNAME"] == str(tmp_path / "data" / "events.db")
    assert env["SQLITE_LOCK_TIMEOUT"] == "10"
    assert (tmp_path / "data").is_dir()
    assert "CIPHER_KEY" not in env
    assert "CIPHER_TOPIC" not in env


def test_a_sqlite_url_names_the_database_file_and_its_folder_is_created(tmp_path: Path) -> None:
    database = tmp_path / "nested" / "deeper" / "settings.db"
    env = Settings(database_url=f"sqlite:///{database}").store_env()
    assert env["SQLITE_DBNAME"] == str(database)
    assert database.parent.is_dir()
    assert not database.exists()


def test_a_postgresql_url_gives_user_password_host_port_database_and_timeouts() -> None:
    env = Settings(database_url="postgresql://alice:s%40cret%2Fpw@db.example:6543/telephony").store_env()
    assert env["PERSISTENCE_MODULE"] == "service.write.store:PostgresStore"
    assert env["POSTGRES_USER"] == "alice"
    assert env["POSTGRES_PASSWORD"] == "s@cret/pw"
    assert env["POSTGRES_HOST"] == "db.example"
    assert env["POSTGRES_PORT"] == "6543"
    assert env["POSTGRES_DBNAME"] == "telephony"
    assert env["POSTGRES_LOCK_TIMEOUT"] == "5"
    assert int(env["POSTGRES_CONNECT_TIMEOUT"]) > 0


def test_a_postgresql_url_without_host_port_or_user_uses_the_usual_defaults() -> None:
    env = Settings(database_url="postgresql:///telephony").store_env()
    assert env["POSTGRES_HOST"] == "127.0.0.1"
    assert env["POSTGRES_PORT"] == "5432"
    assert env["POSTGRES_USER"] == "postgres"
    assert env["POSTGRES_PASSWORD"] == ""
    assert env["POSTGRES_DBNAME"] == "telephony"


def test_the_short_postgres_scheme_is_accepted() -> None:
    env = Settings(database_url="postgres://bob@db.example/telephony").store_env()
    assert env["PERSISTENCE_MODULE"] == "service.write.store:PostgresStore"
    assert (env["POSTGRES_USER"], env["POSTGRES_HOST"]) == ("bob", "db.example")


@pytest.mark.parametrize(
    "url",
    [
        "mysql://db.example/telephony",
        "https://db.example/telephony",
        "events.db",
        "sqlite:///",
        "sqlite://events.db",
        "postgresql://db.example",
        "postgresql://db.example/",
    ],
)
def test_an_unusable_database_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="TELEPHONY_DATABASE_URL"):
        Settings(database_url=url).store_env()


def test_a_configuration_error_does_not_quote_the_database_password() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings(database_url="postgresql://alice:hunter2@db.example/").store_env()
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("url", ["sqlite:///{tmp}/events.db", "postgresql://db.example/telephony"])
def test_a_cipher_key_turns_on_encryption_at_rest(url: str, tmp_path: Path) -> None:
    key = base64.b64encode(b"k" * 32).decode()
    env = Settings(database_url=url.format(tmp=tmp_path), cipher_key=key).store_env()
    assert env["CIPHER_TOPIC"] == "eventsourcing.cipher:AESCipher"
    assert env["CIPHER_KEY"] == key


def test_a_cipher_key_from_the_environment_reaches_the_store(tmp_path: Path) -> None:
    key = base64.b64encode(b"k" * 16).decode()
    settings = Settings.from_env({"TELEPHONY_DATA_DIR": str(tmp_path), "TELEPHONY_CIPHER_KEY": key})
    assert settings.store_env()["CIPHER_KEY"] == key


@pytest.mark.parametrize("key", ["a2V5", "not base64!", base64.b64encode(b"k" * 20).decode()])
def test_a_cipher_key_that_is_not_16_24_or_32_bytes_of_base64_is_refused(key: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="TELEPHONY_CIPHER_KEY must be 16, 24 or 32 bytes"):
        Settings(data_dir=tmp_path, cipher_key=key).store_env()


@pytest.mark.parametrize("url", ["postgresql://h:abc/db", "postgresql://h:99999/db", "postgresql://[::1/db"])
def test_a_database_url_with_a_bad_host_or_port_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="not a valid URL"):
        Settings(database_url=url).store_env()


def test_the_postgres_store_uses_the_fail_fast_recorders() -> None:
    from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder, PostgresFactory
    from eventsourcing.utils import resolve_topic

    env = Settings(database_url="postgresql://u@h:5432/db").store_env()
    factory = resolve_topic(env["PERSISTENCE_MODULE"])
    assert issubclass(factory, PostgresFactory)
    assert issubclass(factory.application_recorder_class, PostgresApplicationRecorder)
    assert issubclass(factory.aggregate_recorder_class, PostgresAggregateRecorder)  # the checkpoints
    for recorder in (factory.application_recorder_class, factory.aggregate_recorder_class):
        for name in ("insert_events", "select_events", "select_notifications", "max_notification_id"):
            if hasattr(recorder, name):
                assert not hasattr(getattr(recorder, name), "__wrapped__"), f"{recorder.__name__}.{name} still retries"
    assert float(env["POSTGRES_CONNECT_TIMEOUT"]) <= 2


def test_the_snapshot_interval_comes_from_the_environment() -> None:
    assert Settings.from_env({}).snapshot_every == 50_000
    assert Settings.from_env({"TELEPHONY_SNAPSHOT_EVERY": "10_000"}).snapshot_every == 10_000
    assert Settings.from_env({"TELEPHONY_SNAPSHOT_EVERY": "0"}).snapshot_every == 0
    for wrong in ("-1", "often", "1.5", "²", "9" * 5000):
        with pytest.raises(ConfigurationError, match="TELEPHONY_SNAPSHOT_EVERY must be a whole number"):
            Settings.from_env({"TELEPHONY_SNAPSHOT_EVERY": wrong})
