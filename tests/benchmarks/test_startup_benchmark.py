"""The CLI startup benchmark in its quick mode: it runs every command and prints every row.
No timing is asserted (the figures are in docs/performance.md, "CLI startup")."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.benchmarks.startup import COMMANDS

ROOT = Path(__file__).resolve().parents[2]


def test_the_quick_startup_benchmark_prints_every_command() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVITEBOT_")}
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.startup", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("CLI startup (SQLite, 2 runs each")
    for label, _ in COMMANDS:
        (row,) = [line for line in lines if line.startswith(label + " ")]
        assert re.fullmatch(rf"{re.escape(label)}\s+\d+\.\d{{3}}s\s+\d+\.\d{{3}}s", row)
