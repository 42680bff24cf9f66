"""The ``telephony-settings`` command."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import click

from service.settings import ConfigurationError, Settings


@click.group()
def main() -> None:
    """telephony-settings: event-sourced telephony provider settings and phone-number routes."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the embedded defaults keep their files [env TELEPHONY_DATA_DIR, default ./data].",
)
def serve(host: str, port: int, data_dir: Path | None) -> None:
    """Run the HTTP service (SQLite in the data dir unless TELEPHONY_DATABASE_URL says otherwise)."""
    import uvicorn

    from service.app import create_app
    from service.auth import KeyConfigurationError, parse_keys
    from service.container import StoreKeyError, preflight
    from service.logs import configure_logging

    try:
        settings = Settings.from_env(data_dir=data_dir)
        settings.store_env()
        if settings.api_keys:
            parse_keys(settings.api_keys)
        preflight(settings)
    except (ConfigurationError, KeyConfigurationError, StoreKeyError) as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(settings.log_level, settings.log_format)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = "PostgreSQL" if settings.effective_database_url.startswith("postgres") else settings.effective_database_url
    logging.getLogger("telephony_settings").info(
        "telephony-settings on http://%s:%d (docs at /schema), store: %s", host, port, store
    )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


@main.group()
def keys() -> None:
    """Make API keys and cipher keys."""


@keys.command("new")
@click.argument("name")
@click.option(
    "--scopes", default="read", show_default=True, help="Joined by '+': read, write, audit, secrets; or '*' for all."
)
def keys_new(name: str, scopes: str) -> None:
    """Print a new API key and the TELEPHONY_API_KEYS entry that enables it (the key stored only hashed)."""
    from service.auth import KeyConfigurationError, entry, new_key, parse_keys

    key = new_key()
    line = entry(name, key, scopes)
    try:
        parse_keys(line)
    except KeyConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"key:   {key}")
    click.echo(f"entry: {line}")
    click.echo(
        "Add the entry to TELEPHONY_API_KEYS (comma-separated); give the key to its user: it is not kept.", err=True
    )


@keys.command("cipher")
def keys_cipher() -> None:
    """Print a fresh AES-256 key for TELEPHONY_CIPHER_KEY (encryption of stored events)."""
    from eventsourcing.cipher import AESCipher

    click.echo(AESCipher.create_key(32))


@main.command()
@click.option("--nats-url", default=None, help="NATS server [env TELEPHONY_NATS_URL; default: the embedded one].")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data dir of a running embedded default, to find its NATS port [env TELEPHONY_DATA_DIR].",
)
def watch(nats_url: str | None, data_dir: Path | None) -> None:
    """Print every route change live, one JSON line each: a working demo call router."""
    import asyncio

    settings = Settings.from_env(data_dir=data_dir, nats_url=nats_url)
    url = settings.nats_url
    if settings.nats_mode == "embedded":
        url_file = settings.data_dir / "nats" / "url"
        if not url_file.exists():
            raise click.ClickException(f"no running embedded NATS found ({url_file}); pass --nats-url")
        url = url_file.read_text().strip()
    if settings.nats_mode == "off" or url is None:
        raise click.ClickException("NATS is off: pass --nats-url")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_watch(url))


async def _watch(url: str) -> None:
    import asyncio

    import msgspec

    from projections.watch import RouteWatcher

    def show(key: str, value: object) -> None:
        change = {"key": key, "deleted": True} if value is None else {"key": key, "value": value}
        click.echo(msgspec.json.encode(change).decode())

    watcher = RouteWatcher(url, on_change=show)
    await watcher.start()
    click.echo(f"# watching {len(watcher.table.routes)} routes on {url}; Ctrl-C to stop", err=True)
    try:
        await asyncio.Event().wait()
    finally:
        await watcher.stop()


if __name__ == "__main__":
    main()
