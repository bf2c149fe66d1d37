"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, DateTime, TextClause, bindparam, inspect, text

import storage
from bot.domain import (
    Channel,
    Community,
    EventActor,
    Household,
    HouseholdEvent,
    HouseholdEventKind,
    InboundReceipt,
    Invitation,
    Member,
    OutboxStatus,
    PhoneStatus,
    Role,
    Route,
)
from storage import Database
from storage.database import alembic_config
from storage.mapping import RowMapper
from storage.tables import InvitationRow, metadata
from tests.storage.test_contract import T0, Seed, at, invitation, message, seed

ALEMBIC_INI = Path(storage.__file__).with_name("alembic.ini")

SKIPPED_EXPRESSION_INDEX = r".*(skipping|Skipped) .*expression-based index"


def differences(connection: Connection) -> list[Any]:
    """What autogenerate would put in a new migration, with the options ``env.py`` uses."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    with warnings.catch_warnings():
        # SQLite cannot reflect expression indexes, so autogenerate says it skips them there;
        # test_expression_indexes_exist checks them instead.
        warnings.filterwarnings("ignore", message=SKIPPED_EXPRESSION_INDEX)
        return compare_metadata(context, metadata)


def index_names(connection: Connection) -> set[str]:
    if connection.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        query = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    return {name for (name,) in connection.execute(text(query))}


def columns(connection: Connection, table: str) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns(table)}


async def downgrade(database: Database, revision: str) -> None:
    async with database.engine.connect() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


async def add_invitation_before_0010(database: Database, invite: Invitation) -> None:
    """``invite`` as a version before 0010 wrote it: no ``language`` column yet."""
    values = RowMapper(Invitation, InvitationRow).to_values(invite)
    values.pop("language")
    async with database.engine.begin() as connection:
        await connection.execute(plain_insert("invitations", values))


async def invitation_ids(database: Database) -> list[str]:
    """The invitations' ids, read as any version reads them (the models may be ahead)."""
    async with database.engine.connect() as connection:
        found = await connection.execute(text("SELECT id FROM invitations"))
        return list(found.scalars().all())


def plain_insert(table: str, values: Mapping[str, object]) -> TextClause:
    """``INSERT INTO table (...) VALUES (...)`` in SQL, as an older version of the program
    wrote its rows: no model involved. Datetimes are bound as the driver wants them."""
    statement = text(
        f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join(f':{c}' for c in values)})"
    )
    return statement.bindparams(
        *(
            bindparam(name, value, type_=DateTime(timezone=True))
            if isinstance(value, datetime)
            else bindparam(name, value)
            for name, value in values.items()
        )
    )


async def test_a_new_database_has_no_revision_until_upgraded(empty_database: Database) -> None:
    assert await empty_database.current_revision() is None
    await empty_database.upgrade()
    assert await empty_database.current_revision() == Database.head_revision() == "0010"
    await empty_database.upgrade()  # already there: nothing to do
    assert await empty_database.current_revision() == "0010"


async def test_the_migrated_schema_matches_the_models(database: Database) -> None:
    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_expression_indexes_exist(database: Database) -> None:
    expected = {index.name for table in metadata.tables.values() for index in table.indexes}
    assert {"uq_communities_lower_name", "ix_households_community_id_lower_address"} <= expected
    async with database.engine.connect() as connection:
        assert expected <= await connection.run_sync(index_names)


@pytest.mark.filterwarnings(f"ignore:{SKIPPED_EXPRESSION_INDEX}")  # SQLite's batch mode
async def test_downgrade_removes_everything_and_upgrade_rebuilds_it(database: Database) -> None:
    async with database.engine.connect() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "base"))
    assert await database.current_revision() is None
    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    assert set(tables) <= {"alembic_version"}
    await database.upgrade()
    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


def test_the_alembic_command_line_migrates_a_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    environment = {**os.environ, "INVITEBOT_DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "upgrade", "head"],
        check=True,
        capture_output=True,
        env=environment,
        cwd=tmp_path,
    )
    shown = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "-x", f"url={url}", "current"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert "0010 (head)" in shown.stdout


