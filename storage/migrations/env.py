"""Alembic's environment for invitebot's schema.

Two ways in:

- ``Database.upgrade()`` (:mod:`storage.database`) hands over one of its connections in
  ``config.attributes["connection"]``; the migrations run on it.
- The ``alembic`` command line (``alembic -c storage/alembic.ini upgrade head``) builds its own
  engine, with the same SQLite set-up as the application, from ``-x url=...``, else
  ``INVITEBOT_DATABASE_URL``, else ``sqlalchemy.url`` in the ini file.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlalchemy.types import TypeDecorator

from storage.database import make_engine
from storage.tables import metadata

config = context.config

if config.config_file_name is not None:
    fileConfig(config.config_file_name)


def database_url() -> str:
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("INVITEBOT_DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise RuntimeError(
            "No database to migrate: pass -x url=..., or set INVITEBOT_DATABASE_URL."
        )
    return url


def render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Renders a custom column type (:class:`storage.tables.UTCDateTime`) as the SQL type it
    stores, so that migrations import nothing from the application and never change with it.
    """
    if kind == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def configure(**options: Any) -> None:
    context.configure(
        target_metadata=metadata,
        compare_type=True,
        render_item=render_item,
        # All migrations of one upgrade in one transaction, on SQLite too: its DDL is
        # transactional once the application, not the driver, emits BEGIN.
        transactional_ddl=True,
        # SQLite alters little in place: batch mode copies the table instead.
        render_as_batch=True,
        **options,
    )


def set_sqlite_foreign_keys(connection: Connection, *, on: bool) -> None:
    """Turns SQLite's foreign key enforcement on or off, on the driver connection directly.

    A batch migration drops and re-creates a table; with enforcement on, dropping a table
    that other rows refer to fails. SQLite's own recipe for schema changes (section "Making
    Other Kinds Of Table Schema Changes" of its ALTER TABLE page) turns enforcement off
    outside the transaction, and runs ``PRAGMA foreign_key_check`` before committing.
    """
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    finally:
        cursor.close()


def run_migrations(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        set_sqlite_foreign_keys(connection, on=False)
    try:
        configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the migration broke foreign keys: {broken}")
    finally:
        if sqlite:
            set_sqlite_foreign_keys(connection, on=True)


async def run_migrations_on_new_engine(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    configure(url=database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()
elif (shared := config.attributes.get("connection")) is not None:
    run_migrations(shared)
else:
    asyncio.run(run_migrations_on_new_engine(database_url()))
