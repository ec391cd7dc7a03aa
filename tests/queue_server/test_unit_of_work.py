"""One unit of work per entry point (issue 11): a transaction ends only in
``queue_server/unit_of_work.py``. Views, socket handlers, commands and background work
commit through ``run_in_transaction``/``unit_of_work``, end their reads with ``reading``
or ``end_reading``, and nest with ``savepoint``."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.auth import AuditedLoginRefusal
from queue_server.errors import ValidationFailed
from queue_server.extensions import db
from queue_server.models import Centre
from queue_server.unit_of_work import end_reading, reading, run_in_transaction, savepoint

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("queue_server", "counters", "kiosk", "display")
ENDS_A_TRANSACTION = {"commit", "rollback", "begin_nested"}


def transaction_ends(path: Path) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ENDS_A_TRANSACTION
    ]


def test_no_transaction_is_ended_outside_the_unit_of_work() -> None:
    scanned, found = 0, []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            if name == "queue_server/unit_of_work.py":
                continue
            scanned += 1
            found += [f"{name}:{line}" for line in transaction_ends(path)]
    assert scanned > 50, "the scan found the modules"
    assert found == [], f"commit/rollback by hand (use queue_server.unit_of_work): {found}"


def test_the_scan_sees_a_commit_by_hand(tmp_path: Path) -> None:
    module = tmp_path / "view.py"
    module.write_text("def view(s):\n    s.add(1)\n    s.commit()\n    db.session.rollback()\n")
    assert transaction_ends(module) == [3, 4]


def _name(session: Session, centre_id: int) -> str:
    with reading(session):
        return session.scalars(select(Centre.name_en).where(Centre.id == centre_id)).one()


def test_a_refusal_undoes_the_work_but_a_recorded_one_keeps_it(
    app: Flask, session: Session, centre: Centre
) -> None:
    centre_id = centre.id

    def rename_then_refuse(name: str, refusal: Exception) -> None:
        def work(s: Session) -> None:
            s.get_one(Centre, centre_id).name_en = name
            s.flush()
            raise refusal

        with pytest.raises(type(refusal)):
            run_in_transaction(work)

    before = _name(session, centre_id)
    rename_then_refuse("Undone", ValidationFailed("no"))
    assert _name(session, centre_id) == before

    rename_then_refuse("Kept", AuditedLoginRefusal("Wrong username or password."))
    assert _name(session, centre_id) == "Kept"


def test_a_savepoint_is_undone_alone(app: Flask, session: Session, centre: Centre) -> None:
    centre_id = centre.id

    def refused_row(s: Session) -> None:
        with savepoint(s):
            s.get_one(Centre, centre_id).name_en = "Inner"
            s.flush()
            raise ValidationFailed("this row is refused")

    def work(s: Session) -> None:
        s.get_one(Centre, centre_id).name_en = "Outer"
        with pytest.raises(ValidationFailed):
            refused_row(s)

    run_in_transaction(work)
    assert _name(session, centre_id) == "Outer"


def test_a_reading_unit_holds_no_write_lock_and_ends_its_transaction(
    app: Flask, session: Session, centre: Centre
) -> None:
    centre_id = centre.id
    end_reading()  # the fixtures' own transaction
    wrote = threading.Event()

    def writer() -> None:
        with app.app_context():
            run_in_transaction(lambda s: setattr(s.get(Centre, centre_id), "name_en", "Written"))
            db.session.remove()
            wrote.set()

    with reading() as s:
        seen = s.scalars(select(Centre.name_en).where(Centre.id == centre_id)).one()
        thread = threading.Thread(target=writer)
        thread.start()
        assert wrote.wait(30), "a write waited for a reader"
        assert s.in_transaction()
    thread.join()
    assert seen != "Written"
    assert not db.session().in_transaction()
    assert _name(session, centre_id) == "Written"