def test_the_migrations_render_as_postgresql_sql_offline(tmp_path: Path) -> None:
    """``alembic upgrade --sql`` writes the script a DBA can review; no database needed."""
    rendered = subprocess.run(
        [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(ALEMBIC_INI),
            "-x",
            "url=postgresql+asyncpg://reviewer@nowhere.invalid/invitebot",
            "upgrade",
            "head",
            "--sql",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout
    assert "CREATE TABLE communities" in rendered
    assert "CREATE UNIQUE INDEX uq_communities_lower_name ON communities (lower(name))" in rendered
    assert "ALTER TABLE households ADD CONSTRAINT fk_households_head_member_id_members" in rendered
    assert "ALTER TABLE outbox ADD COLUMN data JSON DEFAULT '{}' NOT NULL" in rendered
    assert (
        "ALTER TABLE invitations ADD COLUMN provider_message_id VARCHAR(255) DEFAULT '' NOT NULL"
        in rendered
    )
    assert (
        "UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001'"
        in rendered
    )
    assert "CREATE TABLE throttles" in rendered
    assert (
        "UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002'"
        in rendered
    )
    assert "CREATE TABLE household_events" in rendered
    assert (
        "CREATE INDEX ix_household_events_household_id_at_id "
        "ON household_events (household_id, at, id)" in rendered
    )
    assert (
        "UPDATE alembic_version SET version_num='0004' WHERE alembic_version.version_num = '0003'"
        in rendered
    )
    assert "ALTER TABLE members ADD COLUMN left_at TIMESTAMP WITH TIME ZONE" in rendered
    assert "CREATE INDEX ix_households_head_request_at ON households (head_request_at)" in rendered
    assert (
        "UPDATE alembic_version SET version_num='0005' WHERE alembic_version.version_num = '0004'"
        in rendered
    )
    assert "ALTER TABLE households ADD COLUMN deactivated_at TIMESTAMP WITH TIME ZONE" in rendered
    assert (
        "UPDATE alembic_version SET version_num='0006' WHERE alembic_version.version_num = '0005'"
        in rendered
    )
    assert "CREATE TABLE outbox_sequences (" in rendered
    assert (
        "ALTER TABLE communities ADD COLUMN telegram_group VARCHAR(320) DEFAULT '' NOT NULL"
        in rendered
    )
    assert (
        "UPDATE alembic_version SET version_num='0007' WHERE alembic_version.version_num = '0006'"
        in rendered
    )
    assert rendered.rstrip().endswith("COMMIT;")


async def seed_before_0005(database: Database) -> Seed:
    """:func:`seed`'s rows in plain SQL, for a database at a revision before 0006 (whose
    households and members lack columns the models have now)."""
    community = Community(name="Oak Ridge HOA", contact="board@oak.example", created_at=T0)
    household = Household(
        community_id=community.id, address="12 Oak Lane", access_code_hash="hash-of-12 Oak Lane"
    )
    head = Member(household_id=household.id, name="Ana Lopez", role=Role.HEAD, joined_at=T0)
    async with database.engine.begin() as connection:
        await connection.execute(
            plain_insert(
                "communities",
                {"id": community.id, "name": community.name, "contact": community.contact}
                | {"created_at": T0},
            )
        )
        await connection.execute(
            plain_insert(
                "households",
                {"id": household.id, "community_id": community.id, "address": household.address}
                | {"access_code_hash": household.access_code_hash}
                | {"head_name": "", "head_contact": ""},
            )
        )
        await connection.execute(
            plain_insert(
                "members",
                {"id": head.id, "household_id": household.id, "name": head.name}
                | {"role": head.role.value, "joined_at": T0},
            )
        )
    return Seed(community, household, head)


# --- 0002: SMS -----------------------------------------------------------------------------


async def test_upgrading_from_0001_keeps_the_rows_and_fills_in_the_new_columns(
    empty_database: Database,
) -> None:
    database = empty_database
    await database.upgrade("0001")
    community = Community(name="Oak Ridge HOA", contact="board@oak.example", created_at=T0)
    household = Household(community_id=community.id, address="12 Oak Lane", access_code_hash="h")
    head = Member(household_id=household.id, name="Ana Lopez", role=Role.HEAD, joined_at=T0)
    invite = invitation(Seed(community, household, head), sent_at=at(1), send_count=1)
    sent = message(
        invitation_id=invite.id, status=OutboxStatus.SENT, sent_at=at(1), provider_id="SM1"
    )
    async with database.engine.begin() as connection:
        for statement in [
            plain_insert(
                "communities",
                {"id": community.id, "name": community.name, "contact": community.contact}
                | {"created_at": T0},
            ),
            plain_insert(
                "households",
                {"id": household.id, "community_id": community.id, "address": household.address}
                | {"access_code_hash": "h", "head_name": "", "head_contact": ""},
            ),
            plain_insert(
                "members",
                {"id": head.id, "household_id": household.id, "name": head.name}
                | {"role": head.role.value, "joined_at": T0},
            ),
            plain_insert(
                "invitations",
                {
                    "id": invite.id,
                    "household_id": household.id,
                    "invited_by": head.id,
                    "method": invite.method.value,
                    "invitee_name": invite.invitee_name,
                    "contact": invite.contact,
                    "nonce": invite.nonce,
                    "expires_at": invite.expires_at,
                    "created_at": invite.created_at,
                    "status": invite.status.value,
                    "delivery_status": invite.delivery_status.value,
                    "sent_at": at(1),
                    "origin_platform": "",
                    "origin_chat_id": "",
                    "send_count": 1,
                },
            ),
            plain_insert(
                "outbox",
                {
                    "id": sent.id,
                    "channel": sent.channel.value,
                    "destination": sent.destination,
                    "body": sent.body,
                    "created_at": sent.created_at,
                    "next_attempt_at": sent.next_attempt_at,
                    "subject": "",
                    "platform": "",
                    "invitation_id": invite.id,
                    "status": sent.status.value,
                    "attempts": 0,
                    "last_error": "",
                    "sent_at": at(1),
                    "provider_id": "SM1",
                },
            ),
        ]:
            await connection.execute(statement)

    await database.upgrade("0002")

    assert await database.current_revision() == "0002"
    await database.upgrade()  # read back through today's models, which know later columns
    async with database.uow() as uow:
        got_invite = await uow.invitations.get(invite.id)
        assert got_invite is not None and got_invite.provider_message_id == ""
        assert got_invite == invite
        got_message = await uow.outbox.get(sent.id)
        assert got_message is not None and got_message.data == {}
        assert got_message == sent
        assert await uow.invitations.list_pending_for_contact(invite.contact) == [invite]
        assert await uow.outbox.get_by_provider_id("SM1") == sent
        # The new columns take new values on the old rows.
        got_invite.provider_message_id = "SM2"
        await uow.invitations.update(got_invite)
        got_message.data = {"kind": "invitation"}
        await uow.outbox.update(got_message)
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.invitations.get(invite.id) == got_invite
        assert await uow.outbox.get(sent.id) == got_message


@pytest.mark.filterwarnings(f"ignore:{SKIPPED_EXPRESSION_INDEX}")  # SQLite's batch mode
async def test_downgrading_0002_keeps_the_older_rows_and_upgrading_again_restores_the_schema(
    database: Database,
) -> None:
    async with database.uow() as uow:
        invite = invitation(await seed(uow), provider_message_id="SM9")
        await uow.invitations.add(invite)
        sent = message(invitation_id=invite.id, channel=Channel.EMAIL, data={"kind": "x"})
        await uow.outbox.add(sent)
        await uow.phones.save(PhoneStatus("+12025550199", opted_out=True, updated_at=T0))
        assert await uow.receipts.first_time(InboundReceipt("twilio", "SM0", T0))
        await uow.commit()

    await downgrade(database, "0001")

    assert await database.current_revision() == "0001"
    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert not {"phone_statuses", "inbound_receipts"} & tables
        assert "data" not in await connection.run_sync(columns, "outbox")
        assert "provider_message_id" not in await connection.run_sync(columns, "invitations")
        for table, kept in [("invitations", invite.id), ("outbox", sent.id)]:
            found = await connection.execute(text(f"SELECT id FROM {table}"))
            assert found.scalars().all() == [kept]
        # SQLite's batch mode copied both tables: their 0001 indexes must have come along.
        names = await connection.run_sync(index_names)
        assert {
            "ix_invitations_household_id_contact_status",
            "ix_invitations_invited_by_created_at",
            "ix_invitations_status_expires_at",
            "ix_outbox_destination_created_at",
            "ix_outbox_invitation_id",
            "ix_outbox_status_next_attempt_at",
            "uq_communities_lower_name",
            "ix_households_community_id_lower_address",
        } <= names
        assert "ix_invitations_contact_status" not in names
        assert "ix_outbox_provider_id" not in names

    await database.upgrade()

    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
        assert await connection.run_sync(index_names) >= {
            index.name for table in metadata.tables.values() for index in table.indexes
        }
    async with database.uow() as uow:
        assert await uow.invitations.get(invite.id) == replace(invite, provider_message_id="")
        got = await uow.outbox.get(sent.id)
        assert got is not None and got.data == {}
        assert await uow.phones.get("+12025550199") is None
        assert await uow.receipts.first_time(InboundReceipt("twilio", "SM0", T0))


# --- 0003: throttles -----------------------------------------------------------------------


async def test_upgrading_from_0002_adds_the_throttles_and_keeps_everything_else(
    empty_database: Database,
) -> None:
    database = empty_database
    await database.upgrade("0002")
    old = await seed_before_0005(database)
    invite = invitation(old)
    await add_invitation_before_0010(database, invite)
    async with database.uow() as uow:
        await uow.phones.save(PhoneStatus("+12025550199", opted_out=True, updated_at=T0))
        await uow.commit()
    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert "throttles" not in tables

    await database.upgrade()

    assert await database.current_revision() == Database.head_revision()
    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
        assert "ix_throttles_window_started_at" in await connection.run_sync(index_names)
    async with database.uow() as uow:
        assert await uow.invitations.get(invite.id) == invite
        counted = await uow.throttles.hit("page:203.0.113.7", now=T0, window=timedelta(minutes=1))
        assert counted.count == 1
        await uow.commit()


async def test_downgrading_0003_drops_only_the_throttles(database: Database) -> None:
    async with database.uow() as uow:
        invite = invitation(await seed(uow))
        await uow.invitations.add(invite)
        await uow.throttles.hit("page:203.0.113.7", now=T0, window=timedelta(minutes=1))
        await uow.commit()

    await downgrade(database, "0002")

    assert await database.current_revision() == "0002"
    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert "throttles" not in tables
        assert {"invitations", "phone_statuses", "inbound_receipts"} <= tables
    assert await invitation_ids(database) == [invite.id]

    await database.upgrade()

    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
    async with database.uow() as uow:  # upgraded again: an empty table
        counted = await uow.throttles.hit("page:203.0.113.7", now=T0, window=timedelta(minutes=1))
        assert counted.count == 1


# --- 0004: household events ----------------------------------------------------------------


async def test_upgrading_from_0003_adds_the_event_log_and_keeps_everything_else(
    empty_database: Database,
) -> None:
    database = empty_database
    await database.upgrade("0003")
    s = await seed_before_0005(database)
    invite = invitation(s)
    await add_invitation_before_0010(database, invite)
    async with database.uow() as uow:
        await uow.throttles.hit("page:203.0.113.7", now=T0, window=timedelta(minutes=1))
        await uow.commit()
    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert "household_events" not in tables

    await database.upgrade()

    assert await database.current_revision() == Database.head_revision()
    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
        assert "ix_household_events_household_id_at_id" in await connection.run_sync(index_names)
    recorded = HouseholdEvent(
        household_id=s.household.id,
        kind=HouseholdEventKind.INVITED,
        at=at(1),
        actor=EventActor.MEMBER,
        actor_member_id=s.head.id,
        actor_name=s.head.name,
        subject_invitation_id=invite.id,
        subject_name=invite.invitee_name,
        method=invite.method,
        masked_contact="+1 ••• ••• 0199",
        via="console",
        details={"new_link": "no"},
    )
    async with database.uow() as uow:
        assert await uow.invitations.get(invite.id) == invite
        counted = await uow.throttles.hit("page:203.0.113.7", now=T0, window=timedelta(minutes=1))
        assert counted.count == 2
        await uow.events.append(recorded)
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.events.list_for_household(s.household.id) == [recorded]


async def test_downgrading_0004_drops_only_the_event_log(database: Database) -> None:
    async with database.uow() as uow:
        s = await seed(uow)
        invite = invitation(s)
        await uow.invitations.add(invite)
        await uow.events.append(
            HouseholdEvent(s.household.id, HouseholdEventKind.CLAIMED, T0, EventActor.MEMBER)
        )
        await uow.commit()

    await downgrade(database, "0003")

    assert await database.current_revision() == "0003"
    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert "household_events" not in tables
        assert {"households", "invitations", "throttles"} <= tables
        names = await connection.run_sync(index_names)
        assert "ix_household_events_household_id_at_id" not in names
        assert "ix_throttles_window_started_at" in names
    assert await invitation_ids(database) == [invite.id]

    await database.upgrade()

    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
    async with database.uow() as uow:  # upgraded again: an empty log
        assert await uow.events.list_for_household(s.household.id) == []


# --- 0005: members who left, head requests --------------------------------------------------


async def test_upgrading_from_0004_keeps_every_member_current_and_no_head_request(
    empty_database: Database,
) -> None:
    database = empty_database
    await database.upgrade("0004")
    s = await seed_before_0005(database)

    await database.upgrade()

    assert await database.current_revision() == Database.head_revision()
    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
        assert "ix_households_head_request_at" in await connection.run_sync(index_names)
    async with database.uow() as uow:
        head = await uow.members.get(s.head.id)
        assert head is not None and head.left_at is None
        assert await uow.members.list_for_household(s.household.id) == [head]
        household = await uow.households.get(s.household.id)
        assert household is not None and household.head_request_member_id is None
        assert household.open_head_request(T0) is None


async def test_downgrading_0005_drops_only_its_columns(database: Database) -> None:
    async with database.uow() as uow:
        s = await seed(uow)
        invite = invitation(s)
        await uow.invitations.add(invite)
        await uow.commit()

    await downgrade(database, "0004")

    assert await database.current_revision() == "0004"
    async with database.engine.connect() as connection:
        columns = await connection.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("members")}
        )
        assert "left_at" not in columns and "household_id" in columns
        assert "ix_households_head_request_at" not in await connection.run_sync(index_names)
    assert await invitation_ids(database) == [invite.id]

    await database.upgrade()

    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_upgrading_to_0005_spends_the_codes_claimed_households_still_hold(
    empty_database: Database,
) -> None:
    database = empty_database
    await database.upgrade("0004")
    s = await seed_before_0005(database)
    async with database.engine.begin() as connection:
        await connection.execute(
            plain_insert(
                "households",
                {"id": "f" * 32, "community_id": s.community.id, "address": "3 Elm Road"}
                | {"access_code_hash": "hash-of-3 Elm Road", "head_name": "", "head_contact": ""},
            )
        )
        await connection.execute(
            text("UPDATE households SET head_member_id = :head WHERE id = :id").bindparams(
                head=s.head.id, id=s.household.id
            )
        )

    await database.upgrade()

    async with database.uow() as uow:
        claimed = await uow.households.get(s.household.id)
        unclaimed = await uow.households.get("f" * 32)
        assert claimed is not None and claimed.access_code_hash == "used:" + s.household.id
        assert await uow.households.get_by_code_hash("hash-of-12 Oak Lane") is None
        assert unclaimed is not None and unclaimed.access_code_hash == "hash-of-3 Elm Road"


