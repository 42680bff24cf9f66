"""``service.audit.progress``: the mode follows the stream (a bar on a terminal, plain periodic lines elsewhere,
overridable), plain lines are throttled and silent for short runs, the bar shows done of total, rate and time left
on a real pseudo-terminal, and nothing ever goes to stdout."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from service.audit.progress import (
    EVERY_VARIABLE,
    MODE_VARIABLE,
    choose_mode,
    duration,
    plain_every,
    progress,
    store_progress,
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pseudo_terminal() -> Iterator[tuple[int, io.TextIOWrapper]]:
    """The reading end, and a text stream on the terminal end that ``isatty()``."""
    master, slave = pty.openpty()
    stream = open(slave, "w", encoding="utf-8", closefd=True)  # noqa: SIM115
    try:
        yield master, stream
    finally:
        stream.close()
        os.close(master)


def read_all(master: int) -> str:
    chunks = []
    while select.select([master], [], [], 0.2)[0]:
        chunks.append(os.read(master, 65536))
    return b"".join(chunks).decode("utf-8", "replace")


# -- choosing --------------------------------------------------------------------------------------------------------


def test_auto_draws_a_bar_on_a_terminal_and_plain_lines_elsewhere() -> None:
    assert choose_mode(Terminal(), env={"TERM": "xterm"}) == "terminal"
    assert choose_mode(io.StringIO(), env={}) == "plain"
    assert choose_mode(Terminal(), env={"TERM": "dumb"}) == "plain"  # it cannot redraw a line


def test_the_environment_or_the_caller_overrides_the_choice() -> None:
    assert choose_mode(Terminal(), env={MODE_VARIABLE: "off"}) == "off"
    assert choose_mode(io.StringIO(), env={MODE_VARIABLE: "Terminal"}) == "terminal"
    assert choose_mode(Terminal(), env={MODE_VARIABLE: " plain "}) == "plain"
    assert choose_mode(Terminal(), mode="off", env={MODE_VARIABLE: "plain"}) == "off"


def test_an_unknown_setting_is_said_and_taken_as_auto() -> None:
    stream = io.StringIO()
    assert choose_mode(stream, env={MODE_VARIABLE: "fancy"}) == "plain"
    assert "TELEPHONY_PROGRESS='fancy' is not one of auto, terminal, plain, off: using auto" in stream.getvalue()
    assert plain_every(stream, env={EVERY_VARIABLE: "often"}) == 10.0
    assert plain_every(stream, env={EVERY_VARIABLE: "-1"}) == 10.0
    assert plain_every(stream, env={EVERY_VARIABLE: "60"}) == 60.0
    assert "TELEPHONY_PROGRESS_EVERY='often' is not a number of seconds" in stream.getvalue()


def test_durations_read_as_clock_times() -> None:
    assert [duration(s) for s in (0, 59.6, 61, 3600, 3725, -3)] == [
        "0:00",
        "1:00",
        "1:01",
        "1:00:00",
        "1:02:05",
        "0:00",
    ]


# -- plain lines -----------------------------------------------------------------------------------------------------


def test_a_short_run_prints_nothing(clock: Clock) -> None:
    stream = io.StringIO()
    with progress("verifying", 1000, stream, mode="plain", every=10, clock=clock) as tick:
        for done in range(0, 1001, 100):
            clock.now += 0.5
            tick(done)
    assert stream.getvalue() == ""


def test_plain_lines_come_every_interval_with_done_total_rate_and_time_left(clock: Clock) -> None:
    stream = io.StringIO()
    with progress("verifying", 1_000_000, stream, mode="plain", every=10, clock=clock) as tick:
        for done in range(10_000, 1_000_001, 10_000):  # 100 ticks, 1 s apart: 10,000 events/s
            clock.now += 1
            tick(done)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "verifying: 100,000 of 1,000,000 events (10%), 10,000 events/s, 1:30 left"
    assert lines[1] == "verifying: 200,000 of 1,000,000 events (20%), 10,000 events/s, 1:20 left"
    assert len(lines) == 11  # one every 10 s, and the closing line
    assert lines[-1] == "verifying: done, 1,000,000 events in 1:40"


def test_a_run_that_fails_says_where_it_stopped(clock: Clock) -> None:
    stream = io.StringIO()

    def interrupted() -> None:
        with progress("exporting", 100, stream, mode="plain", every=1, clock=clock) as tick:
            clock.now += 2
            tick(40)
            tick(45)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert stream.getvalue().splitlines()[-1] == "exporting: stopped after 45 events (0:02)"


def test_without_a_total_the_lines_give_done_and_rate_only(clock: Clock) -> None:
    stream = io.StringIO()
    with progress("exporting", None, stream, mode="plain", every=1, clock=clock) as tick:
        clock.now += 2
        tick(500)
    assert stream.getvalue().splitlines()[0] == "exporting: 500 events, 250 events/s"


def test_done_past_the_total_counts_as_the_total(clock: Clock) -> None:
    stream = io.StringIO()
    with progress("exporting", 100, stream, mode="plain", every=1, clock=clock) as tick:
        clock.now += 2
        tick(120)  # events written while it ran
    assert stream.getvalue().splitlines()[0] == "exporting: 120 of 120 events (100%), 60 events/s, 0:00 left"


def test_off_prints_nothing_whatever_the_stream(clock: Clock) -> None:
    stream = Terminal()
    with progress("verifying", 10, stream, mode="off", clock=clock) as tick:
        clock.now += 100
        tick(10)
    assert stream.getvalue() == ""


# -- the store's log -------------------------------------------------------------------------------------------------


def test_store_progress_counts_positions_after_the_start_up_to_the_head() -> None:
    app = SimpleNamespace(recorder=SimpleNamespace(max_notification_id=lambda: 1500))
    stream = io.StringIO()
    with store_progress(app, "exporting", stream, after=500, mode="plain", every=0.001) as tick:
        time.sleep(0.01)
        tick(1000)
    assert stream.getvalue().splitlines()[0].startswith("exporting: 500 of 1,000 events (50%)")


def test_an_empty_store_has_no_total() -> None:
    app = SimpleNamespace(recorder=SimpleNamespace(max_notification_id=lambda: None))
    stream = io.StringIO()
    with store_progress(app, "verifying", stream, mode="plain", every=0.001) as tick:
        time.sleep(0.01)
        tick(0)
    assert stream.getvalue().splitlines()[0].startswith("verifying: 0 events")


def test_off_does_not_even_read_the_head() -> None:
    def head() -> int:
        raise AssertionError("read the head")

    app = SimpleNamespace(recorder=SimpleNamespace(max_notification_id=head))
    with store_progress(app, "verifying", io.StringIO(), mode="off") as tick:
        tick(1)


# -- the bar ---------------------------------------------------------------------------------------------------------


def test_the_bar_on_a_terminal_shows_done_of_total_rate_and_time_left(
    pseudo_terminal: tuple[int, io.TextIOWrapper], capsys: pytest.CaptureFixture[str]
) -> None:
    master, stream = pseudo_terminal
    with progress("verifying", 10_000, stream, mode="auto") as tick:
        for done in range(0, 5001, 250):  # about 20 updates over 0.4 s
            tick(done)
            time.sleep(0.02)
    shown = read_all(master)
    assert "verifying" in shown
    assert re.search(r"[\d,]+ of 10,000 events", shown), shown
    assert re.search(r"\d[\d,]* events/s", shown), shown  # a real rate once two updates are in
    assert re.search(r"\d+:\d\d left", shown), shown
    assert "5,000 of 10,000 events" in shown  # the last frame shows where the block ended
    assert capsys.readouterr().out == ""


def test_the_bar_updates_at_most_ten_times_a_second(pseudo_terminal: tuple[int, io.TextIOWrapper]) -> None:
    master, stream = pseudo_terminal
    clock = Clock()
    with progress("verifying", 100_000, stream, mode="terminal", clock=clock) as tick:
        for done in range(100_000):  # no time passes: only the first and the closing update are drawn
            tick(done)
    shown = read_all(master)
    counts = set(re.findall(r"([\d,]+) of 100,000 events", shown))
    assert counts <= {"0", "99,999"}, counts
