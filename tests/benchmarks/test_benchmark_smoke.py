"""The benchmark command in its smallest mode: it runs, stops by itself and prints the table
with ratios to the bare endpoint. No timing is asserted: figures are for reading (see
docs/performance.md), and this machine's load is nobody's pass or fail."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_quick_benchmark_prints_ratios_to_the_bare_endpoint(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVITEBOT_")}
    command = ["-m", "tests.benchmarks", "--quick", "--database", "sqlite", "--json", figures]
    done = subprocess.run(
        [sys.executable, *map(str, command)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout
    assert "Inbound webhooks" in table and "rps/bare" in table
    for path in ("bare endpoint", "sms JOIN", "telegram (answer)", "telegram (reply sent)"):
        assert path in table
    rows = json.loads(figures.read_text())["rows"]
    measured = [r for r in rows if r["path"] != "bare endpoint"]
    assert {r["load"].split()[0] for r in measured} == {"max", "50/s"}  # closed and open loop
    for row in measured:
        assert row["requests"] > 0
        assert math.isfinite(row["rps_ratio_to_bare"]) and row["rps_ratio_to_bare"] > 0
        assert f"{row['rps_ratio_to_bare']:.1%}" in table