# --- 0006: deactivated households ------------------------------------------------------------


async def test_upgrading_from_0005_leaves_every_household_active_and_downgrading_drops_it(
    empty_database: Database,
) -> None:
    database = empty_database
    await database.upgrade("0005")
    s = await seed_before_0005(database)
    await database.upgrade()
    assert await database.current_revision() == Database.head_revision()
    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
    async with database.uow() as uow:
        household = await uow.households.get(s.household.id)
        assert household is not None and household.deactivated_at is None
        assert household.status.value == "not activated"
        household.deactivated_at = T0
        await uow.households.update(household)
        await uow.commit()
    async with database.uow() as uow:
        again = await uow.households.get(s.household.id)
        assert again is not None and again.status.value == "inactive"

    await downgrade(database, "0005")

    async with database.engine.connect() as connection:
        assert "deactivated_at" not in await connection.run_sync(
            lambda sync: columns(sync, "households")
        )
    await database.upgrade()
    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


# --- 0007: webhooks in order ---------------------------------------------------------------


async def test_upgrading_to_0007_keeps_pending_messages_unordered_and_downgrading_drops_it(
    empty_database: Database,
) -> None:
    database = empty_database
    await database.upgrade("0006")
    pending = message()
    async with database.engine.begin() as connection:
        await connection.execute(
            plain_insert(
                "outbox",
                {
                    "id": pending.id,
                    "channel": pending.channel.value,
                    "destination": pending.destination,
                    "body": pending.body,
                    "created_at": pending.created_at,
                    "next_attempt_at": pending.next_attempt_at,
                    "subject": "",
                    "platform": "",
                    "status": pending.status.value,
                    "attempts": 0,
                    "last_error": "",
                    "provider_id": "",
                },
            )
        )
    await database.upgrade()
    assert await database.current_revision() == Database.head_revision()
    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
    async with database.uow() as uow:
        got = await uow.outbox.get(pending.id)
        assert got is not None and got.ordering_key == "" and got.sequence is None
        due = await uow.outbox.claim_due(
            now=pending.next_attempt_at,
            routes=[Route(pending.channel)],
            limit=10,
            lease_until=pending.next_attempt_at,
        )
        assert [m.id for m in due] == [pending.id]  # waits for nothing

    await downgrade(database, "0006")
    async with database.engine.connect() as connection:
        assert "ordering_key" not in await connection.run_sync(lambda sync: columns(sync, "outbox"))
    await database.upgrade()
    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


# --- 0010: languages and time zones -----------------------------------------------------------


async def test_downgrading_0010_drops_only_the_languages_and_the_zone(database: Database) -> None:
    async with database.uow() as uow:
        s = await seed(uow)
        invite = invitation(s, language="es")
        await uow.invitations.add(invite)
        await uow.commit()

    await downgrade(database, "0009")

    assert await database.current_revision() == "0009"
    async with database.engine.connect() as connection:
        for table in ("conversations", "members", "invitations"):
            assert "language" not in await connection.run_sync(columns, table)
        assert "timezone" not in await connection.run_sync(columns, "communities")
        # The expression index on community names survived (no table copy on SQLite).
        assert "uq_communities_lower_name" in await connection.run_sync(index_names)
    assert await invitation_ids(database) == [invite.id]

    await database.upgrade()

    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
    async with database.uow() as uow:
        again = await uow.invitations.get(invite.id)
    # Back in the default language: what the downgrade dropped is gone.
    assert again is not None and again.language == ""
