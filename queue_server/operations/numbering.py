"""Numbers from a scoped counter row, incremented atomically in SQL (never max()+1)."""

from __future__ import annotations

import secrets
from datetime import date

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from queue_server.models import ScopedSequence

PUBLIC_CODE_BYTES = 18  # 144 bits, 24 URL-safe characters


def next_value(session: Session, centre_id: int, scope: str, day: date) -> int:
    """The next number in (centre, scope, day), starting at 1. Concurrent callers each get
    a distinct value: the UPDATE takes the row lock and returns the incremented value."""
    table = ScopedSequence.__table__
    bump = (
        update(table)
        .where(table.c.centre_id == centre_id, table.c.scope == scope, table.c.day == day)
        .values(last_value=table.c.last_value + 1)
        .returning(table.c.last_value)
    )
    value = session.execute(bump).scalar_one_or_none()
    if value is not None:
        return int(value)
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    statement = insert(table).values(centre_id=centre_id, scope=scope, day=day, last_value=0)
    session.execute(statement.on_conflict_do_nothing())  # type: ignore[attr-defined]
    return int(session.execute(bump).scalar_one())


def new_public_code() -> str:
    return secrets.token_urlsafe(PUBLIC_CODE_BYTES)


def format_number(prefix: str, seq: int) -> str:
    return f"{prefix}{seq:03d}"
