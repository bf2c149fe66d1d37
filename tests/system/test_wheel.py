"""The built wheel, installed as an operator installs it, works from an empty directory.

The wheel is built from a copy of the sources (the checkout stays clean), installed into a
fresh venv the way ``docs/deployment.md`` says (``pip install --require-hashes -r
requirements.lock``, then the wheel with ``--no-deps``: nothing editable, nothing from the
checkout), and each command a newcomer runs first is run from an empty directory on the
embedded defaults (SQLite in that directory, no settings): ``invitebot --version``, ``chat
--demo``, ``serve`` (``/healthz``, the invitation page) and ``worker``, each stopped by SIGTERM.

It downloads from the package index on a cold pip cache; warm, the module takes about a
minute. Select it with ``pytest tests/system/test_wheel.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
# What the wheel is built from; the rest of the checkout (tests, .venv, docs) stays out.
SOURCES = (
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "build_catalogs.py",
    "bot",
    "handlers",
    "storage",
)


@dataclass(frozen=True)
class Installed:
    venv: Path
    home: Path

    @property
    def invitebot(self) -> str:
        return str(self.venv / "bin" / "invitebot")

    def env(self) -> dict[str, str]:
        """A newcomer's environment: no INVITEBOT_* setting, no Python of the test run's."""
        keep = {"PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT", "TMPDIR"}
        env = {key: value for key, value in os.environ.items() if key in keep}
        env.update(HOME=str(self.home), COLUMNS="200", TERM="dumb", NO_COLOR="1")
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
        return env


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(command)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result


def _pip(
    *args: str, python: Path | None = None, offline: bool = False, timeout: float = 120
) -> None:
    """The test run's pip. ``offline``: from the wheelhouse only, whatever pip.conf says."""
    env = dict(os.environ)
    if offline:
        env = {k: v for k, v in env.items() if not k.startswith("PIP_")}
        env["PIP_CONFIG_FILE"] = os.devnull
    target = ["--python", str(python)] if python else []  # pip run for another interpreter
    command = [sys.executable, "-m", "pip", *target, "-q", "--disable-pip-version-check"]
    _run([*command, *args], env=env, timeout=timeout)


def _temporary_wheelhouse() -> Path:
    base = Path(tempfile.gettempdir()) / f"invitebot-wheelhouse-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    return base


def _wheelhouse(request: pytest.FixtureRequest) -> Path:
    """Every wheel requirements.lock pins (hash-checked) and the build backend, downloaded once
    per lock into pytest's cache: later runs install offline, in seconds."""
    lock = ROOT / "requirements.lock"
    build_requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"][
        "requires"
    ]
    key = hashlib.sha256(lock.read_bytes() + repr(build_requires).encode()).hexdigest()[:16]
    # pytest's cache, or (with -p no:cacheprovider) a folder of the machine's temporary
    # directory: the wheels are hash-checked on every install either way.
    cache = getattr(request.config, "cache", None)
    base = cache.mkdir("wheelhouse") if cache is not None else _temporary_wheelhouse()
    house = base / key
    if not house.is_dir():
        draft = house.with_name(f"{key}.{os.getpid()}")
        shutil.rmtree(draft, ignore_errors=True)
        binary = ["--only-binary=:all:", "-d", str(draft)]
        _pip("download", *binary, "--require-hashes", "-r", str(lock), timeout=900)
        _pip("download", *binary, *build_requires, timeout=300)
        try:
            draft.rename(house)
        except OSError:  # another run got there first
            shutil.rmtree(draft, ignore_errors=True)
    return house


@pytest.fixture(scope="module")
def installed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Installed:
    house = _wheelhouse(request)
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    source.mkdir()
    # No .mo an editable install compiled here: the wheel's build must compile its own.
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "*.mo")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    dist = base / "dist"
    local = ("--no-index", "--find-links", str(house))
    _pip("wheel", *local, "--no-deps", "-w", str(dist), str(source), offline=True)
    wheels = list(dist.glob("invitebot-*.whl"))
    assert len(wheels) == 1, wheels

    # As docs/deployment.md installs it: the lock with its hashes, then the wheel alone.
    # (--no-compile and pip from outside the venv: only to save time.)
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    into = venv / "bin" / "python"
    lock = str(ROOT / "requirements.lock")
    hashed = ("--require-hashes", "-r", lock)
    _pip("install", *local, "--no-compile", *hashed, python=into, offline=True, timeout=300)
    _pip("install", *local, "--no-compile", "--no-deps", str(wheels[0]), python=into, offline=True)
    _pip("check", python=into, offline=True)
    home = base / "home"
    home.mkdir()
    return Installed(venv=venv, home=home)


@pytest.fixture
def empty_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "empty"
    directory.mkdir()
    return directory


