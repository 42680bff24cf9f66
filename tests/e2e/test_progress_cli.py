"""The long audit commands show their progress on stderr only: a bar (done of total, rate, time left) when stderr is
a terminal, periodic plain lines or nothing when it is not; stdout (the NDJSON export, the verdicts) and the exit
code stay byte for byte what they are without any progress. On both backends."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import threading
from pathlib import Path

import pytest

from service.settings import Settings
from tests.e2e.conftest import COMMAND_TIMEOUT, serve_command, service_environment
from tests.integration.test_audit_export import cli_env, write_large_history

EVENTS = 30_000
"""Enough for a few redraws of the bar (at most 10 a second) on a fast machine."""
COMMANDS = [("rebuild",), ("audit", "verify"), ("audit", "export")]
PLAIN_LINE = re.compile(
    r"^(replaying|catching up|verifying|exporting): [\d,]+ of [\d,]+ events \(\d+%\), [\d,]+ events/s"
)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def store(settings: Settings) -> dict[str, str]:
    """The environment of a CLI on a store of ``EVENTS`` events."""
    write_large_history(settings, EVENTS)
    return cli_env(settings)


def command(*args: str) -> list[str]:
    return [*serve_command()[:-1], *args]


def run(args: tuple[str, ...], env: dict[str, str], tmp_path: Path, terminal: bool = False) -> tuple[int, bytes, str]:
    """Exit code, stdout (a file, so a large export never blocks) and stderr (a pipe, or a pseudo-terminal)."""
    out = tmp_path / f"out-{os.urandom(4).hex()}"
    full_env = service_environment(extra={**env, "TERM": "xterm-256color", "COLUMNS": "160"})
    with out.open("wb") as stdout:
        if not terminal:
            done = subprocess.run(
                command(*args),
                stdout=stdout,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                env=full_env,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
            return done.returncode, out.read_bytes(), done.stderr.decode()
        master, slave = pty.openpty()
        try:
            process = subprocess.Popen(
                command(*args), stdout=stdout, stderr=slave, stdin=subprocess.DEVNULL, env=full_env
            )
        finally:
            os.close(slave)
        chunks: list[bytes] = []

        def drain() -> None:
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the command closed the terminal
                    return
                if not data:
                    return
                chunks.append(data)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        try:
            code = process.wait(timeout=COMMAND_TIMEOUT)
            reader.join(timeout=10)
        finally:
            os.close(master)
    return code, out.read_bytes(), b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_progress_goes_to_stderr_and_leaves_stdout_and_the_exit_code_alone(
    args: tuple[str, ...], store: dict[str, str], tmp_path: Path
) -> None:
    code, expected, quiet = run(args, {**store, "TELEPHONY_PROGRESS": "off"}, tmp_path)
    assert code == 0, quiet
    assert quiet == ""
    if args[-1] == "export":
        assert expected.count(b"\n") == EVENTS
    else:
        assert expected.startswith((b"replayed 30000 events", b"OK: 30000 events"))

    # Not a terminal (logs, CI), by default: a run shorter than the interval prints nothing at all.
    code, stdout, stderr = run(args, store, tmp_path)
    assert (code, stderr) == (0, "")
    assert _same_but_timing(stdout, expected)

    # Not a terminal, with a short interval: plain periodic lines, and the closing line.
    code, stdout, stderr = run(args, {**store, "TELEPHONY_PROGRESS_EVERY": "0.001"}, tmp_path)
    assert code == 0, stderr
    lines = stderr.splitlines()
    assert any(PLAIN_LINE.match(line) for line in lines), stderr
    assert re.search(r": done, [\d,]+ events in \d+:\d\d$", stderr, re.MULTILINE), stderr
    assert all(PLAIN_LINE.match(line) or ": done, " in line for line in lines), stderr
    assert "\x1b" not in stderr  # no terminal control codes in a log
    assert _same_but_timing(stdout, expected)

    # A terminal: the bar, with done of total, rate and time left; stdout still untouched.
    code, stdout, shown = run(args, store, tmp_path, terminal=True)
    assert code == 0, shown
    text = ANSI.sub("", shown)
    assert re.search(rf"[\d,]+ of {EVENTS:,} events", text), text
    # The rate (and so the time left) needs two updates 0.1 s apart: "?" on a machine fast enough to finish sooner
    # (tests/unit/test_progress.py checks the figures on a pseudo-terminal with a paced loop).
    assert re.search(r"(\d[\d,]*|\?) events/s", text), text
    assert re.search(r"\d+:\d\d left", text), text
    assert _same_but_timing(stdout, expected)


def test_no_bar_while_the_export_itself_goes_to_the_terminal(store: dict[str, str]) -> None:
    """A bar would garble the NDJSON written to the same terminal: the lines are the progress there."""
    master, slave = pty.openpty()
    env = service_environment(extra={**store, "TERM": "xterm-256color"})
    try:
        process = subprocess.Popen(
            command("audit", "export", "--after", str(EVENTS - 3)),
            stdout=slave,
            stderr=slave,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    finally:
        os.close(slave)
    chunks = []
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        assert process.wait(timeout=COMMAND_TIMEOUT) == 0
    finally:
        os.close(master)
    shown = b"".join(chunks).decode()
    assert "\x1b" not in shown
    assert [line for line in shown.splitlines() if line] == [
        line for line in shown.splitlines() if line.startswith("{")
    ]
    assert len(shown.splitlines()) == 3


def _same_but_timing(stdout: bytes, expected: bytes) -> bool:
    """Byte for byte, except the replay's duration and rate that ``rebuild`` reports (they change every run)."""
    timing = re.compile(rb" in \d+\.\d{3} s \([\d,]+ events/s\)")
    return timing.sub(b"", stdout) == timing.sub(b"", expected)
