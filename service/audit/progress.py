"""Progress of the long audit commands (``rebuild``, ``audit export``, ``audit verify``; later ``rebuild
--verify-snapshot``), on stderr.

Why: on years of history these commands read millions of events and run for minutes; without a sign of life an
operator cannot tell a slow run from a hung one, nor how long is left. Their stdout (the NDJSON export, the verdict
lines) and exit codes are what scripts read, so progress never touches stdout: it goes to ``stream`` (stderr).

How it shows depends on where stderr goes (``TELEPHONY_PROGRESS`` overrides the choice):

* ``terminal`` (``auto`` when the stream is a terminal, unless ``TERM`` is dumb): a live bar by ``rich`` (done of
  total, rate, time left), redrawn at most 10 times a second and erased at the end, so the verdict stands alone.
* ``plain`` (``auto`` otherwise: logs, CI): one line every ``TELEPHONY_PROGRESS_EVERY`` seconds (10 by default),
  the first only after that long, so a short run prints nothing, and a closing line when any was printed.
* ``off``: nothing.

Work is counted in log positions (``app.recorder.max_notification_id()``, one indexed query), not by counting
events (a full scan on PostgreSQL): on SQLite a position is an event; PostgreSQL positions may have small gaps.

Cost: the loops call ``tick(position)`` per batch of 1000 (rebuild, verify) or per event (export); a tick is one
clock read and a comparison unless an update is due (at most every 0.1 s). Measured on 100k events (SQLite, in
process, best of 7): verify +0.3% with plain lines, +1.8% with the bar; export +0.9% / +3.9%; the replay within its
run-to-run noise (about 3%). The bar's share is its refresh thread (10 redraws a second) and, once per command,
importing rich (about 55 ms).

Why ``rich`` rather than ``click.progressbar``: rich estimates the rate and the time left over a sliding window
(click's bar has no rate and averages its ETA since the start), keeps redrawing from its own thread when a batch read
stalls (so a slow database still shows the clock moving), adapts to the terminal's width, and is already installed
(litestar requires it). It is imported only when a bar is drawn: the other commands and the plain mode do not pay for
it.

This module reads ``TELEPHONY_PROGRESS`` / ``TELEPHONY_PROGRESS_EVERY`` itself (a presentation choice of the CLI, not
service configuration, so not ``service.settings``); callers and tests may pass ``mode`` / ``every`` instead.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Literal, Protocol

Mode = Literal["terminal", "plain", "off"]
Tick = Callable[[int], None]
"""Called with the work done so far (a count or, through ``store_progress``, a log position)."""

MODES = ("auto", "terminal", "plain", "off")
REDRAW_INTERVAL = 0.1
"""Seconds between two updates of the bar: at most 10 a second."""
PLAIN_EVERY = 10.0
"""Seconds between two plain lines, by default."""
MODE_VARIABLE = "TELEPHONY_PROGRESS"
EVERY_VARIABLE = "TELEPHONY_PROGRESS_EVERY"


class _Recorder(Protocol):
    def max_notification_id(self) -> int | None: ...


class _Store(Protocol):
    @property
    def recorder(self) -> _Recorder: ...


def choose_mode(stream: IO[str], mode: str | None = None, env: Mapping[str, str] | None = None) -> Mode:
    """``mode``, else ``TELEPHONY_PROGRESS``, else ``auto``: a bar on a terminal, plain lines otherwise.

    An unknown value is said on ``stream`` and taken as ``auto``: a display choice never stops an audit.
    """
    wanted = mode if mode is not None else (os.environ if env is None else env).get(MODE_VARIABLE, "")
    wanted = wanted.strip().lower() or "auto"
    if wanted not in MODES:
        _say(stream, f"{MODE_VARIABLE}={wanted!r} is not one of {', '.join(MODES)}: using auto")
        wanted = "auto"
    if wanted != "auto":
        return wanted  # type: ignore[return-value]
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        terminal = False
    environ = os.environ if env is None else env
    # A dumb terminal (Emacs' shell) cannot redraw a line: the bar would never show there, plain lines do.
    return "terminal" if terminal and environ.get("TERM", "") not in ("dumb", "unknown") else "plain"


def plain_every(stream: IO[str], env: Mapping[str, str] | None = None) -> float:
    """``TELEPHONY_PROGRESS_EVERY`` seconds, else ``PLAIN_EVERY`` (an invalid value is said on ``stream``)."""
    text = (os.environ if env is None else env).get(EVERY_VARIABLE, "").strip()
    if not text:
        return PLAIN_EVERY
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        _say(stream, f"{EVERY_VARIABLE}={text!r} is not a number of seconds above 0: using {PLAIN_EVERY:g}")
        return PLAIN_EVERY
    return seconds


def _say(stream: IO[str], text: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # a closed or broken stderr must not fail the command
        stream.write(text + "\n")
        stream.flush()


def duration(seconds: float) -> str:
    """``1:02:03`` or ``2:03``: what the plain lines print for elapsed and remaining times."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@contextlib.contextmanager
