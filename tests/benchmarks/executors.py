"""The PostgreSQL fast path against SQLAlchemy's execution, statement by statement.

    .venv/bin/python -m tests.benchmarks.executors [--url URL] [--repeats N]

Runs on a table of its own (created in the database ``--url`` names, default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``, dropped at the end) through
:func:`storage.executors.open_connection`, the way a unit of work does, once with the fast
path (:class:`~storage.executors.AsyncpgConnection`) and once without
(:class:`~storage.executors.SqlAlchemyConnection`), and prints for each:

- CPU per statement: this process's CPU time (``time.process_time``) for a one-row ``SELECT``
  by primary key, built once as the repositories build theirs, run ``--statements`` times in
  one transaction, divided by that count;
- a transaction of eight statements (four one-row ``SELECT`` and four one-row ``UPDATE``,
  then ``COMMIT``, from taking the pooled connection to giving it back): wall time and CPU;
- for scale, the same ``SELECT`` through asyncpg alone (a prepared statement).

Each figure is the median of ``--repeats`` measurements; the two paths take turns within
each repeat, so a machine getting busier slows both alike. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import uuid
from dataclasses import dataclass, field

import asyncpg
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import make_engine
from storage.executors import BUILT_ONCE, open_connection

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
ROWS = 64
PATHS = {"fast path (asyncpg)": True, "SQLAlchemy execution": False}


@dataclass
class Figures:
    statement_cpu_us: list[float] = field(default_factory=list)
    transaction_wall_ms: list[float] = field(default_factory=list)
    transaction_cpu_ms: list[float] = field(default_factory=list)


def _table(name: str) -> Table:
    return Table(
        name,
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("name", String(64), nullable=False),
        Column("hits", Integer, nullable=False),
    )


class Bench:
    def __init__(self, engine: AsyncEngine, table: Table) -> None:
        self.engine = engine
        once = {BUILT_ONCE: True}
        self.select = (
            select(table.c.id, table.c.name, table.c.hits)
            .where(table.c.id == bindparam("id"))
            .execution_options(**once)
        )
        self.update = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(hits=table.c.hits + 1)
            .execution_options(**once)
        )

    async def statements(self, fast_path: bool, count: int) -> float:
        """CPU microseconds per one-row SELECT, ``count`` of them in one transaction."""
        connection = await open_connection(self.engine, fast_path=fast_path)
        try:
            started = time.process_time()
            for n in range(count):
                rows = await connection.execute(self.select, {"id": n % ROWS})
                assert rows.first() is not None
            spent = time.process_time() - started
            await connection.commit()
        finally:
            await connection.close()
        return spent / count * 1e6

    async def transaction(self, fast_path: bool, first: int) -> tuple[float, float]:
        """Wall and CPU milliseconds of one transaction of eight statements."""
        wall, cpu = time.perf_counter(), time.process_time()
        connection = await open_connection(self.engine, fast_path=fast_path)
        try:
            for n in range(4):
                key = (first + n) % ROWS
                rows = await connection.execute(self.select, {"id": key})
                assert rows.first() is not None
                assert (await connection.execute(self.update, {"row_id": key})).rowcount == 1
            await connection.commit()
        finally:
            await connection.close()
        return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


async def _asyncpg_alone(url: str, table: str, count: int, repeats: int) -> float:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        statement = await connection.prepare(f"SELECT id, name, hits FROM {table} WHERE id = $1")
        figures = []
        for _ in range(repeats):
            async with connection.transaction():
                started = time.process_time()
                for n in range(count):
                    assert await statement.fetchrow(n % ROWS) is not None
                figures.append((time.process_time() - started) / count * 1e6)
        return statistics.median(figures)
    finally:
        await connection.close()


async def run(url: str, *, repeats: int, statements: int, transactions: int) -> None:
    engine = make_engine(url, pool_size=1)
    name = f"bench_executors_{uuid.uuid4().hex[:12]}"
    table = _table(name)
    async with engine.begin() as connection:
        await connection.run_sync(table.metadata.create_all)
        await connection.execute(
            table.insert(), [{"id": n, "name": f"row {n}", "hits": 0} for n in range(ROWS)]
        )
    try:
        bench = Bench(engine, table)
        results = {label: Figures() for label in PATHS}
        order = list(PATHS.items())
        for fast_path in PATHS.values():  # warm up: pool, prepared statements, caches
            await bench.statements(fast_path, 200)
            for n in range(50):
                await bench.transaction(fast_path, n)
        gc.collect()
        for repeat in range(repeats):
            for label, fast_path in order if repeat % 2 == 0 else order[::-1]:
                figures = results[label]
                figures.statement_cpu_us.append(await bench.statements(fast_path, statements))
                for n in range(transactions):
                    wall, cpu = await bench.transaction(fast_path, n)
                    figures.transaction_wall_ms.append(wall)
                    figures.transaction_cpu_ms.append(cpu)
        alone = await _asyncpg_alone(url, name, statements, repeats)
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
        await engine.dispose()

    print(f"PostgreSQL at {make_url(url).render_as_string(hide_password=True)}")
    print(
        f"medians of {repeats} repeats: CPU per one-row SELECT over {statements} statements "
        f"in a transaction; {repeats * transactions} transactions of eight statements"
    )
    print(f"{'':24} {'CPU/statement':>14} {'8-stmt txn wall':>16} {'8-stmt txn CPU':>15}")
    for label, figures in results.items():
        print(
            f"{label:24} {statistics.median(figures.statement_cpu_us):11.1f} µs"
            f" {statistics.median(figures.transaction_wall_ms):13.3f} ms"
            f" {statistics.median(figures.transaction_cpu_ms):12.3f} ms"
        )
    print(f"{'asyncpg alone':24} {alone:11.1f} µs")
    fast, plain = (results[label] for label in PATHS)
    for title, attribute in (
        ("CPU per statement", "statement_cpu_us"),
        ("transaction wall time", "transaction_wall_ms"),
        ("transaction CPU", "transaction_cpu_ms"),
    ):
        ratio = statistics.median(getattr(plain, attribute)) / statistics.median(
            getattr(fast, attribute)
        )
        print(f"SQLAlchemy execution / fast path, {title}: {ratio:.2f}×")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", default=DEFAULT_URL, help="a postgresql+asyncpg:// URL")
    parser.add_argument("--repeats", type=int, default=21, help="measurements per figure")
    parser.add_argument("--statements", type=int, default=2000, help="SELECTs per CPU measurement")
    parser.add_argument(
        "--transactions", type=int, default=200, help="transactions per repeat and path"
    )
    args = parser.parse_args(argv)
    asyncio.run(
        run(
            args.url,
            repeats=args.repeats,
            statements=args.statements,
            transactions=args.transactions,
        )
    )


if __name__ == "__main__":
    main()