def test_the_installed_package_is_the_wheel_with_its_data(installed: Installed) -> None:
    """Not the checkout (no editable install), and the files that are not Python are in it."""
    script = (
        "import bot, handlers, storage, pathlib, json\n"
        "paths = {m.__name__: pathlib.Path(m.__file__).parent for m in (bot, handlers, storage)}\n"
        "found = sorted(str(p.relative_to(paths[n].parent)) for n, d in paths.items()"
        " for p in d.rglob('*') if p.is_file() and p.suffix != '.pyc')\n"
        "from importlib import metadata\n"
        "meta = metadata.metadata('invitebot')\n"
        "licenses = [str(f) for f in metadata.files('invitebot') if 'LICENSE' in f.name]\n"
        "print(json.dumps({'dirs': {n: str(d) for n, d in paths.items()}, 'files': found,"
        " 'license': meta['License-Expression'], 'license_files': licenses}))\n"
    )
    result = _run([str(installed.venv / "bin" / "python"), "-c", script], cwd=installed.home)
    report = json.loads(result.stdout)
    for directory in report["dirs"].values():
        assert Path(directory).is_relative_to(installed.venv), directory
    assert report["license"] == PROJECT["license"]
    assert report["license_files"], "the LICENSE file is not in the wheel"
    files = set(report["files"])
    for package in ("bot", "handlers", "storage"):
        assert f"{package}/py.typed" in files
    # The message catalogs: each .po as written, and the .mo the build compiled from it.
    for po in ROOT.glob("bot/locales/*/LC_MESSAGES/*.po"):
        assert str(po.relative_to(ROOT)) in files
        assert str(po.relative_to(ROOT).with_suffix(".mo")) in files
    expected = [
        path.relative_to(ROOT)
        for pattern in (
            "handlers/templates/*",
            "handlers/static/*",
            "storage/migrations/versions/*.py",
            "storage/migrations/*.py",
            "storage/migrations/*.mako",
            "storage/alembic.ini",
        )
        for path in ROOT.glob(pattern)
        if path.is_file()
    ]
    assert expected
    missing = sorted(str(path) for path in expected if str(path) not in files)
    assert not missing, f"not in the wheel: {missing}"


def test_version(installed: Installed, empty_dir: Path) -> None:
    result = _run([installed.invitebot, "--version"], cwd=empty_dir, env=installed.env())
    assert result.stdout.strip() == f"invitebot {PROJECT['version']}"


def test_chat_demo(installed: Installed, empty_dir: Path) -> None:
    result = _run(
        [installed.invitebot, "chat", "--demo"],
        cwd=empty_dir,
        env=installed.env(),
        input="/help\n/quit\n",
        timeout=60,
    )
    output = " ".join(result.stdout.split())  # rich wraps long lines
    assert "You are now the head of the household at 1 Demo Street in Demo HOA" in output
    assert "/invite: invite someone by email or text message" in output
    assert "Traceback" not in result.stdout + result.stderr
    # The embedded default: a SQLite database and its key, in the directory it ran in.
    assert (empty_dir / "invitebot.db").is_file()
    assert (empty_dir / "invitebot.db.secret").is_file()


def test_chat_demo_in_spanish_reads_the_compiled_catalog(
    installed: Installed, empty_dir: Path
) -> None:
    """The wheel's own .mo, in a terminal set to Spanish."""
    from bot import messages as msg
    from bot.language import Words

    env = installed.env() | {"LANG": "es_ES.UTF-8", "LC_ALL": "", "LANGUAGE": ""}
    result = _run(
        [installed.invitebot, "chat", "--demo"],
        cwd=empty_dir,
        env=env,
        input="/invite\n/quit\n",
        timeout=60,
    )
    output = " ".join(result.stdout.split())
    claimed = Words("es")(msg.CLAIMED, address="1 Demo Street", community="Demo HOA")
    assert " ".join(claimed.split()) in output
    assert Words("es")(msg.ASK_METHOD) in output
    assert "Traceback" not in result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return (
                response.status,
                response.headers.get("content-type", ""),
                response.read().decode(),
            )
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("content-type", ""), error.read().decode()


Start = Callable[..., tuple["subprocess.Popen[bytes]", Path]]


@pytest.fixture
def start(installed: Installed, empty_dir: Path) -> Iterator[Start]:
    """Starts an ``invitebot`` command in the empty directory, its log in a file."""
    started: list[subprocess.Popen[bytes]] = []

    def run(*args: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = empty_dir.parent / f"{args[0]}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [installed.invitebot, *args],
                cwd=empty_dir,
                env=installed.env(),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return process, log

    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _stop(process: subprocess.Popen[bytes], log: Path, *, codes: tuple[int, ...] = (0,)) -> str:
    """SIGTERM, then a clean exit: one of ``codes``, no traceback."""
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"did not stop within 30 s of SIGTERM:\n{log.read_text()}")
    text = log.read_text()
    assert code in codes, f"exit code {code}:\n{text}"
    assert "Traceback" not in text, text
    return text


def test_serve(start: Start, empty_dir: Path) -> None:
    port = _free_port()
    process, log = start("serve", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 45
    while True:
        assert process.poll() is None, f"serve exited {process.returncode}:\n{log.read_text()}"
        try:
            status, _, body = _get(f"{base}/healthz")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            status = 0
        if status == 200:
            break
        assert time.monotonic() < deadline, f"/healthz never answered 200:\n{log.read_text()}"
        time.sleep(0.2)
    assert json.loads(body)["database"] is True

    # The page renders from the installed templates: a bad link gets the friendly page.
    status, content_type, page = _get(f"{base}/i/not-a-real-invitation-token")
    assert status == 404, page
    assert content_type.startswith("text/html")
    assert "This link isn" in page and "</html>" in page

    # uvicorn shuts down, then raises the signal it caught again, as Python's default would:
    # the process ends by SIGTERM, which systemd counts as a clean stop.
    text = _stop(process, log, codes=(0, -signal.SIGTERM))
    assert "Application shutdown complete" in text
    # uvicorn[standard] came with the lock: the startup log names the fast loop and parser.
    assert "uvloop" in text and "httptools" in text, text
    assert (empty_dir / "invitebot.db").is_file()


def test_worker(start: Start) -> None:
    process, log = start("worker")
    deadline = time.monotonic() + 45
    while "worker started" not in log.read_text():
        assert process.poll() is None, f"worker exited {process.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no 'worker started':\n{log.read_text()}"
        time.sleep(0.2)
    _stop(process, log)
