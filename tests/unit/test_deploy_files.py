"""deploy/: the systemd units pass ``systemd-analyze verify`` as shipped, keep their hardening,
and the reverse proxies' body limits are the app's own.

``verify`` wants each ``ExecStart=`` binary to exist, so the units are verified in a scratch
root (``--root``) holding the units unchanged under ``etc/systemd/system`` and an executable
stub at each ExecStart path. Without ``systemd-analyze`` these tests skip, unless ``CI`` is
set: then they fail.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from handlers.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted(DEPLOY.glob("*.service"))
# What to verify each unit file as (a template needs an instance).
INSTANCES = {
    "invitebot-serve@.service": "invitebot-serve@8001.service",
    "invitebot-worker@.service": "invitebot-worker@1.service",
}
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "CapabilityBoundingSet": "",
    "EnvironmentFile": "/etc/invitebot/invitebot.env",
    "StateDirectory": "invitebot",
    "DynamicUser": "yes",
}


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze") or (
        "/usr/bin/systemd-analyze" if Path("/usr/bin/systemd-analyze").exists() else None
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing (CI is set: the units must be verified)")
        pytest.skip("systemd-analyze is not installed")
    return found


def _directives(text: str) -> dict[str, list[str]]:
    """Each ``Key=value`` of a unit (all sections), every value a key was given, in order."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def _verify(unit_text: str, file_name: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` of one unit file, unchanged, in a scratch root."""
    analyze = _systemd_analyze()
    root = tmp_path / "root"
    units = root / "etc/systemd/system"
    units.mkdir(parents=True, exist_ok=True)
    for other in UNITS:  # the units it names (invitebot-migrate.service) are there too
        shutil.copyfile(other, units / other.name)
    (units / file_name).write_text(unit_text)
    for command in _directives(unit_text).get("ExecStart", []):
        binary = Path(shlex.split(command.lstrip("-@:+!"))[0])
        if not binary.is_absolute():
            continue  # verify refuses it: nothing to stand in for
        stub = root / binary.relative_to("/")
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    return subprocess.run(
        [
            analyze,
            "verify",
            f"--root={root}",
            "--man=no",
            "--generators=no",
            "--recursive-errors=no",
            INSTANCES.get(file_name, file_name),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""},
    )


def test_the_units_are_there() -> None:
    names = {unit.name for unit in UNITS}
    assert {"invitebot-serve@.service", "invitebot-worker@.service"} <= names


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_systemd_analyze_verify_passes(unit: Path, tmp_path: Path) -> None:
    result = _verify(unit.read_text(), unit.name, tmp_path)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@pytest.mark.parametrize(
    "breakage",
    [
        ("ProtectSystem=strict", "ProtectSystem=strictest"),
        ("Restart=on-failure", "Restartt=on-failure"),
        ("/opt/invitebot/venv/bin/invitebot", "opt/invitebot/venv/bin/invitebot"),
    ],
    ids=["bad value", "unknown key", "relative ExecStart"],
)
def test_verify_catches_a_broken_unit(breakage: tuple[str, str], tmp_path: Path) -> None:
    """The check above would catch a real mistake: the same unit, broken, fails it."""
    unit = DEPLOY / "invitebot-worker@.service"
    broken = unit.read_text().replace(*breakage)
    assert broken != unit.read_text()
    result = _verify(broken, unit.name, tmp_path)
    assert result.returncode != 0 or result.stderr.strip()


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_the_units_are_hardened(unit: Path) -> None:
    directives = _directives(unit.read_text())
    for key, value in HARDENING.items():
        assert value in directives.get(key, []), f"{unit.name}: {key}={value} expected"
    assert "@system-service" in directives.get("SystemCallFilter", [])
    exec_start = directives["ExecStart"]
    assert len(exec_start) == 1 and exec_start[0].startswith("/opt/invitebot/venv/bin/invitebot ")
    if directives.get("Type") != ["oneshot"]:
        assert directives.get("Restart") == ["on-failure"] and directives.get("RestartSec")
        # Stopping waits for the drain: a worker's batch ends within its outbox lease.
        stop = int(directives["TimeoutStopSec"][0])
        assert stop >= 30
        if "worker" in unit.name:
            assert stop > Settings.model_fields["outbox_lease_seconds"].default


