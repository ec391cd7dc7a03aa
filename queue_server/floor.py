"""The benchmark floor: a bare route that does one insert in one transaction, served by the
same server, engine and unit of work as the real API, with no authentication, no domain
rule and no announcement. ``bench/bench_server.py`` measures every figure beside it.

Registered only when ``KHIDMAT_BENCH_FLOOR`` is set (the benchmark sets it on the server it
starts); a production server never has it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import Column, Integer, MetaData, Table, insert

from queue_server.clock import utcnow
from queue_server.extensions import db
from queue_server.unit_of_work import transactional

bp = Blueprint("bench_floor", __name__, url_prefix="/bench")

# Outside the models' metadata on purpose: no migration, no table in production.
_metadata = MetaData()
floor_rows = Table(
    "bench_floor",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("at_us", Integer, nullable=False),
)


def create_table() -> None:
    """Create the floor's table (the benchmark calls it before starting the server)."""
    _metadata.create_all(db.engine)


@bp.post("/floor")
@transactional
def floor() -> Any:
    now = utcnow()
    db.session.execute(insert(floor_rows).values(at_us=now.second * 1_000_000 + now.microsecond))
    return {"ok": True}, 201
