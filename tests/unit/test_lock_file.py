"""requirements.lock, the deployments' lock file, and pyproject.toml cannot drift apart.

The lock is what ``docs/deployment.md`` installs (``pip install --require-hashes -r
requirements.lock``, then the wheel with ``--no-deps``): a dependency added to pyproject.toml
and not locked would be missing in production, and a pin outside pyproject's range would run
a version the code was never meant for. Regenerate it with the command in its header.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
REGENERATE = (
    "uv pip compile pyproject.toml --python-version 3.11 --python-platform linux "
    "--generate-hashes -o requirements.lock"
)
# What the lock is resolved for: CPython 3.11 on x86-64 Linux.
TARGET = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "implementation_name": "cpython",
}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(line) for line in project["dependencies"]]


def _pins() -> dict[str, Version]:
    """Each package the lock pins, by canonical name: ``name==version`` at a line's start."""
    pins: dict[str, Version] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            name = canonicalize_name(match.group(1))
            assert name not in pins, f"requirements.lock pins {name} twice"
            pins[name] = Version(match.group(2))
    return pins


def test_the_lock_says_how_to_regenerate_it() -> None:
    header = LOCK.read_text(encoding="utf-8").split("\n", 3)[:3]
    assert any(REGENERATE in line for line in header), header


def test_every_runtime_dependency_is_pinned_within_pyprojects_range() -> None:
    pins = _pins()
    problems = []
    for requirement in _runtime_requirements():
        if requirement.marker is not None and not requirement.marker.evaluate(TARGET):
            continue
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement.name} is not in requirements.lock")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(
                f"requirements.lock pins {name}=={pins[name]}, outside pyproject's "
                f"{requirement.specifier}"
            )
    assert not problems, "\n".join(problems) + f"\nregenerate it: {REGENERATE}"


def test_the_extras_asked_for_are_locked_too() -> None:
    """``uvicorn[standard]`` is there for uvloop and httptools: they must be in the lock."""
    pins = _pins()
    missing = []
    for requirement in _runtime_requirements():
        if not requirement.extras:
            continue
        # What the extra adds, from the package's own metadata (installed in the test venv).
        for line in metadata.requires(requirement.name) or []:
            needed = Requirement(line)
            if needed.marker is None:
                continue
            if any(needed.marker.evaluate({**TARGET, "extra": x}) for x in requirement.extras):
                if not needed.marker.evaluate({**TARGET, "extra": ""}):
                    if canonicalize_name(needed.name) not in pins:
                        missing.append(f"{needed.name} (from {requirement})")
    assert not missing, f"not in requirements.lock: {missing}; regenerate it: {REGENERATE}"
    assert {"uvloop", "httptools"} <= pins.keys()


def test_every_pin_carries_hashes() -> None:
    """``pip install --require-hashes`` refuses the whole file if one pin has none."""
    text = LOCK.read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    unhashed = [
        block.split("==")[0]
        for block in blocks
        if _PIN.match(block) and "--hash=sha256:" not in block
    ]
    assert not unhashed, f"pins without hashes: {unhashed}"
    assert "-e " not in text and "file://" not in text
