"""The ``telephony-settings`` command."""

from __future__ import annotations

import contextlib
import logging
import sys
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


DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data dir of the embedded SQLite store [env TELEPHONY_DATA_DIR]; TELEPHONY_DATABASE_URL names another store.",
)


def _open_store(data_dir: Path | None):  # type: ignore[no-untyped-def]
    """The configured event store (as ``serve`` would open it), checked readable with the configured key."""
    from service.application import SettingsApplication
    from service.container import StoreKeyError, check_store_readable

    try:
        settings = Settings.from_env(data_dir=data_dir)
        app = SettingsApplication(settings.store_env())
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        check_store_readable(app, encrypted=settings.cipher_key is not None)
    except StoreKeyError as exc:
        app.close()
        raise click.ClickException(str(exc)) from None
    return app


@main.group()
def audit() -> None:
    """Export the change history and check that it was not tampered with."""


@audit.command("export")
@click.option("--after", default=0, show_default=True, type=click.IntRange(0), help="Only events after this position.")
@click.option("--until", default=None, help="Only events that occurred at or before this time (ISO 8601, UTC).")
@DATA_DIR_OPTION
def audit_export(after: int, until: str | None, data_dir: Path | None) -> None:
    """Write the change history to stdout as NDJSON, one event per line (secrets masked), in log order.

    Streams: the store is read 1000 events at a time and each line is written at once, whatever the size.
    """
    import msgspec

    from service.audit import iter_events, parse_time
    from service.errors import InvalidSettingsError

    try:
        until_time = parse_time("until", until)
    except InvalidSettingsError as exc:
        raise click.BadParameter(exc.detail, param_hint="--until") from None
    app = _open_store(data_dir)
    out = sys.stdout.buffer
    encoder = msgspec.json.Encoder()
    buffer = bytearray()
    try:
        for event in iter_events(app, after=after, until=until_time):
            encoder.encode_into(event, buffer, -1)
            buffer.extend(b"\n")
            if len(buffer) >= 64 * 1024:
                out.write(buffer)
                buffer.clear()
        out.write(buffer)
        out.flush()
    finally:
        app.close()


@audit.command("verify")
@click.option(
    "--anchor", default=None, help="A checkpoint digest recorded earlier: fail unless the store still holds it."
)
@DATA_DIR_OPTION
def audit_verify(anchor: str | None, data_dir: Path | None) -> None:
    """Check every event's hash chain and the checkpoints; exit 1 naming the first bad event."""
    from service.audit_verify import verify
    from service.chain import Checkpoints

    app = _open_store(data_dir)
    try:
        report = verify(app, Checkpoints(app), anchor=anchor)
    finally:
        app.close()
    if report.problem is not None:
        click.echo(f"TAMPERED: {report.problem}", err=True)
        sys.exit(1)
    if report.anchor_found is False:
        click.echo("TAMPERED: no checkpoint has the anchor digest: the sealed history was rewritten", err=True)
        sys.exit(1)
    sealed = f"positions 1-{report.sealed_position}" if report.checkpoints else "nothing"
    click.echo(
        f"OK: {report.events} events of {report.aggregates} aggregates, every hash chain intact; "
        f"{report.checkpoints} checkpoints seal {sealed}; {report.unsealed} later events are covered by their "
        "chains only (see README, Audit)."
    )
    if report.head_digest is not None:
        click.echo(f"head digest: {report.head_digest}  (keep it elsewhere; later: audit verify --anchor <digest>)")


@audit.command("checkpoint")
@DATA_DIR_OPTION
def audit_checkpoint(data_dir: Path | None) -> None:
    """Seal every event not yet covered by a checkpoint now (the service does it by itself after its commits)."""
    from service.chain import Checkpoints

    app = _open_store(data_dir)
    try:
        written = Checkpoints(app).write()
    finally:
        app.close()
    click.echo(f"{written} checkpoints written")


@main.command()
@click.option("--url", default=None, help="A running service to compare with, e.g. http://127.0.0.1:8000.")
@click.option(
    "--api-key",
    envvar="TELEPHONY_API_KEY",
    default=None,
    help="A key with the read scope, for --url [env TELEPHONY_API_KEY].",
)
@DATA_DIR_OPTION
def rebuild(url: str | None, api_key: str | None, data_dir: Path | None) -> None:
    """Replay the store into fresh read models and compare them with the live ones; report the replay rate.

    With --url the live ones are a running service's (compared at its read-model position); without, the ones the
    service's own catch-up builds from the same store. Exits 1 when they differ.
    """
    from service.audit_rebuild import compare_with_catch_up, compare_with_service, replay

    app = _open_store(data_dir)
    try:
        if url is not None:
            if not api_key:
                raise click.ClickException(
                    "--url needs an API key with the read scope (--api-key or TELEPHONY_API_KEY)"
                )
            result, differences = compare_with_service(app, url, api_key)
        else:
            result = replay(app)
            differences = compare_with_catch_up(app, result)
    finally:
        app.close()
    click.echo(
        f"replayed {result.events} events up to position {result.position} in {result.seconds:.3f} s "
        f"({result.rate:,.0f} events/s): {result.endpoints} endpoints"
    )
    against = f"the service at {url}" if url is not None else "the service's catch-up of the same store"
    if differences:
        click.echo(f"{len(differences)} differences from {against}:", err=True)
        for difference in differences:
            click.echo(f"  {difference}", err=True)
        sys.exit(1)
    click.echo(f"no difference from {against}")


if __name__ == "__main__":
    main()
