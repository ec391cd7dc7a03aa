"""Fixtures of the dashboard tests. A test that asks for ``tuesday`` gets the demo centre
with a simulated busy Tuesday (2025-03-11) already played and closed. The day is
played once per run (per worker) and copied into each such test's database (a template
file on SQLite, the rows themselves on PostgreSQL: ``tests.support.pg_snapshot``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flask import Flask, g
from flask_babel import refresh
from sqlalchemy.orm import Session

from queue_server.app import create_app
from queue_server.extensions import db
from queue_server.models import Centre
from queue_server.seed import SeedResult, seed_demo
from tests.conftest import PG_URL, fresh_database_url
from tests.counters.manager.simulate import TUESDAY, simulate_day
from tests.support import pg_snapshot
from tests.support.pg_snapshot import Snapshot


@pytest.fixture(autouse=True)
def _caller_per_request(request: pytest.FixtureRequest) -> None:
    """The app fixture keeps one app context open for the whole test, and Flask reuses it
    for the test client's requests, so ``g`` (where the caller, the CSRF token and the language are
    cached) would carry the first request's into the next ones. Forget it at each request, as production does."""
    if "app" not in request.fixturenames:
        return
    app: Flask = request.getfixturevalue("app")

    @app.before_request
    def _forget_caller() -> None:
        g.pop("caller", None)
        g.pop("caller_via", None)
        g.pop("csrf_token", None)
        refresh()  # the language, cached the same way


@pytest.fixture(scope="session")
def tuesday_template(
    database_template: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str | Snapshot, SeedResult, int]:
    """The Tuesday played once per run (per worker): a SQLite file, or on PostgreSQL the
    rows it left, which each test's emptied database gets back."""
    folder = tmp_path_factory.mktemp("tuesday")
    if PG_URL:
        url = fresh_database_url(database_template, folder)
    else:
        url = f"sqlite:///{folder / 'tuesday.sqlite3'}"
        shutil.copyfile(database_template, folder / "tuesday.sqlite3")
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "t", "INSTANCE_PATH": folder, "TESTING": True})
    with app.app_context():
        result = seed_demo(db.session())
        db.session.commit()
        centre = db.session.query(Centre).filter_by(code="demo").one()
        count = simulate_day(db.session(), centre, TUESDAY)
        db.session.remove()
        db.engine.dispose()
    return (pg_snapshot.take(url) if PG_URL else str(folder / "tuesday.sqlite3")), result, count


@pytest.fixture
def database_url(request: pytest.FixtureRequest, database_template: str, tmp_path: Path) -> str:
    if "tuesday" not in request.fixturenames:
        return fresh_database_url(database_template, tmp_path)
    played = request.getfixturevalue("tuesday_template")[0]
    if isinstance(played, Snapshot):
        url = fresh_database_url(database_template, tmp_path)
        pg_snapshot.put_back(url, played)
        return url
    path = tmp_path / "test.sqlite3"
    shutil.copyfile(played, path)
    return f"sqlite:///{path}"


@pytest.fixture
def demo(request: pytest.FixtureRequest, app: Flask, session: Session) -> SeedResult:
    if "tuesday" in request.fixturenames:
        return request.getfixturevalue("tuesday_template")[1]  # type: ignore[no-any-return]
    result = seed_demo(session)
    session.commit()
    return result


@pytest.fixture
def tuesday(request: pytest.FixtureRequest) -> int:
    """The number of tokens issued on the simulated Tuesday."""
    return request.getfixturevalue("tuesday_template")[2]  # type: ignore[no-any-return]
