"""The SQLite write lock of one process (``database.FairLock``): first come, first served;
a waiter that gives up leaves nobody behind it stuck; never two holders at once; and
through an engine, the next writer is let in only once the commit is done."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from queue_server.database import FairLock


def waiters(lock: FairLock) -> int:
    return len(lock._turns)


def waiting(lock: FairLock, n: int) -> None:
    """Until ``n`` threads wait for the lock."""
    deadline = time.monotonic() + 5.0
    while waiters(lock) != n:
        assert time.monotonic() < deadline, f"{waiters(lock)} waiting, not {n}"
        time.sleep(0.001)


def test_waiters_get_the_lock_in_the_order_they_asked() -> None:
    lock = FairLock()
    assert lock.acquire(1.0)
    order: list[int] = []

    def take(k: int) -> None:
        assert lock.acquire(10.0)
        order.append(k)
        lock.release()

    threads = []
    for k in range(6):  # each asks only once the one before it waits
        threads.append(threading.Thread(target=take, args=(k,)))
        threads[-1].start()
        waiting(lock, k + 1)
    lock.release()
    for thread in threads:
        thread.join(10)
    assert order == list(range(6))
    assert lock.acquire(0.01), "free again"


def test_a_waiter_that_gives_up_leaves_its_place_to_the_next() -> None:
    lock = FairLock()
    assert lock.acquire(1.0)
    results: dict[str, bool] = {}
    impatient = threading.Thread(target=lambda: results.update(impatient=lock.acquire(0.05)))
    impatient.start()
    waiting(lock, 1)
    patient = threading.Thread(target=lambda: results.update(patient=lock.acquire(10.0)))
    patient.start()
    waiting(lock, 2)
    impatient.join(5)
    assert results == {"impatient": False}
    lock.release()  # the impatient one's turn is skipped: the patient one has it
    patient.join(5)
    assert results == {"impatient": False, "patient": True}
    assert not lock.acquire(0.05), "the patient one holds it"
    lock.release()
    assert lock.acquire(0.05)


def test_sixteen_threads_never_hold_it_at_once_and_all_get_it() -> None:
    lock = FairLock()
    inside, overlaps, taken = [0], [0], [0]

    def work() -> None:
        for _ in range(40):
            assert lock.acquire(30.0)
            inside[0] += 1
            overlaps[0] += inside[0] != 1
            time.sleep(0.0001)  # (the GIL let go, as a statement's I/O does)
            taken[0] += 1
            inside[0] -= 1
            lock.release()

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert overlaps[0] == 0 and taken[0] == 16 * 40
    assert waiters(lock) == 0


def test_the_next_writer_is_let_in_only_once_the_commit_is_done(tmp_path: Path) -> None:
    """SQLAlchemy's "commit" event comes before the DBAPI commit: a writer let in there
    would begin while the commit still holds the database, and wait in SQLite's busy
    handler. With SQLite's own busy timeout at 0, any such overlap fails at once."""
    from sqlalchemy import create_engine, event, text

    from queue_server.database import configure_engine

    engine = create_engine(
        f"sqlite:///{tmp_path / 'lock.sqlite3'}", connect_args={"check_same_thread": False}, pool_size=8
    )
    configure_engine(engine, busy_timeout_ms=10_000)  # (the process's lock waits up to 10 s)

    @event.listens_for(engine, "connect")
    def _no_busy_wait(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.execute("PRAGMA busy_timeout = 0")  # after configure_engine's own

    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    failures: list[BaseException] = []

    def write(k: int) -> None:
        try:
            for i in range(60):
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": k * 1000 + i})
        except BaseException as exc:  # noqa: BLE001 (reported below)
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 360
    engine.dispose()