def progress(
    label: str,
    total: int | None,
    stream: IO[str],
    *,
    mode: str | None = None,
    every: float | None = None,
    unit: str = "events",
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Tick]:
    """Show the progress of ``label`` on ``stream`` while the block runs; the block calls ``tick(done)``.

    ``total`` is the work expected (``None`` or 0 when unknown: no percentage nor time left). ``done`` may pass it
    (events written meanwhile). ``mode`` and ``every`` default to the environment (see the module docstring).
    """
    chosen = choose_mode(stream, mode)
    if chosen == "off":
        yield _ignore
        return
    if chosen == "terminal":
        with _bar(label, total, stream, unit) as update:
            tick, reached = _throttled(update, REDRAW_INTERVAL, clock)
            yield tick
            update(reached())  # the last frame shows where the block ended
        return
    lines = _PlainLines(label, total, stream, unit, clock)
    interval = every if every is not None else plain_every(stream)
    tick, reached = _throttled(lines.update, interval, clock, first_after=interval)
    completed = False
    try:
        yield tick
        completed = True
    finally:
        lines.close(reached(), completed)


@contextlib.contextmanager
def store_progress(
    app: _Store,
    label: str,
    stream: IO[str],
    *,
    after: int = 0,
    stop: int | None = None,
    mode: str | None = None,
    every: float | None = None,
) -> Iterator[Tick]:
    """``progress`` over a store's log from position ``after`` to ``stop`` (default: the head now).

    The block calls ``tick(position)`` with the position it reached; the bar counts ``position - after``. For every
    command that reads the log in order (and ``rebuild --verify-snapshot`` next).
    """
    chosen = choose_mode(stream, mode)
    if chosen == "off":
        yield _ignore
        return
    end = stop if stop is not None else (app.recorder.max_notification_id() or 0)
    with progress(label, max(0, end - after), stream, mode=chosen, every=every) as tick:
        if after == 0:
            yield tick
        else:
            yield lambda position: tick(position - after)


def _ignore(_done: int) -> None:
    return None


def _throttled(
    update: Callable[[int], None], interval: float, clock: Callable[[], float], first_after: float = 0.0
) -> tuple[Tick, Callable[[], int]]:
    """A tick that calls ``update(done)`` at most once per ``interval`` (the first after ``first_after``), and what
    the last tick reached."""
    next_at = clock() + first_after
    last = 0

    def tick(done: int) -> None:
        nonlocal next_at, last
        last = done
        now = clock()
        if now >= next_at:
            next_at = now + interval
            update(done)

    return tick, lambda: last


class _PlainLines:
    """``exporting: 120,000 of 1,000,000 events (12%), 45,310 events/s, 0:19 left``: one line per update."""

    def __init__(self, label: str, total: int | None, stream: IO[str], unit: str, clock: Callable[[], float]) -> None:
        self.label, self.total, self.stream, self.unit, self.clock = label, total or None, stream, unit, clock
        self.started = clock()
        self.done = 0
        self.printed = 0

    def update(self, done: int) -> None:
        self.done = done
        elapsed = self.clock() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        text = f"{self.label}: {done:,}"
        if self.total is not None:
            total = max(self.total, done)
            text += f" of {total:,} {self.unit} ({100 * done // total}%)"
        else:
            text += f" {self.unit}"
        text += f", {rate:,.0f} {self.unit}/s"
        if self.total is not None and rate > 0:
            text += f", {duration(max(0, self.total - done) / rate)} left"
        self._write(text)

    def close(self, done: int, completed: bool) -> None:
        if not self.printed:
            return  # a short run says nothing
        self.done = done
        elapsed = duration(self.clock() - self.started)
        if completed:
            self._write(f"{self.label}: done, {self.done:,} {self.unit} in {elapsed}")
        else:
            self._write(f"{self.label}: stopped after {self.done:,} {self.unit} ({elapsed})")

    def _write(self, text: str) -> None:
        self.printed += 1
        _say(self.stream, text)


@contextlib.contextmanager
def _bar(label: str, total: int | None, stream: IO[str], unit: str) -> Iterator[Callable[[int], None]]:
    """A rich bar on ``stream``: ``label ━━━━╸━━━ 120,000 of 1,000,000 events 45,310 events/s 0:00:19 left``."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} {unit}/s" if speed is not None else f"? {unit}/s", style="progress.data.speed")

    class Left(ProgressColumn):
        max_refresh = 0.5  # a steadier estimate than the bar

        def render(self, task: Task) -> Text:
            remaining = task.time_remaining
            shown = duration(remaining) if remaining is not None else "?"
            return Text(f"{shown} left", style="progress.remaining")

    of = "{task.completed:,.0f} of {task.total:,.0f} " + unit if total else "{task.completed:,.0f} " + unit
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn(of, style="progress.download"),
        Rate(),
        Left(),
        console=Console(file=stream, force_terminal=True),
        transient=True,
        refresh_per_second=1 / REDRAW_INTERVAL,
        redirect_stdout=False,  # stdout is the command's output (NDJSON, verdicts): never proxied
        redirect_stderr=False,
    )
    task = bar.add_task(label, total=total or None)

    def update(done: int) -> None:
        bar.update(task, completed=done)

    with bar:
        yield update
