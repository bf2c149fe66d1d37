"""What a copy of the database gives away: no working invite link, no access code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.tables import metadata
from tests.storage.databases import SQL_BACKENDS, fresh_database
from tests.unit.conftest import SECRET, World

TOKEN = re.compile(r"/i/([A-Za-z0-9_-]{43})")


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_a_dump_of_every_table_holds_no_link_and_no_code(
    backend: str, tmp_path: Path
) -> None:
    async with fresh_database(backend, tmp_path) as database:
        world = World(uow_factory=database.uow)
        code = await world.household()
        ana = world.person("ana", "Ana")
        await ana.say(f"/join {code}")
        for one_shot in ["sms Maria Ruiz +1 202 555 0199", "email Tom Ruiz tom@example.org"]:
            await ana.say(f"/invite {one_shot}")
            await ana.press("Send Invite")
        await ana.say("/household")
        await ana.press("Copy Invite Link")
        await world.deliver()
        tokens = {m for sent in world.sender.sent for m in TOKEN.findall(sent.body)}
        tokens.add(TOKEN.findall(ana.last[0].link or "")[0])
        assert len(tokens) == 2

        dump = []
        async with database.engine.connect() as connection:
            for table in metadata.sorted_tables:
                rows = (await connection.execute(select(table))).all()
                dump.append(f"{table.name}: {rows!r}")
        everything = "\n".join(dump)
        assert "outbox" in everything and "invitations" in everything
        for token in tokens:
            assert token not in everything
        for secret in [code, code.replace("-", ""), SECRET.decode()]:
            assert secret not in everything
