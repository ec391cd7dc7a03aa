"""Suite-wide fixtures.

Every test gets a fresh database built by the real migrations: SQLite (a copy of a
migrated template file) by default; PostgreSQL when KHIDMAT_TEST_DATABASE_URL points at
one (migrated once per run, truncated before each test). Redis tests use
KHIDMAT_TEST_REDIS_URL. A real printer is impossible everywhere.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from queue_server.actors import Actor
from queue_server.app import create_app
from queue_server.auth import staff_actor
from queue_server.extensions import db as _db
from queue_server.models import Centre, Counter, Service, Staff
from queue_server.seed import SeedResult, seed_demo
from tests.fakes.escpos_printer import forbid_real_printers

# Under pytest-xdist each worker gets its own PostgreSQL database (test_gw0, test_gw1 …,
# created beside the configured one) and its own Redis database number, so workers never
# truncate or throttle each other; pub/sub channels are named per test where they matter.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
# A write in a read fails, in the test apps and in the servers the tests start.
os.environ["KHIDMAT_STRICT_READS"] = "1"
PG_BASE_URL = os.environ.get("KHIDMAT_TEST_DATABASE_URL", "")
REDIS_BASE_URL = os.environ.get("KHIDMAT_TEST_REDIS_URL", "")


def _worker_urls() -> tuple[str, str]:
    pg, redis = PG_BASE_URL, REDIS_BASE_URL
    if not WORKER:
        return pg, redis
    number = int(WORKER.removeprefix("gw") or 0)
    if pg:
        base, _, name = pg.rpartition("/")
        pg = f"{base}/{name}_{WORKER}"
    if redis:
        base, _, db_index = redis.rpartition("/")
        redis = f"{base}/{(int(db_index or 0) + 1 + number) % 16}"
    return pg, redis


PG_URL, REDIS_URL = _worker_urls()


def _create_worker_database() -> None:
    """CREATE DATABASE test_gwN once, from a connection to the configured database."""
    from sqlalchemy.engine import make_url

    name = make_url(PG_URL).database
    engine = create_engine(PG_BASE_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long tests first, so that with several workers none is left running alone at
    the end of the run. Against PostgreSQL, only the tests that use the database under test
    run (they ask for ``database_template`` or are marked ``postgres``): the others
    (rendering, parsing, the forecast's arithmetic, SQLite-only variants …) cannot depend on
    it, and the same run's SQLite pass has run them (.ci/run runs both)."""
    if PG_URL and not config.getoption("--all-on-postgres"):
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            (kept if _uses_the_database_under_test(item) else dropped).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _uses_the_database_under_test(item: pytest.Item) -> bool:
    return "database_template" in getattr(item, "fixturenames", ()) or item.get_closest_marker("postgres") is not None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--all-on-postgres",
        action="store_true",
        help="with KHIDMAT_TEST_DATABASE_URL, run also the tests that do not use it",
    )


def pytest_report_header() -> list[str]:
    return [
        f"database: {'PostgreSQL ' + PG_URL.split('@')[-1] if PG_URL else 'SQLite'}",
        f"redis: {REDIS_URL or 'not configured'}",
    ]


def _migrate(url: str, instance: Path) -> None:
    from flask_migrate import upgrade

    app = create_app(
        {"DATABASE_URL": url, "SECRET_KEY": "migrate", "INSTANCE_PATH": instance, "TESTING": True}
    )
    with app.app_context():
        upgrade()
        _db.engine.dispose()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per run: a template SQLite file, or the PostgreSQL test database."""
    instance = tmp_path_factory.mktemp("instance-template")
    if PG_URL:
        if PG_URL != PG_BASE_URL:
            _create_worker_database()
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        _migrate(PG_URL, instance)
        return PG_URL
    path = instance / "template.sqlite3"
    _migrate(f"sqlite:///{path}", instance)
    return str(path)


def fresh_database_url(template: str, tmp_path: Path) -> str:
    if PG_URL:
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            # Nothing of an earlier test may still be connected (a server process on its
            # way out, a background thread): it would see this test's data, or deadlock
            # with the DELETE below.
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            # Emptied row by row, which on tables this small takes milliseconds where a
            # TRUNCATE of every table takes a tenth of a second; the replica role skips the
            # foreign-key and append-only triggers, as TRUNCATE does.
            tables = (
                conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"
                    )
                )
                .scalars()
                .all()
            )
            sequences = (
                conn.execute(text("SELECT sequencename FROM pg_sequences WHERE schemaname='public'"))
                .scalars()
                .all()
            )
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(";".join(f'DELETE FROM "{table}"' for table in tables)))
            conn.execute(text(";".join(f'ALTER SEQUENCE "{name}" RESTART' for name in sequences)))
        engine.dispose()
        return PG_URL
    path = tmp_path / "test.sqlite3"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> str:
    return fresh_database_url(database_template, tmp_path)


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Argon2id still, with test-sized cost: the seed hashes ten passwords per test."""
    from argon2 import PasswordHasher

    from queue_server import credentials

    original = credentials._hasher
    credentials._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    credentials._hasher = original


