"""The ``telephony-settings`` command."""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path

import click

from service.config.commands import config
from service.settings import ConfigurationError, Settings

MAX_POSITION = 2**53 - 1
"""As ``service.http.schemas.MAX_POSITION`` (a test keeps them equal), which the CLI does not import: it would load the
web framework for every command."""
SWITCH_INTERVAL = 0.0005
"""Seconds a thread runs before another that waits for the GIL may take it (Python's default: 0.005)."""


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
    from service.container import StoreKeyError, preflight
    from service.http.auth import KeyConfigurationError, parse_keys
    from service.http.server import Server, protocol
    from service.logs import configure_logging
    from service.write.application import StoreUnavailableError

    try:
        settings = Settings.from_env(data_dir=data_dir)
        settings.store_env()
        if settings.api_keys:
            parse_keys(settings.api_keys)
        preflight(settings)
    except (ConfigurationError, KeyConfigurationError, StoreKeyError, StoreUnavailableError) as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(settings.log_level, settings.log_format)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = "PostgreSQL" if settings.effective_database_url.startswith("postgres") else settings.effective_database_url
    logging.getLogger("telephony_settings").info(
        "telephony-settings on http://%s:%d (console at http://%s:%d/console, API docs at /schema), store: %s",
        host,
        port,
        host,
        port,
        store,
    )
    # The request loop, the writer and the relay are threads: a thread whose I/O completed waits for the GIL up to
    # the switch interval (5 ms by default) while another runs Python code, and a write waits several times (each
    # database round trip). A shorter interval takes that convoy out of the write latency.
    sys.setswitchinterval(SWITCH_INTERVAL)
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        http=protocol(settings.header_timeout),
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
    Server(config).run()


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
    from service.http.auth import KeyConfigurationError, entry, new_key, parse_keys

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
    """Print every route change live, one JSON line each: a working demo call router.

    Following an embedded default, it finds the server through the data dir, and looks there again whenever the
    connection is lost (a restarted service keeps its address; a moved one is found). It says on stderr when it is
    disconnected (its view may then be stale) and when it is back.
    """
    import asyncio

    settings = Settings.from_env(data_dir=data_dir, nats_url=nats_url)
    servers: str | Callable[[], str]
    if settings.nats_mode == "embedded":
        url_file = settings.data_dir / "nats" / "url"
        if not url_file.exists():
            raise click.ClickException(f"no running embedded NATS found ({url_file}); pass --nats-url")
        servers = _url_file_reader(url_file)
    elif settings.nats_mode == "off" or settings.nats_url is None:
        raise click.ClickException("NATS is off: pass --nats-url")
    else:
        servers = settings.nats_url
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_watch(servers, settings.nats_files))


def _url_file_reader(url_file: Path) -> Callable[[], str]:
    """Where the embedded server is now: the URL file while it runs, else the last address it had."""
    last = url_file.read_text().strip()

    def current() -> str:
        nonlocal last
        with contextlib.suppress(OSError):
            last = url_file.read_text().strip() or last
        return last

    return current


async def _watch(servers: str | Callable[[], str], files: dict[str, Path | None] | None = None) -> None:
    """``files``: the credentials and TLS files (``Settings.nats_files``: TELEPHONY_NATS_CREDS/CA/CERT/KEY)."""
    import asyncio

    import msgspec

    from projections.nats_connect import redact
    from projections.watch import RouteWatcher

    def show(key: str, value: object) -> None:
        change = {"key": key, "deleted": True} if value is None else {"key": key, "value": value}
        click.echo(msgspec.json.encode(change).decode())

    def connection(state: str, where: object) -> None:
        if state == "disconnected":
            click.echo(f"# disconnected from {where}: routes may be stale until it is back", err=True)
        else:
            click.echo(f"# connected to {where} again: routes are current", err=True)

    watcher = RouteWatcher(servers, on_change=show, on_connection=connection, **(files or {}))
    await watcher.start()
    where = redact(servers() if callable(servers) else servers)  # never the password or token of the URL
    click.echo(f"# watching {len(watcher.table.routes)} routes on {where}; Ctrl-C to stop", err=True)
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


