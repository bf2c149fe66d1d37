""".env.example lists every setting of ``handlers.settings.Settings``, once, with its default.

A line ``INVITEBOT_NAME=value`` sets a default; a commented-out ``# INVITEBOT_NAME=`` names a
setting unset by default (secrets, providers). A setting added to ``Settings`` and not to the
file, one renamed, or a default changed on one side only fails here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from handlers.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
PREFIX = Settings.model_config.get("env_prefix", "")
_LINE = re.compile(rf"^(?P<comment>#\s*)?{PREFIX}(?P<name>[A-Z0-9_]+)=(?P<value>.*)$")


def _entries() -> list[tuple[str, str, bool]]:
    """(field name, value, commented out) for each setting line, in the file's order."""
    entries = []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = _LINE.match(line.strip())
        if match:
            entries.append(
                (match["name"].lower(), match["value"].strip(), match["comment"] is not None)
            )
    return entries


def test_every_setting_is_listed_exactly_once() -> None:
    names = [name for name, _, _ in _entries()]
    fields = set(Settings.model_fields)
    twice = sorted({name for name in names if names.count(name) > 1})
    missing = sorted(fields - set(names))
    unknown = sorted(set(names) - fields)
    assert not missing, f".env.example lacks {[f'{PREFIX}{n.upper()}' for n in missing]}"
    assert not unknown, (
        f".env.example names no setting: {[f'{PREFIX}{n.upper()}' for n in unknown]}"
    )
    assert not twice, f".env.example lists these more than once: {twice}"


def test_every_value_given_is_the_default() -> None:
    wrong = []
    for name, value, commented in _entries():
        field = Settings.model_fields.get(name)
        if field is None or commented:
            continue
        if field.is_required():
            continue  # no default to compare with: any valid example will do
        # An empty value means unset (env_ignore_empty), as the default does.
        parsed = (
            field.default if value == "" else TypeAdapter(field.annotation).validate_python(value)
        )
        if parsed != field.default:
            wrong.append(f"{PREFIX}{name.upper()}={value} but the default is {field.default!r}")
    assert not wrong, "\n".join(wrong)


def test_settings_without_a_default_are_commented_out_or_given() -> None:
    """A setting whose default is None is unset: it must not be set to something here."""
    for name, value, commented in _entries():
        field = Settings.model_fields.get(name)
        if field is not None and field.default is None and not commented:
            assert value == "", f"{PREFIX}{name.upper()} is unset by default; comment it out"


def test_settings_load_from_the_file_and_change_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in list(os.environ):
        if variable.upper().startswith(PREFIX):
            monkeypatch.delenv(variable)
    loaded = Settings(_env_file=ENV_EXAMPLE)
    baseline = Settings(_env_file=None)
    assert loaded.model_dump() == baseline.model_dump()