@pytest.fixture(autouse=True)
def _no_real_printers(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_real_printers(monkeypatch)


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    from queue_server import ratelimit

    ratelimit.reset()


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "INSTANCE_PATH": tmp_path / "instance",
        "TESTING": True,
        "WTF_CSRF_ENABLED": True,
        # every summary with its own forecast, whatever the pace of the test
        # (tests/queue_server/test_publish.py tests the screens' estimates kept for a while)
        "SCREEN_ESTIMATES_SECONDS": 0,
        # and a summary after every change (the same test checks a burst's, held back)
        "QUEUE_SUMMARY_SECONDS": 0,
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app(app_config)

    @app.before_request
    def _fresh_request_globals() -> None:
        # The fixture holds one app context for the whole test, and test-client requests
        # reuse it, so ``g`` (Babel's locale, the CSRF token) would leak between requests
        # as it never does in production, where every request gets a fresh context.
        for name in list(vars(g)):
            delattr(g, name)

    with app.app_context():
        yield app
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def session(app: Flask) -> Session:
    return _db.session  # type: ignore[return-value]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.fixture
def demo(app: Flask, session: Session) -> SeedResult:
    """The seeded demo centre, committed; its secrets in the result."""
    result = seed_demo(session)
    session.commit()
    return result


@pytest.fixture
def keys(demo: SeedResult) -> dict[str, str]:
    """username or device kind -> key."""
    out = {p["username"]: p["api_key"] for p in demo.staff}
    out.update({d["kind"]: d["key"] for d in demo.devices})
    return out


@pytest.fixture
def passwords(demo: SeedResult) -> dict[str, str]:
    return {p["username"]: p["password"] for p in demo.staff}


@pytest.fixture
def centre(demo: SeedResult, session: Session) -> Centre:
    return session.query(Centre).filter_by(code="demo").one()


@pytest.fixture
def actor_of(session: Session, demo: SeedResult) -> Callable[[str], Actor]:
    def get(username: str) -> Actor:
        return staff_actor(session.query(Staff).filter_by(username=username).one())

    return get


@pytest.fixture
def counter_no(session: Session, centre: Centre) -> Callable[[int], Counter]:
    def get(number: int) -> Counter:
        return session.query(Counter).filter_by(centre_id=centre.id, number=number).one()

    return get


@pytest.fixture
def service_code(session: Session, centre: Centre) -> Callable[[str], Service]:
    def get(code: str) -> Service:
        return session.query(Service).filter_by(centre_id=centre.id, code=code).one()

    return get


@pytest.fixture
def frozen_clock(request: pytest.FixtureRequest) -> Iterator[time_machine.Coordinates]:
    """Time stands still at the test's ``frozen_at`` mark until moved (``move_to``, ``shift``)."""
    mark = request.node.get_closest_marker("frozen_at")
    if mark is None:
        raise pytest.UsageError("frozen_clock needs @pytest.mark.frozen_at(instant) on the test or module")
    with time_machine.travel(mark.args[0], tick=False) as traveller:
        yield traveller


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# Live server and browser ------------------------------------------------------------


@pytest.fixture
def live_server(database_template: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A seeded demo centre served by a real ``khidmat serve`` subprocess (with the
    settings of the test's ``server_env`` mark, if any)."""
    from tests.support.live import LiveServer, seed

    url = fresh_database_url(database_template, tmp_path)
    instance = tmp_path / "live-instance"
    instance.mkdir()
    secrets_ = seed(url, instance)
    mark = request.node.get_closest_marker("server_env")
    server = LiveServer(url, instance, env=dict(mark.kwargs) if mark else None)
    server.keys, server.passwords = secrets_["keys"], secrets_["passwords"]
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    from tests.support.live import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """new_page(viewport=(w, h), locale=...) -> a page in a fresh browser context."""
    contexts: list[Any] = []

    def make(viewport: tuple[int, int] = (1280, 800), **kw: Any) -> Any:
        # Playwright evaluates string predicates (wait_for_function("...")) with eval, which
        # the pages' Content-Security-Policy forbids: tests bypass it unless they say
        # otherwise (tests/queue_server/test_browser_safety.py keeps it, on every page).
        kw.setdefault("bypass_csp", True)
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, **kw)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
