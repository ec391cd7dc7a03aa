"""What a PostgreSQL test database holds, kept in memory and put back: the rows of every
table (binary COPY) and where every sequence stands. A costly fixture (the simulated busy
Tuesday of the dashboard tests) is built once per worker and restored into each test's
freshly truncated database, as SQLite copies a template file."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from sqlalchemy.engine import make_url


@dataclass(frozen=True)
class Snapshot:
    rows: dict[str, bytes]  # table -> COPY ... (FORMAT binary); only tables with rows
    sequences: dict[str, int]  # sequence -> its last value


def _connect(url: str) -> psycopg.Connection:
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(plain)


def take(url: str) -> Snapshot:
    rows: dict[str, bytes] = {}
    with _connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        ]
        for table in tables:
            if conn.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}")').fetchone() == (False,):
                continue
            with conn.cursor().copy(f'COPY "{table}" TO STDOUT (FORMAT binary)') as copy:
                rows[table] = b"".join(bytes(block) for block in copy)
        sequences = {
            name: value
            for name, value in conn.execute(
                "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
            )
            if value is not None
        }
    return Snapshot(rows, sequences)


def put_back(url: str, snapshot: Snapshot) -> None:
    """Into a database whose tables are empty (``tests.conftest.fresh_database_url``)."""
    with _connect(url) as conn:
        conn.execute("SET session_replication_role = replica")  # rows in any order: no FK checks
        for table, data in snapshot.rows.items():
            with conn.cursor().copy(f'COPY "{table}" FROM STDIN (FORMAT binary)') as copy:
                copy.write(data)
        for name, value in snapshot.sequences.items():
            conn.execute("SELECT setval(%s, %s)", (name, value))
