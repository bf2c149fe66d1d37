"""How long ``invitebot`` commands take to start and finish, beside ``python -c pass``.

``.venv/bin/python -m tests.benchmarks.startup`` (``--runs N``, default 15; ``--quick``: 2)
runs each command in a subprocess, from a temporary directory with a fresh SQLite database of
its own (migrated first, with one community and a few households), each once untimed (which
also fills a bytecode cache of the benchmark's own, as an installed wheel has one) and then
``--runs`` times, and prints the median and the fastest wall time of each. Nothing is
asserted about the figures (docs/performance.md, "CLI startup", has them):
``tests/benchmarks/test_startup_benchmark.py`` only checks that every row is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

INVITEBOT = Path(sys.executable).parent / "invitebot"
COMMUNITY = "Maple Grove"
HOUSEHOLDS = (
    ("12 Oak Street", "Maria Ruiz", "maria@example.org"),
    ("14 Oak Street", "Sam Lee", "+12025550199"),
    ("3 Elm Court", "Ana Souza", ""),
    ("5 Elm Court", "", ""),
)
COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("python -c pass", (sys.executable, "-c", "pass")),
    ("invitebot --help", (str(INVITEBOT), "--help")),
    ("invitebot --version", (str(INVITEBOT), "--version")),
    ("invitebot admin household list", (str(INVITEBOT), "admin", "household", "list")),
    ("invitebot admin community list", (str(INVITEBOT), "admin", "community", "list")),
)


def _run(argv: Sequence[str], *, cwd: Path, env: dict[str, str]) -> float:
    """Seconds ``argv`` took, start to exit; a failure stops the benchmark."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {done.returncode}:\n{done.stderr}")
    return elapsed


def _prepare(cwd: Path, env: dict[str, str]) -> None:
    """The database migrated, with a community and its households."""
    _run((str(INVITEBOT), "db", "upgrade"), cwd=cwd, env=env)
    _run((str(INVITEBOT), "admin", "community", "add", COMMUNITY), cwd=cwd, env=env)
    for address, head, contact in HOUSEHOLDS:
        argv = [str(INVITEBOT), "admin", "household", "add", "--community", COMMUNITY]
        argv += ["--address", address, "--head-name", head, "--head-contact", contact]
        _run(argv, cwd=cwd, env=env)


def measure(runs: int) -> list[tuple[str, float, float]]:
    """(command, median seconds, fastest seconds) of each of :data:`COMMANDS`."""
    if not INVITEBOT.exists():
        raise SystemExit(f"{INVITEBOT} is missing: install the project (pip install -e .)")
    with tempfile.TemporaryDirectory(prefix="invitebot-startup-") as directory:
        cwd = Path(directory)
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVITEBOT_")}
        env["INVITEBOT_DATABASE_URL"] = f"sqlite+aiosqlite:///{cwd / 'invitebot.db'}"
        # Compiled modules cached, as an installed wheel has them (pip compiles them), but
        # here, not in the checkout: without a cache every run compiles the project anew.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(cwd / "pycache")
        _prepare(cwd, env)
        rows = []
        for label, argv in COMMANDS:
            _run(argv, cwd=cwd, env=env)  # once untimed: files in the page cache
            times = [_run(argv, cwd=cwd, env=env) for _ in range(runs)]
            rows.append((label, statistics.median(times), min(times)))
        return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each command")
    parser.add_argument("--quick", action="store_true", help="2 runs each (a smoke test)")
    args = parser.parse_args(argv)
    runs = 2 if args.quick else max(1, args.runs)
    rows = measure(runs)
    print(f"CLI startup (SQLite, {runs} runs each, wall time; Python {sys.version.split()[0]})")
    width = max(len(label) for label, _, _ in rows)
    print(f"{'command':<{width}}  {'median':>8}  {'min':>8}")
    for label, median, fastest in rows:
        print(f"{label:<{width}}  {median:>7.3f}s  {fastest:>7.3f}s")


if __name__ == "__main__":
    main()
