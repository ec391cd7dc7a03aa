"""Engine behaviour that correctness depends on.

SQLite: real transactions (``BEGIN IMMEDIATE`` so writers queue instead of failing on
upgrade), WAL, a busy timeout and full fsync, so a token acknowledged to a kiosk survives
a crash. The pysqlite driver's own transaction handling is switched off, as SQLAlchemy's
SQLite documentation prescribes for this.

Within one process, transactions on an SQLite engine also take a first-come-first-served
ticket lock before ``BEGIN IMMEDIATE``. SQLite's busy handler polls with growing sleeps, so
with many threads one of them can lose every race until its busy timeout expires (seen:
8 counters draining a queue, one clerk refused after 15 s). Queueing in the process hands
the database to waiters in arrival order; the busy timeout still arbitrates between
processes (the server and a CLI command).

Work that only reads (``read_only()``: every GET request, ``unit_of_work.reading`` for the
dashboard's background refresh and the screens' joins, the read models built after a
commit) begins a plain deferred transaction instead: in WAL it reads a snapshot beside the
writer, takes no write lock and queues behind no one, and no request waits for it. A write
statement inside it is a bug (``guard_reads``): a GET that must write opens a unit of work
of its own, which ends the read first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)
_HELD = "khidmat_fair_lock_held"
_reading: ContextVar[bool] = ContextVar("khidmat_reading", default=False)


@contextmanager
def read_only() -> Iterator[None]:
    """Transactions begun inside only read: on SQLite they take no write lock. Writing in
    one is an error on SQLite (the snapshot may be stale); end it (commit or rollback)
    before leaving."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def is_reading() -> bool:
    return _reading.get()


@contextmanager
def writing() -> Iterator[None]:
    """Transactions begun inside may write (a unit of work inside a read, e.g. the audit
    of a key's first use from an address during a GET)."""
    token = _reading.set(False)
    try:
        yield
    finally:
        _reading.reset(token)


class WriteInRead(RuntimeError):
    """A write statement ran in a transaction begun to read."""


_WRITES = ("INSERT", "UPDATE", "DELETE")


def guard_reads(engine: Engine, *, strict: bool) -> None:
    """Refuse (``strict``, as the tests run) or log a write statement executed while
    reading: on SQLite it would upgrade a snapshot that may be stale, and a GET must not
    change anything."""

    @event.listens_for(engine, "before_cursor_execute")
    def _check(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if _reading.get() and statement.lstrip()[:6].upper() in _WRITES:
            if strict:
                raise WriteInRead(f"a write while reading: {statement[:80]}")
            log.error("a write while reading: %s", statement[:80])


class FairLock:
    """A FIFO lock: waiters get it in the order they asked. A waiter that times out
    gives up its place without blocking the ones behind it. A release wakes only the
    waiter whose turn it is (each waits on its own event): with one condition for all,
    every release woke every waiter to look (``bench/bench_fair_lock.py``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_ticket = 0
        self._serving = 0
        self._abandoned: set[int] = set()
        self._turns: dict[int, threading.Event] = {}  # ticket -> set when it is served

    def acquire(self, timeout: float) -> bool:
        with self._lock:
            ticket = self._next_ticket
            self._next_ticket += 1
            if self._serving == ticket:
                return True
            turn = self._turns[ticket] = threading.Event()
        if turn.wait(timeout):
            return True
        with self._lock:
            self._turns.pop(ticket, None)
            if self._serving == ticket:  # its turn came as it gave up: it holds the lock
                return True
            self._abandoned.add(ticket)
            return False

    def release(self) -> None:
        with self._lock:
            self._serving += 1
            while self._serving in self._abandoned:
                self._abandoned.discard(self._serving)
                self._serving += 1
            turn = self._turns.pop(self._serving, None)
        if turn is not None:
            turn.set()


def configure_engine(engine: Engine, busy_timeout_ms: int) -> None:
    if engine.dialect.name != "sqlite":
        return
    lock = FairLock()
    timeout = busy_timeout_ms / 1000

    def release(conn: Any) -> None:
        if conn.info.pop(_HELD, False):
            lock.release()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if _reading.get():
            conn.exec_driver_sql("BEGIN")
            return
        if not conn.info.get(_HELD):
            # If the lock cannot be had in time, go on: SQLite's own busy timeout decides.
            conn.info[_HELD] = lock.acquire(timeout)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            release(conn)
            raise

    # Let go once the commit (or rollback) is done, not when it begins: SQLAlchemy's
    # "commit" event comes before the DBAPI commit, the fsync, and a writer let in then
    # would find the database still locked and sleep in SQLite's busy handler (1 ms, then
    # 2, 5 ...) while nobody writes (bench/bench_fair_lock.py --through-sqlite).
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def ended(dbapi_connection: Any) -> None:
        with suppress(NotImplementedError):  # (an ad hoc connection, the engine's first: never held)
            release(dbapi_connection)

    def do_commit(dbapi_connection: Any) -> None:
        try:
            commit(dbapi_connection)
        finally:
            ended(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        finally:
            ended(dbapi_connection)

    # (this engine's own dialect: another engine's is not touched)
    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        # A connection returned to the pool mid-transaction (reset by rollback there);
        # Connection.info is this pool record's info, so the flag is the same one.
        if record.info.pop(_HELD, False):
            lock.release()
