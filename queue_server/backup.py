"""``khidmat backup`` and ``khidmat restore``: the whole database to one file and back.

SQLite is copied with its online backup API, page by page from a consistent snapshot,
while the server keeps serving (a plain file copy of a WAL database can miss what is still
in the WAL). PostgreSQL is dumped by ``pg_dump`` in its custom format and restored by
``pg_restore`` in one transaction, so a failed restore leaves the database as it was.
The signing key and the checkpoint log live in the instance folder, not in the database:
back that folder up too (see the README's operations section).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

REQUIRED_TABLES = ("events", "event_chain_heads", "tokens", "alembic_version")


class BackupError(Exception):
    """The backup or restore did not happen; the message says why."""


def default_name(url: str, folder: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    suffix = "sqlite3" if is_sqlite(url) else "pgdump"
    return folder / f"khidmat-{stamp}.{suffix}"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("the database is in memory: nothing to back up")
    return Path(database)


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as pg_dump understands it (no +driver)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def backup(url: str, output: Path) -> Path:
    """Write the whole database to ``output``; refuse to overwrite a file."""
    if output.exists():
        raise BackupError(f"{output} exists already")
    output.parent.mkdir(parents=True, exist_ok=True)
    if is_sqlite(url):
        source = sqlite3.connect(f"file:{sqlite_path(url)}?mode=ro", uri=True)
        target = sqlite3.connect(output)
        try:
            with target:
                source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            target.close()
            source.close()
        check_sqlite_file(output)
    else:
        _run(["pg_dump", "--format=custom", "--no-owner", f"--file={output}", f"--dbname={libpq_url(url)}"])
    os.chmod(output, 0o600)  # it holds staff password hashes and citizens' requests
    return output


def restore(url: str, source: Path) -> None:
    """Replace the database's whole content by a backup's. Stop the server first."""
    if not source.is_file():
        raise BackupError(f"{source} is not a file")
    if is_sqlite(url):
        check_sqlite_file(source)
        backup_conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        live = sqlite3.connect(sqlite_path(url))
        try:
            with live:
                backup_conn.backup(live)
            result = live.execute("PRAGMA integrity_check").fetchone()
        finally:
            live.close()
            backup_conn.close()
        if not result or result[0] != "ok":
            raise BackupError(f"the restored database fails its integrity check: {result}")
    else:
        _run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--exit-on-error",
                f"--dbname={libpq_url(url)}",
                str(source),
            ]
        )


def check_sqlite_file(path: Path) -> None:
    """Refuse a file that is not a sound Khidmat SQLite database."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchone()
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not an SQLite database: {exc}") from exc
    if not result or result[0] != "ok":
        raise BackupError(f"{path} fails its integrity check: {result}")
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise BackupError(f"{path} is not a Khidmat database (no {', '.join(missing)})")


def _run(command: list[str]) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed (Debian: postgresql-client)")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-500:]}")
