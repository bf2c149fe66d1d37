"""Issue 13, point 12: the SQLite database, its ``-wal`` and ``-shm`` files and the log file
hold names, email addresses and phone numbers, so no other user of the machine may read them.

They were created 0644 (world-readable). Now they are created 0600 from the first byte (SQLite
gives ``-wal`` and ``-shm`` the main file's mode), and files left open to others by an earlier
version are tightened with a warning. Checked under the usual umask (022), on real files.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import handlers
from handlers.logs import configure_logging
from storage.database import Database

REPO = Path(handlers.__file__).resolve().parents[1]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """022, as most systems have it: what made the files world-readable."""
    before = os.umask(0o022)
    yield
    os.umask(before)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``configure_logging`` replaces the root logger's handlers: put pytest's back."""
    root = logging.getLogger()
    handlers_before, level_before = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers_before:
            handler.close()
    root.handlers[:] = handlers_before
    root.setLevel(level_before)


async def test_a_new_database_and_its_wal_and_shm_are_private(tmp_path: Path) -> None:
    file = tmp_path / "hoa.db"
    database = Database(f"sqlite+aiosqlite:///{file}")
    try:
        await database.upgrade()
        async with database.uow() as uow:  # a write, so the WAL holds something
            await uow.commit()
        companions = [file.with_name(file.name + suffix) for suffix in ("-wal", "-shm")]
        assert all(path.exists() for path in companions)
        assert {path.name: mode(path) for path in [file, *companions]} == {
            "hoa.db": 0o600,
            "hoa.db-wal": 0o600,
            "hoa.db-shm": 0o600,
        }
    finally:
        await database.dispose()


async def test_files_left_open_to_others_are_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "hoa.db"
    first = Database(f"sqlite+aiosqlite:///{file}")
    await first.upgrade()
    await first.dispose()
    file.chmod(0o644)
    wal = file.with_name(file.name + "-wal")
    wal.touch()
    wal.chmod(0o666)

    with caplog.at_level(logging.WARNING):
        again = Database(f"sqlite+aiosqlite:///{file}")
        try:
            assert await again.current_revision() == Database.head_revision()
        finally:
            await again.dispose()

    assert mode(file) == 0o640  # the group's bits are the operator's choice
    assert not mode(file) & stat.S_IRWXO
    assert "open to every user" in caplog.text and str(file) in caplog.text


def test_the_log_file_is_private(tmp_path: Path, restore_logging: None) -> None:
    log_file = tmp_path / "invitebot.log"
    configure_logging("INFO", path=log_file)
    logging.getLogger("invitebot.test").info("invited maria@example.org")

    assert mode(log_file) == 0o600
    assert "maria@example.org" not in log_file.read_text()  # written there, masked


def test_an_existing_world_readable_log_is_tightened(tmp_path: Path, restore_logging: None) -> None:
    log_file = tmp_path / "invitebot.log"
    log_file.write_text("")
    log_file.chmod(0o644)

    configure_logging("INFO", path=log_file)

    assert not mode(log_file) & stat.S_IRWXO


def test_the_terminal_chat_leaves_nothing_readable_by_others(tmp_path: Path) -> None:
    """The zero-configuration path as a newcomer runs it: ``invitebot chat --demo`` creates
    the database, its key and its log beside it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVITEBOT_")}
    env |= {"PYTHONPATH": str(REPO), "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"}
    result = subprocess.run(
        [sys.executable, "-c", "from handlers.cli import main; main()", "chat", "--demo"],
        input="/invite\n2\nMaria Ruiz\n+1 202 555 0199\n1\n/quit\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert result.returncode == 0, result.stdout + result.stderr

    created = sorted(path for path in tmp_path.iterdir() if path.name.startswith("invitebot"))
    names = [path.name for path in created]
    assert "invitebot.db" in names and "invitebot.log" in names, names
    assert {path.name: mode(path) for path in created} == {name: 0o600 for name in names}
