"""The type check: mypy over what ``[tool.mypy]`` in pyproject.toml names (bot/ strict;
storage/ and handlers/ with the bodies of unannotated functions; the in-memory fakes of the
core's ports held to bot/ports.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_code_type_checks() -> None:
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    assert mypy, "mypy is a dev dependency: pip install -e '.[dev]'"
    # The files and the flags come from pyproject.toml; the cache (.mypy_cache) makes a second
    # run quick, and a fresh clone pays the first one (about 30 s: it reads SQLAlchemy,
    # aiogram, Slack's SDK and the others' annotations).
    result = subprocess.run(
        [mypy],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, "mypy found type errors:\n" + result.stdout + result.stderr
