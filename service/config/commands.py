"""``telephony-settings config export | plan | apply``: the settings as a YAML file, against a running service.

Exit codes are for CI: 0 done (``plan``: no changes), 2 ``plan`` found changes, 1 any error (click's usage errors
too, which would otherwise be 2 and read as "changes"). Plans go to stdout; warnings and errors to stderr, each
with its file and line, never with a secret's value.

Only ``click`` is imported here: ``cli.py`` loads this module for every command, ``serve`` included.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from service.config.client import Rejected, SettingsClient
    from service.config.files import SettingsFile
    from service.config.plan import Plan

DEFAULT_URL = "http://127.0.0.1:8000"
API_KEY_VARIABLE = "TELEPHONY_API_KEY"


class _Command(click.Command):
    """A usage error exits 1, not 2: to a CI job, ``plan``'s 2 means that there are changes."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            exc.exit_code = 1
            raise


@click.group("config")
def config() -> None:
    """Settings as code: export the settings to a YAML file, review a file's changes (plan), apply them.

    Against a running service (--url, env TELEPHONY_URL) with the API key in env TELEPHONY_API_KEY.
    """


url_option = click.option(
    "--url",
    envvar="TELEPHONY_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="The running service [env TELEPHONY_URL].",
)
prune_option = click.option("--prune", is_flag=True, help="Also delete the endpoints that the file does not name.")
file_argument = click.argument("file", type=click.Path(dir_okay=False, path_type=Path))


@config.command("export", cls=_Command)
@url_option
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here, not to stdout."
)
def export(url: str, output: Path | None) -> None:
    """Write the provider settings and every endpoint as YAML (secrets as ${ENV} references, never their values)."""
    from service.config.client import ServiceError
    from service.config.files import export_settings

    try:
        with _client(url) as client:
            telephony, _ = client.telephony()
            endpoints, _ = client.endpoints()
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    text = export_settings(telephony, endpoints)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"wrote {output}: provider settings and {len(endpoints)} endpoints", err=True)


@config.command("plan", cls=_Command)
@url_option
@file_argument
@prune_option
def plan(url: str, file: Path, prune: bool) -> None:
    """Show what applying FILE would change; exit 0 when nothing, 2 when something (1 on errors).

    The service checks the changes without storing them (a dry run, with a key of the write scope), and its errors
    are shown at their lines.
    """
    from service.config.client import Forbidden, NoChangesRoute, Rejected, ServiceError, VersionConflict

    settings = _read(file)
    try:
        with _client(url) as client:
            the_plan = _plan(client, file, settings, prune)
            if not the_plan.changed:
                sys.exit(0)
            try:
                client.submit(the_plan.request(), version=the_plan.version, dry_run=True)
            except NoChangesRoute:
                click.echo("note: the service cannot check changes in advance (no dry run): it is older", err=True)
            except Forbidden:
                click.echo(
                    "note: the service did not check the changes: that needs an API key with the write scope", err=True
                )
    except Rejected as exc:
        _rejected(file, the_plan, exc)
    except VersionConflict:
        raise click.ClickException("settings changed while the plan was made; run plan again") from None
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(2)


@config.command("apply", cls=_Command)
@url_option
@file_argument
@prune_option
@click.option("--yes", "-y", is_flag=True, help="Apply without asking for confirmation.")
def apply(url: str, file: Path, prune: bool, yes: bool) -> None:
    """Show the plan of FILE, ask, and apply it as one change set (only if the settings did not change meanwhile)."""
    import uuid

    from service.config.client import Rejected, ServiceError, VersionConflict

    settings = _read(file)
    try:
        with _client(url) as client:
            the_plan = _plan(client, file, settings, prune)
            if not the_plan.changed:
                return
            if the_plan.version is None:
                raise ServiceError(f"the service at {client.url} does not say which version it serves: upgrade it")
            if not yes:
                click.confirm("Apply these changes?", abort=True)
            answer = client.submit(
                the_plan.request(), version=the_plan.version, dry_run=False, idempotency_key=str(uuid.uuid4())
            )
    except Rejected as exc:
        _rejected(file, the_plan, exc)
    except VersionConflict as exc:
        raise click.ClickException(str(exc)) from None
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_applied(answer))


# -- steps ------------------------------------------------------------------------------------------------------------


def _client(url: str) -> SettingsClient:
    from service.config.client import ServiceError, SettingsClient

    api_key = os.environ.get(API_KEY_VARIABLE, "").strip()
    if not api_key:
        raise click.ClickException(
            f"no API key: set {API_KEY_VARIABLE} (the read scope to export and plan, write to apply; with the "
            "secrets scope a plan compares secrets exactly)"
        )
    try:
        return SettingsClient(url, api_key)
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None


def _read(file: Path) -> SettingsFile:
    """The file, checked and its references resolved; its warnings printed. Exits 1 with every problem found."""
    from service.config.files import SettingsFileError, load_settings

    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{file} is not a UTF-8 text file") from None
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror or exc}") from None
    try:
        settings = load_settings(text, os.environ)
    except SettingsFileError as exc:
        _fail(file, [str(problem) for problem in exc.problems])
    for warning in settings.warnings:
        click.echo(f"warning: {file}: {warning}", err=True)
    return settings


def _plan(client: SettingsClient, file: Path, settings: SettingsFile, prune: bool) -> Plan:
    """The plan against the service's current settings, printed (on stdout)."""
    from events import SECRET_FIELDS
    from service.config.files import SettingsFileError
    from service.config.plan import compute_plan, render_plan

    # Secrets in clear are read only when the file sets one: to compare it exactly (when the key may read them).
    current = client.current(credentials=any(name in SECRET_FIELDS for name in settings.telephony or {}))
    try:
        the_plan = compute_plan(current, settings, prune=prune)
    except SettingsFileError as exc:
        _fail(file, [str(problem) for problem in exc.problems])
    version = f" (version {current.version})" if current.version is not None else ""
    if the_plan.changed:
        click.echo(f"Changes to {client.url}{version} from {file}:")
    if prune and not the_plan.endpoints_managed:
        click.echo(f"note: {file} has no endpoints section: --prune deletes nothing", err=True)
    click.echo(render_plan(the_plan), nl=False)
    return the_plan


def _rejected(file: Path, the_plan: Plan, exc: Rejected) -> NoReturn:
    """The service's errors, each at its line of the file when it has one."""
    located = []
    for error in exc.errors:
        line, subject = the_plan.locate(str(error.get("field", "")))
        located.append((line, f"{subject}: {error.get('message', '')}"))
    located.sort(key=lambda item: (item[0] is None, item[0] or 0))  # the file's order; what it has no line for last
    lines = [f"line {line}: {text}" if line is not None else text for line, text in located]
    _fail(file, lines, heading=f"the service refused the changes: {exc.detail}")


def _fail(file: Path, problems: list[str], heading: str | None = None) -> NoReturn:
    if heading:
        click.echo(f"{file}: {heading}", err=True)
    for problem in problems:
        click.echo(f"{file}: {problem}", err=True)
    sys.exit(1)


def _applied(answer: dict[str, Any]) -> str:
    results = [item.get("result") for item in answer.get("endpoints") or []]
    counts = ", ".join(f"{results.count(result)} {result}" for result in ("created", "updated", "deleted"))
    telephony = answer.get("telephony")
    provider = f"; provider settings {telephony}" if telephony else ""
    return f"Applied change set {answer.get('change_set')} at position {answer.get('position')}: {counts}{provider}."
