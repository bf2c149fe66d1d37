"""The benchmark command in its smallest mode: it runs, stops by itself and prints every
row (the raw bare app, the app's bare endpoint, SMS, Telegram's and Slack's answers and
replies) with ratios to both bare endpoints. No timing is asserted: figures are for reading
(see docs/performance.md), and this machine's load is nobody's pass or fail."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATHS = (
    "raw bare endpoint",
    "bare endpoint",
    "sms JOIN",
    "telegram (answer)",
    "telegram (reply sent)",
    "slack (answer)",
    "slack (reply sent)",
)


def test_the_quick_benchmark_prints_every_row_with_ratios_to_both_bare_endpoints(
    tmp_path: Path,
) -> None:
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
    assert "Inbound webhooks" in table and "rps/bare" in table and "rps/raw" in table
    for path in PATHS:
        assert path in table
    rows = json.loads(figures.read_text())["rows"]
    assert {r["path"] for r in rows} == set(PATHS)
    assert {r["load"].split()[0] for r in rows} == {"max", "50/s"}  # closed and open loop
    for row in rows:
        assert row["requests"] > 0, row
        assert row["errors"] == 0, row
        if row["path"] == "raw bare endpoint":  # the ceiling: no ratios
            assert math.isnan(row["rps_ratio_to_raw_bare"]), row
            assert math.isnan(row["rps_ratio_to_bare"]), row
            continue
        assert math.isfinite(row["rps_ratio_to_raw_bare"]) and row["rps_ratio_to_raw_bare"] > 0
        assert f"{row['rps_ratio_to_raw_bare']:.1%}" in table
        if row["path"] == "bare endpoint":  # only to the raw bare
            assert math.isnan(row["rps_ratio_to_bare"]), row
            continue
        assert math.isfinite(row["rps_ratio_to_bare"]) and row["rps_ratio_to_bare"] > 0, row
        assert f"{row['rps_ratio_to_bare']:.1%}" in table