def _open_store(data_dir: Path | None, public_ids_allowed: bool = False):  # type: ignore[no-untyped-def]
    """The configured event store (as ``serve`` would open it), checked readable with the configured key."""
    from service.container import StoreKeyError, check_store_readable
    from service.write.application import SettingsApplication, StoreUnavailableError

    try:
        settings = Settings.from_env(data_dir=data_dir)
        app = SettingsApplication(settings.store_env())
    except (ConfigurationError, StoreUnavailableError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        check_store_readable(app, encrypted=settings.cipher_key is not None, public_ids_allowed=public_ids_allowed)
    except StoreKeyError as exc:
        app.close()
        raise click.ClickException(str(exc)) from None
    return app


@main.group()
def audit() -> None:
    """Export the change history and check that it was not tampered with."""


@audit.command("export")
@click.option(
    "--after",
    default=0,
    show_default=True,
    type=click.IntRange(0, MAX_POSITION),
    help="Only events after this position.",
)
@click.option("--until", default=None, help="Only events that occurred at or before this time (ISO 8601, UTC).")
@DATA_DIR_OPTION
def audit_export(after: int, until: str | None, data_dir: Path | None) -> None:
    """Write the change history to stdout as NDJSON, one event per line (secrets masked), in log order.

    Streams: the store is read 1000 events at a time and each line is written at once, whatever the size.
    """
    import msgspec

    from service.audit.history import iter_events
    from service.audit.progress import store_progress
    from service.read.past import parse_time
    from service.write.errors import InvalidSettingsError

    try:
        until_time = parse_time("until", until)
    except InvalidSettingsError as exc:
        raise click.BadParameter(exc.detail, param_hint="--until") from None
    app = _open_store(data_dir)
    out = sys.stdout.buffer
    encoder = msgspec.json.Encoder()
    buffer = bytearray()
    # Progress on stderr, never on stdout; none when the NDJSON itself goes to the terminal (a bar would garble it).
    quiet = "off" if sys.stdout.isatty() else None
    try:
        with store_progress(app, "exporting", sys.stderr, after=after, mode=quiet) as tick:
            for event in iter_events(app, after=after, until=until_time):
                encoder.encode_into(event, buffer, -1)
                buffer.extend(b"\n")
                if len(buffer) >= 64 * 1024:
                    out.write(buffer)
                    buffer.clear()
                tick(event.position)
        out.write(buffer)
        out.flush()
    finally:
        app.close()


def _digest(_context: click.Context, _parameter: click.Parameter, value: str | None) -> str | None:
    """A checkpoint digest as ``audit verify`` prints it: 64 hex digits. Anything else is a typo, not tampering."""
    if value is None:
        return None
    text = value.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise click.BadParameter("must be a head digest as 'audit verify' printed it: 64 hex digits")
    return text


@audit.command("verify")
@click.option(
    "--anchor",
    default=None,
    callback=_digest,
    help="A head digest printed by an earlier verify (64 hex digits): fail unless the store still holds it.",
)
@DATA_DIR_OPTION
def audit_verify(anchor: str | None, data_dir: Path | None) -> None:
    """Check every event's hash chain and the checkpoints; exit 1 naming the first bad event."""
    from service.audit.checkpoints import Checkpoints
    from service.audit.progress import store_progress
    from service.audit.verify import verify

    app = _open_store(data_dir)
    try:
        with store_progress(app, "verifying", sys.stderr) as tick:
            report = verify(app, Checkpoints(app), anchor=anchor, progress=tick)
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
    from service.audit.checkpoints import Checkpoints

    app = _open_store(data_dir)
    try:
        written = Checkpoints(app).write()
    finally:
        app.close()
    click.echo(f"{written} checkpoints written")


@main.group()
def migrate() -> None:
    """One-off changes to a store's format (run with every replica of the service stopped)."""


@migrate.command("keyed-ids")
@DATA_DIR_OPTION
def migrate_keyed_ids(data_dir: Path | None) -> None:
    """Key the phone-number and Idempotency-Key ids of an encrypted store written before they were keyed.

    Stop every replica first. One transaction moves those aggregates to their keyed ids and recomputes their hash
    chains; the audit checkpoints are then written anew. Running it again changes nothing.
    """
    from service.audit.rekey import PublicIdsError, rekey

    app = _open_store(data_dir, public_ids_allowed=True)
    try:
        result = rekey(app)
    except PublicIdsError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        app.close()
    if not result.aggregates:
        click.echo("nothing to migrate: every derived id in this store is keyed")
        return
    click.echo(f"keyed the ids of {result.aggregates} aggregates ({result.events} events); checkpoints written anew")
    if result.digest_before is not None:
        click.echo(f"head digest before: {result.digest_before}  (no longer verifies: it sealed the public ids)")
    if result.digest_after is not None:
        click.echo(f"head digest now:    {result.digest_after}  (keep it elsewhere, with the one before)")


@main.command()
@click.option("--url", default=None, help="A running service to compare with, e.g. http://127.0.0.1:8000.")
@click.option(
    "--api-key",
    envvar="TELEPHONY_API_KEY",
    default=None,
    help="A key with the read scope, for --url [env TELEPHONY_API_KEY].",
)
@click.option(
    "--verify-snapshot",
    is_flag=True,
    help="Instead: compare the read-model snapshot with a full fold of the log up to its position.",
)
@DATA_DIR_OPTION
def rebuild(url: str | None, api_key: str | None, verify_snapshot: bool, data_dir: Path | None) -> None:
    """Replay the store into fresh read models and compare them with the live ones; report the replay rate.

    With --url the live ones are a running service's (compared at its read-model position); without, the ones the
    service's own catch-up builds from the same store. With --verify-snapshot, the read-model snapshot the service
    starts from is compared with a full fold of the log up to its position. Exits 1 when they differ.
    """
    if verify_snapshot:
        _verify_snapshot(data_dir)
        return
    from service.audit.progress import store_progress
    from service.audit.rebuild import compare_with_catch_up, compare_with_service, replay

    app = _open_store(data_dir)
    try:
        if url is not None:
            if not api_key:
                raise click.ClickException(
                    "--url needs an API key with the read scope (--api-key or TELEPHONY_API_KEY)"
                )
            with store_progress(app, "replaying", sys.stderr) as tick:  # of the head now: the service's is near
                result, differences = compare_with_service(app, url, api_key, progress=tick)
        else:
            with store_progress(app, "replaying", sys.stderr) as tick:
                result = replay(app, progress=tick)
            with store_progress(app, "catching up", sys.stderr, stop=result.position) as tick:
                differences = compare_with_catch_up(app, result, progress=tick)
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


def _verify_snapshot(data_dir: Path | None) -> None:
    from service.audit.progress import store_progress
    from service.read.snapshots import store_for, verify

    app = _open_store(data_dir)
    try:
        store = store_for(app, Settings.from_env(data_dir=data_dir).effective_database_url)
        with store_progress(app, "verifying the snapshot", sys.stderr) as tick:
            snapshot, differences = verify(app, store, progress=tick)
    finally:
        app.close()
    if snapshot is None:
        click.echo(differences[0], err=True)
        sys.exit(1)
    if differences:
        click.echo(f"the snapshot at position {snapshot.position} differs from a full fold of the log:", err=True)
        for difference in differences:
            click.echo(f"  {difference}", err=True)
        sys.exit(1)
    click.echo(
        f"the snapshot at position {snapshot.position} matches a full fold of the log "
        f"({len(snapshot.endpoints)} endpoints)"
    )


main.add_command(config)  # telephony-settings config export | plan | apply (service/config)

if __name__ == "__main__":
    main()
