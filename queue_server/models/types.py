"""Column types shared by the models."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, TypeGuard

from sqlalchemy import DateTime, Enum, TypeDecorator
from sqlalchemy.engine import Dialect

MAX_ID = 2**31 - 1  # ids are 32-bit integer columns on PostgreSQL


def is_row_id(value: Any) -> TypeGuard[int]:
    """A JSON integer that can name a row: ``true`` is not 1, and an id too large for the
    column names nothing."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in Python, naive UTC in the database (same on SQLite and PostgreSQL)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)


def enum_column(enum_class: type[enum.Enum]) -> Enum:
    """Store an enum by its value, as a plain string column (portable, readable in SQL)."""
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=24,
        values_callable=lambda members: [m.value for m in members],
    )
