"""``invitebot chat`` run for real, as a person would: a process, typed lines, the screen."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import messages as msg
from bot.language import Words

INVITEBOT = Path(sys.executable).parent / "invitebot"
LINK = re.compile(r"http://localhost:8000/i/[A-Za-z0-9_-]{43}")
EXPIRES = datetime(2000, 1, 1, tzinfo=UTC)
"""Any time: the assertions read the sentence before the expiry."""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    locale = ("LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES")
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("INVITEBOT_") and k not in locale
    }
    return clean | {
        "INVITEBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
        "COLUMNS": "200",
        "PYTHONIOENCODING": "utf-8",
        "LANG": "C.UTF-8",  # a terminal that names no language: English
    }


def chat(env: dict[str, str], *args: str, typed: list[str], cwd: Path) -> str:
    result = subprocess.run(
        [str(INVITEBOT), "chat", *args],
        input="\n".join(typed) + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_demo_invite_by_sms_with_numbered_choices(env: dict[str, str], tmp_path: Path) -> None:
    screen = chat(
        env,
        "--demo",
        "--user",
        "ana",
        "--name",
        "Ana Lopez",
        typed=["/invite", "2", "Maria Ruiz", "+1 202 555 0199", "1", "1", "/household"],
        cwd=tmp_path,
    )
    assert "You are now the head of the household at 1 Demo Street in Demo HOA" in screen
    assert "[1] Email" in screen and "[2] SMS Text" in screen
    assert "What is Maria Ruiz's mobile phone number?" in screen
    assert "Ready to send this invitation?" in screen and "[1] Send Invite" in screen
    assert "Invitation sent to Maria Ruiz by SMS Text" in screen
    # The SMS is delivered to the console, since no provider is configured.
    assert (
        "SMS to +1 202-555-0199 (console delivery)" in screen or "SMS to +1 202 555 0199" in screen
    )
    assert "Reply JOIN" in screen and "DECLINE to decline" in screen
    assert LINK.search(screen)
    assert "Maria Ruiz · SMS Text · +1 ••• ••• 0199" in screen
    assert "[1] History" in screen and "[2] Rename" in screen  # the head's own card first
    assert "[3] Copy Invite Link" in screen
    log = (tmp_path / "invitebot.log").read_text()
    assert "console delivery of outbox" in log


def test_a_terminal_set_to_spanish_chats_in_spanish(env: dict[str, str], tmp_path: Path) -> None:
    es = Words("es")
    screen = chat(
        env | {"LANG": "es_MX.UTF-8"},
        "--demo",
        "--user",
        "ana",
        "--name",
        "Ana López",
        typed=["/invite", "2", "María Ruiz", "+1 202 555 0199", "1", "/household"],
        cwd=tmp_path,
    )
    assert es(msg.CLAIMED, address="1 Demo Street", community="Demo HOA") in screen
    assert es(msg.ASK_METHOD) in screen and es(msg.ASK_METHOD) != msg.ASK_METHOD
    assert f"[1] {es(msg.BTN_EMAIL)}" in screen and f"[2] {es(msg.BTN_SMS)}" in screen
    assert f"[1] {es(msg.BTN_SEND)}" in screen
    sent = es(msg.SENT, name="María Ruiz", method=msg.BTN_SMS, expires=EXPIRES)
    assert sent.split(". ")[0] in screen  # the sentence before the expiry
    assert "UNIRME" in screen and "Reply JOIN" not in screen  # the text the invitee gets
    assert f"[3] {es(msg.BTN_COPY)}" in screen


def test_two_people_in_two_terminals(env: dict[str, str], tmp_path: Path) -> None:
    screen = chat(
        env,
        "--demo",
        "--user",
        "ana",
        typed=["/invite email Maria Ruiz maria@example.org", "Send Invite"],
        cwd=tmp_path,
    )
    link = LINK.search(screen)
    assert link, screen
    maria = chat(env, "--user", "maria", typed=[f"/join {link.group(0)}"], cwd=tmp_path)
    assert "Welcome, Maria Ruiz! You are now a member of the household at 1 Demo Street" in maria
    assert "Notification" not in maria  # the head's notification is not shown to Maria

    ana = chat(env, "--user", "ana", typed=["/household"], cwd=tmp_path)
    assert "Maria Ruiz accepted your invitation" in ana
    assert "Maria Ruiz · m•••@example.org" in ana


def test_quitting_mid_invite_resumes_at_the_same_question(
    env: dict[str, str], tmp_path: Path
) -> None:
    chat(env, "--demo", "--user", "ana", typed=["/invite", "SMS Text", "Maria Ruiz"], cwd=tmp_path)
    screen = chat(env, "--user", "ana", typed=["+1 202 555 0199", "Send Invite"], cwd=tmp_path)
    assert screen.index("What is Maria Ruiz's mobile phone number?") < screen.index("Ready to send")
    assert "Invitation sent to Maria Ruiz" in screen


def test_killed_mid_invite_resumes_too(env: dict[str, str], tmp_path: Path) -> None:
    chat(env, "--demo", "--user", "ana", typed=[], cwd=tmp_path)
    process = subprocess.Popen(
        [str(INVITEBOT), "chat", "--user", "ana"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert process.stdin and process.stdout
    process.stdin.write("/invite\n2\n")
    process.stdin.flush()
    for line in process.stdout:
        if "full name" in line:
            break
    process.kill()
    process.wait(timeout=10)
    screen = chat(env, "--user", "ana", typed=[], cwd=tmp_path)
    assert "What is the member's full name?" in screen


def test_odd_input_gets_friendly_answers(env: dict[str, str], tmp_path: Path) -> None:
    screen = chat(
        env,
        "--user",
        "zed",
        typed=[
            "/frobnicate",
            "hello",
            "[bold red]markup[/]",
            "/join 1234",
            "\x1b[31m",
            "🙂" * 5000,
        ],
        cwd=tmp_path,
    )
    assert "I don't know the command /frobnicate" in screen
    assert "[bold red]markup[/]" in screen  # shown as typed, never interpreted
    assert "doesn't look like an access code" in screen
    assert "Traceback" not in screen


def test_the_whole_sms_flow_in_two_terminals(env: dict[str, str], tmp_path: Path) -> None:
    """The head invites by SMS in one terminal; the invitee answers with `invitebot sms-reply`."""
    chat(
        env,
        "--demo",
        "--user",
        "ana",
        typed=["/invite sms Maria Ruiz (202) 555-0199", "1"],
        cwd=tmp_path,
    )

    def sms_reply(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(INVITEBOT), "sms-reply", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )

    bad = sms_reply("--from", "12", "JOIN")
    assert bad.returncode == 2 and "too short" in bad.stderr
    hint = sms_reply("--from", "+1 202 555 0199", "what?")
    assert "Reply JOIN to accept" in hint.stdout
    joined = sms_reply("--from", "+1 202 555 0199", "join")
    assert joined.returncode == 0, joined.stderr
    assert (
        "Welcome, Maria Ruiz! You are now a member of the household at 1 Demo Street"
        in joined.stdout
    )
    ana = chat(env, "--user", "ana", typed=["/household"], cwd=tmp_path)
    assert "Maria Ruiz accepted your invitation" in ana
    assert "Maria Ruiz · +1 ••• ••• 0199" in ana


def test_hand_over_rename_remove_and_history_in_two_terminals(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Issue 14 in the console: buttons are typed by label (or number), and each person sees
    the notices meant for them when their terminal runs."""
    screen = chat(
        env,
        "--demo",
        "--user",
        "ana",
        "--name",
        "Ana Lopez",
        typed=["/invite email Maria Ruiz maria@example.org", "Send Invite"],
        cwd=tmp_path,
    )
    link = LINK.search(screen)
    assert link, screen
    chat(env, "--user", "maria", typed=[f"/join {link.group(0)}"], cwd=tmp_path)

    ana = chat(env, "--user", "ana", typed=["/household", "Make head"], cwd=tmp_path)
    assert "[1] History" in ana and "Make head" in ana and "Remove" in ana
    assert "Asked Maria Ruiz to become head of 1 Demo Street" in ana

    maria = chat(env, "--user", "maria", typed=["/household", "Accept"], cwd=tmp_path)
    assert "Ana Lopez asks you to become head of household at 1 Demo Street" in maria
    assert "You are now the head of household at 1 Demo Street" in maria

    maria = chat(
        env,
        "--user",
        "maria",
        typed=["/household", "Rename", "María Ruiz", "/household", "Remove", "Yes, remove"],
        cwd=tmp_path,
    )
    assert "Renamed Maria Ruiz to María Ruiz" in maria
    assert "Remove Ana Lopez from 1 Demo Street?" in maria
    assert "Ana Lopez is no longer a member of 1 Demo Street" in maria

    ana = chat(env, "--user", "ana", typed=["/household"], cwd=tmp_path)
    assert "Maria Ruiz accepted: they are now the head of 1 Demo Street" in ana
    assert "María Ruiz removed you from the household at 1 Demo Street" in ana
    assert "You are not part of a household yet" in ana

    maria = chat(env, "--user", "maria", typed=["/household history"], cwd=tmp_path)
    assert "María Ruiz removed Ana Lopez." in maria
    assert "María Ruiz renamed Maria Ruiz to María Ruiz." in maria
    # Each event keeps the names as they were when it happened.
    assert "Ana Lopez handed the head role to Maria Ruiz." in maria
    assert maria.index("removed Ana Lopez") < maria.index("handed the head role")


