"""Issue 13, point 11: a secret key shorter than 32 bytes is refused at start-up, with how to
make a good one; the zero-configuration key (SQLite, no key set) still just works.

The key signs every invite link and hashes every access code: a one-character key lets anyone
with one link (or a database dump) find it by brute force and forge the rest.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

import handlers
from handlers.settings import Settings

ADVICE = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
SHORT = "hunter2-short-key"  # 17 bytes: refused, and never echoed back
REPO = Path(handlers.__file__).resolve().parents[1]


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No INVITEBOT_* from the caller, no .env: the working directory is an empty folder."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("INVITEBOT_"):
            monkeypatch.delenv(name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVITEBOT_")}
    env["PYTHONPATH"] = str(REPO)
    env["INVITEBOT_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'hoa.db'}"
    return env


@pytest.mark.parametrize("key", ["k", "x" * 31, SHORT, "é" * 15 + "a"])
def test_a_key_under_32_bytes_is_refused_saying_how_to_make_one(
    clean_env: dict[str, str], key: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, secret_key=key)
    assert ADVICE in str(refused.value)
    assert "32 bytes" in str(refused.value)
    assert f"input_value='{key}'" not in str(refused.value)  # a refused key is not echoed


def test_a_short_key_from_the_environment_is_refused(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INVITEBOT_SECRET_KEY", SHORT)
    with pytest.raises(ValidationError, match="INVITEBOT_SECRET_KEY is too short") as refused:
        Settings(_env_file=None)
    assert SHORT not in str(refused.value)


@pytest.mark.parametrize("key", ["x" * 32, "é" * 16, "k" * 200])
def test_32_bytes_or_more_are_accepted(clean_env: dict[str, str], key: str) -> None:
    assert Settings(_env_file=None, secret_key=key).secret_key_bytes == key.encode()


def test_without_a_key_sqlite_gets_a_long_random_one_kept_private(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    settings = Settings(_env_file=None, database_url=clean_env["INVITEBOT_DATABASE_URL"])
    key = settings.secret_key_bytes

    assert len(key) >= 32
    kept = tmp_path / "hoa.db.secret"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    again = Settings(_env_file=None, database_url=clean_env["INVITEBOT_DATABASE_URL"])
    assert again.secret_key_bytes == key


def test_a_shortened_key_file_is_refused_not_replaced(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    kept = tmp_path / "hoa.db.secret"
    kept.write_text("abc\n")
    kept.chmod(0o600)
    settings = Settings(_env_file=None, database_url=clean_env["INVITEBOT_DATABASE_URL"])

    with pytest.raises(RuntimeError, match="too short") as refused:
        settings.secret_key_bytes  # noqa: B018
    assert ADVICE in str(refused.value)
    assert kept.read_text() == "abc\n"


def invitebot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The ``invitebot`` command, from this checkout, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-c", "from handlers.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "command",
    [("db", "upgrade"), ("admin", "community", "add", "Oak Ridge HOA"), ("serve",), ("worker",)],
)
def test_the_command_refuses_to_start_with_a_short_key(
    clean_env: dict[str, str], tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = invitebot(clean_env | {"INVITEBOT_SECRET_KEY": SHORT}, *command)

    assert result.returncode != 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "INVITEBOT_SECRET_KEY is too short" in output
    assert "secrets.token_urlsafe(32)" in output
    assert SHORT not in output
    assert "Traceback" not in output  # one line saying what to do, not pydantic's dump
    assert not (tmp_path / "hoa.db").exists() or command[0] == "db"


def test_a_newcomer_without_a_key_still_starts(clean_env: dict[str, str], tmp_path: Path) -> None:
    """Zero configuration: the board adds a community and a household (which needs the key
    for the access code) with no key set at all."""
    added = invitebot(clean_env, "admin", "community", "add", "Oak Ridge HOA")
    assert added.returncode == 0, added.stdout + added.stderr
    household = invitebot(
        clean_env,
        "admin",
        "household",
        "add",
        "--community",
        "Oak Ridge HOA",
        "--address",
        "12 Oak Lane",
        "--head-name",
        "Ana Lopez",
        "--head-contact",
        "ana@example.org",
    )
    assert household.returncode == 0, household.stdout + household.stderr
    kept = tmp_path / "hoa.db.secret"
    assert len(kept.read_bytes().strip()) >= 32
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