def test_serve_and_worker_wait_for_the_migrations() -> None:
    for name in ("invitebot-serve@.service", "invitebot-worker@.service"):
        directives = _directives((DEPLOY / name).read_text())
        assert "invitebot-migrate.service" in " ".join(directives["After"])
        assert "invitebot-migrate.service" in " ".join(directives["Wants"])
    migrate = _directives((DEPLOY / "invitebot-migrate.service").read_text())
    assert migrate["ExecStart"] == ["/opt/invitebot/venv/bin/invitebot db upgrade"]


def _app_body_limit() -> int:
    """The largest body ``invitebot serve`` reads on any route, by default."""
    fields = Settings.model_fields
    return max(fields["max_form_body_bytes"].default, fields["max_json_body_bytes"].default)


_NGINX_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
# Caddy reads sizes as go-humanize does: KB = 1000, KiB = 1024.
_CADDY_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}


def test_nginx_body_limit_is_the_apps() -> None:
    text = (DEPLOY / "nginx.conf").read_text()
    sizes = re.findall(r"^\s*client_max_body_size\s+(\d+)([kKmMgG]?)\s*;", text, re.MULTILINE)
    assert len(sizes) == 1, sizes
    number, unit = sizes[0]
    assert int(number) * _NGINX_UNITS[unit.lower()] == _app_body_limit()


def test_caddy_body_limit_is_the_apps() -> None:
    text = (DEPLOY / "Caddyfile").read_text()
    sizes = re.findall(r"^\s*max_size\s+(\d+)\s*([A-Za-z]*)\s*$", text, re.MULTILINE)
    assert len(sizes) == 1, sizes
    number, unit = sizes[0]
    assert int(number) * _CADDY_UNITS[unit.lower()] == _app_body_limit()


def test_the_proxies_forward_to_the_serve_units_ports() -> None:
    """Both proxies send to the ports the docs' serve instances listen on, and keep
    /metrics inside."""
    nginx = (DEPLOY / "nginx.conf").read_text()
    caddy = (DEPLOY / "Caddyfile").read_text()
    for port in (8001, 8002):
        assert f"server 127.0.0.1:{port}" in nginx
        assert f"127.0.0.1:{port}" in caddy
    assert "location = /metrics" in nginx and "@metrics path /metrics" in caddy
    assert "$proxy_add_x_forwarded_for" in nginx
    assert "health_uri /healthz" in caddy


def test_nginx_accepts_the_file(tmp_path: Path) -> None:
    """``nginx -t`` on deploy/nginx.conf inside an ``http`` block, with throwaway certificates
    in place of Let's Encrypt's (skipped where nginx or openssl is not installed)."""
    nginx, openssl = shutil.which("nginx", path="/usr/sbin:/usr/bin"), shutil.which("openssl")
    if nginx is None or openssl is None:
        # .ci/run installs both; on a developer's machine without them the check is skipped.
        if os.environ.get("CI"):
            pytest.fail("nginx or openssl is not installed (apt-get install nginx-light openssl)")
        pytest.skip("nginx or openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    certificate = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=t"]
    subprocess.run(
        [openssl, *certificate, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    site = (DEPLOY / "nginx.conf").read_text()
    site = re.sub(r"/etc/letsencrypt/live/[^;]*/fullchain\.pem", str(cert), site)
    site = re.sub(r"/etc/letsencrypt/live/[^;]*/privkey\.pem", str(key), site)
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "logs").mkdir()
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path};\n"
        f"  include {tmp_path}/site.conf;\n}}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-e", "stderr", "-c", str(main)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