def test_decline_the_head_role_then_leave_in_two_terminals(
    env: dict[str, str], tmp_path: Path
) -> None:
    screen = chat(
        env,
        "--demo",
        "--user",
        "ana",
        "--name",
        "Ana Lopez",
        typed=["/invite email Maria Ruiz maria@example.org", "Send Invite"],
        cwd=tmp_path,
    )
    link = LINK.search(screen)
    assert link, screen
    chat(env, "--user", "maria", typed=[f"/join {link.group(0)}"], cwd=tmp_path)
    chat(env, "--user", "ana", typed=["/household", "Make head"], cwd=tmp_path)

    maria = chat(
        env,
        "--user",
        "maria",
        typed=["/household", "Decline", "/household", "Leave household", "Yes, leave"],
        cwd=tmp_path,
    )
    assert "You declined to become head of 1 Demo Street; Ana Lopez stays head" in maria
    assert "[1] Leave household" in maria
    assert "You have left the household at 1 Demo Street" in maria

    ana = chat(env, "--user", "ana", typed=["/household"], cwd=tmp_path)
    assert "Maria Ruiz declined to become head of 1 Demo Street; you stay head" in ana
    assert "Maria Ruiz has left your household at 1 Demo Street" in ana
    assert "• Maria Ruiz" not in ana

    sam = chat(env, "--user", "sam", typed=["/household history", "/household leave"], cwd=tmp_path)
    assert sam.count("You are not part of a household yet") == 2
