"""One unit of work per entry point: an HTTP request, a socket event, a CLI command.

The wrapper commits when the work succeeds and rolls back when it raises; after-commit
side effects (queue_server.publish) are released by the commit. A transaction that lost a
race on PostgreSQL (deadlock, serialization failure) is retried from the start, which is
safe because nothing leaves the process before the commit.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import Flask, request
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, SessionTransaction

from queue_server import database
from queue_server.errors import N_, Conflict, DomainError
from queue_server.extensions import db
from queue_server.models import Centre, Service

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRYABLE_PGCODES = {"40001", "40P01"}
ATTEMPTS = 4


class Busy(DomainError):
    status = 503
    code = "busy"


class DatabaseUnavailable(DomainError):
    """The database cannot be reached (down, restarting, network cut): nothing was saved."""

    status = 503
    code = "database_unavailable"


class StorageFull(DomainError):
    """The database's disk is full: nothing was saved."""

    status = 503
    code = "storage_full"


def database_trouble(exc: DBAPIError) -> DomainError | None:
    """The domain error for a database that is gone or full, or None for anything else."""
    text = str(exc.orig).lower()
    if "database or disk is full" in text or "no space left" in text or "could not extend file" in text:
        return StorageFull(N_("The server's disk is full: nothing was saved. Tell the administrator."))
    if exc.connection_invalidated or (isinstance(exc, (OperationalError, InterfaceError)) and not _is_lock(text)):
        return DatabaseUnavailable(N_("The database cannot be reached: try again in a moment."))
    return None


def noted_trouble(exc: DBAPIError) -> DomainError | None:
    """``database_trouble``, and an unreachable database is told to the outage listeners."""
    trouble = database_trouble(exc)
    if isinstance(trouble, DatabaseUnavailable):
        for listener in _outage_listeners:
            listener()
    return trouble


_outage_listeners: list[Callable[[], None]] = []


def on_database_unavailable(listener: Callable[[], None]) -> None:
    """Call ``listener`` (in the app context) whenever a unit of work finds the database
    unreachable; ``queue_server.outage`` tells the screens. Registering twice is once."""
    if listener not in _outage_listeners:
        _outage_listeners.append(listener)


def _is_lock(text: str) -> bool:
    return "locked" in text or "deadlock" in text or "could not serialize" in text


def _is_retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in RETRYABLE_PGCODES


@contextmanager
def unit_of_work(session: Session | None = None) -> Iterator[Session]:
    """The one place a transaction ends: committed when the work succeeds (or is a
    ``recorded`` refusal), rolled back when it raises anything else. Inside a read (a GET
    request) it ends the read first, so that it begins as a writer."""
    session = session or db.session()
    with contextlib.ExitStack() as stack:
        if database.is_reading():
            session.rollback()
            stack.enter_context(database.writing())
        try:
            yield session
        except DomainError as exc:
            if exc.recorded:
                session.commit()
            else:
                session.rollback()
            raise
        except BaseException:
            session.rollback()
            raise
        session.commit()


@contextmanager
def reading(session: Session | None = None) -> Iterator[Session]:
    """A unit of work that only reads: on SQLite it takes no write lock (it must not write),
    and its transaction ends, writing nothing, however the block ends."""
    session = session or db.session()
    try:
        with database.read_only():
            yield session
    except BaseException:
        with contextlib.suppress(DBAPIError):  # a database gone: the first error is the one to tell
            session.rollback()
        raise
    session.rollback()


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_READ_SCOPE = "khidmat_read_scope"


def read_only_requests(app: Flask) -> None:
    """A GET (HEAD, OPTIONS) request reads only: on SQLite its transaction takes no write
    lock, so looking never waits for a writer; a write in it is refused in the tests and
    logged in production (``database.guard_reads``). The few that must record something
    (the audit of a key's use) open a unit of work, which ends the read first."""

    @app.before_request
    def _begin_reading() -> None:
        if request.method in SAFE_METHODS:
            scope = contextlib.ExitStack()
            scope.enter_context(database.read_only())
            request.environ[_READ_SCOPE] = scope  # (the request's, not the app context's)

    @app.teardown_request
    def _end_reading(_exc: BaseException | None) -> None:
        scope = request.environ.pop(_READ_SCOPE, None)
        if scope is not None:
            end_reading()  # the read ends with the request
            scope.close()


@contextmanager
def reading_beside(session: Session) -> Iterator[Session]:
    """A read-only session of its own beside ``session``, for what is built after its
    commit (a session may emit nothing more inside its after-commit hook). It begins at its
    first statement, which must come inside ``database.read_only()`` (as every builder
    runs: ``publish``), so that on SQLite it takes no write lock; a commit whose builders
    all find nobody watching then costs no connection, BEGIN or ROLLBACK more."""
    reader = Session(bind=session.get_bind(), expire_on_commit=False, autoflush=False)
    try:
        yield reader
    finally:
        with contextlib.suppress(DBAPIError):
            reader.rollback()
        reader.close()


def end_reading(session: Session | None = None) -> None:
    """End a read (or undo a refused preview) before rendering, waiting or writing in a unit
    of work of its own: nothing it did is kept."""
    (session or db.session()).rollback()


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A unit of work nested in the current one: undone alone when it raises (the exception
    goes on), kept with the outer one when it does not."""
    nested = session.begin_nested()
    try:
        yield
    except BaseException:
        nested.rollback()
        raise
    nested.commit()


def run_in_transaction(work: Callable[[Session], T]) -> T:
    """Run ``work`` and commit; retry a lost race; translate database trouble into
    domain errors so no caller ever sees a 500 for them."""
    for attempt in range(ATTEMPTS):
        try:
            with unit_of_work() as session:
                return work(session)
        except IntegrityError as exc:
            if attempt + 1 < ATTEMPTS:
                log.info("integrity conflict, retrying: %s", exc.orig)
                continue
            raise Conflict(N_("That change conflicts with another one: try again.")) from exc
        except DBAPIError as exc:
            if _is_retryable(exc) and attempt + 1 < ATTEMPTS:
                continue
            if "locked" in str(exc.orig) or _is_retryable(exc):
                raise Busy(N_("The server is busy: try again in a moment.")) from exc
            trouble = noted_trouble(exc)
            if trouble is not None:
                raise trouble from exc
            raise
    raise Busy(N_("The server is busy: try again in a moment."))


def transactional(view: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return run_in_transaction(lambda _session: view(*args, **kwargs))

    return wrapper


# A transaction keeps the centres and services it loaded until it ends. The identity map
# holds objects only weakly, so a row a check loaded and let go of was read again by the
# next lookup of it in the same transaction (a kiosk's issue read its centre twice in its
# checks and once more for the ticket; an issue's answer read its service again). Only
# these small, rarely changed rows are held: never the tokens or events a report streams,
# nor a counter, which is read again under its lock to see its latest state.
_HELD = "khidmat_held_rows"


@event.listens_for(Session, "loaded_as_persistent")
def _hold(session: Session, instance: object) -> None:
    if isinstance(instance, (Centre, Service)):
        session.info.setdefault(_HELD, []).append(instance)


@event.listens_for(Session, "after_transaction_end")
def _let_go(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_HELD, None)


def current_session() -> Session:
    """The session of the current unit of work (the app context's scoped session)."""
    return db.session()  # type: ignore[no-any-return]
