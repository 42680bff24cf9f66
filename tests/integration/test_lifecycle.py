"""Starting and stopping the service repeatedly while it polls the store never crashes the process: the store is
closed only after the read-model follower's in-flight catch-up has finished."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_stopping_while_the_follower_polls_never_crashes(tmp_path: Path) -> None:
    # In a child process: a crash (SQLite closed under a worker thread) would be a segfault, not an exception.
    script = textwrap.dedent(
        f"""
        import logging, random, time
        from pathlib import Path
        logging.disable(logging.CRITICAL)
        from service.settings import Settings
        from tests.clients import api_client
        random.seed(7)
        for _ in range(150):
            with api_client(Settings(data_dir=Path({str(tmp_path)!r}), nats_url="off", poll_interval=0.02)) as c:
                assert c.get("/api/settings/telephony").status_code == 200
                time.sleep(random.random() * 0.1)
        print("survived")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=110, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "survived" in result.stdout
