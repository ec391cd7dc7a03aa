"""Numbers from a scoped counter row, incremented atomically in SQL (never max()+1)."""

from __future__ import annotations

import secrets
from datetime import date

from sqlalchemy import bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from queue_server.models import ScopedSequence

PUBLIC_CODE_BYTES = 18  # 144 bits, 24 URL-safe characters


def next_value(session: Session, centre_id: int, scope: str, day: date) -> int:
    """The next number in (centre, scope, day), starting at 1. Concurrent callers each get
    a distinct value: the UPDATE takes the row lock and returns the incremented value."""
    where = {"in_centre": centre_id, "in_scope": scope, "on_day": day}
    value = session.execute(_BUMP, where).scalar_one_or_none()
    if value is not None:
        return int(value)
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    statement = insert(_TABLE).values(centre_id=centre_id, scope=scope, day=day, last_value=0)
    session.execute(statement.on_conflict_do_nothing())  # type: ignore[attr-defined]
    return int(session.execute(_BUMP, where).scalar_one())


_TABLE = ScopedSequence.__table__
_BUMP = (  # built once, with bound parameters (every issue runs it)
    update(_TABLE)
    .where(
        _TABLE.c.centre_id == bindparam("in_centre"),
        _TABLE.c.scope == bindparam("in_scope"),
        _TABLE.c.day == bindparam("on_day"),
    )
    .values(last_value=_TABLE.c.last_value + 1)
    .returning(_TABLE.c.last_value)
)


def new_public_code() -> str:
    return secrets.token_urlsafe(PUBLIC_CODE_BYTES)


def format_number(prefix: str, seq: int) -> str:
    return f"{prefix}{seq:03d}"
