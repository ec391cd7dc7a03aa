"""Draining a queue from many counters at once, in threads and in processes.

Used by the concurrency tests, and runnable as a process:
``python -m tests.support.race DATABASE_URL CENTRE FIRST_COUNTER COUNT THREADS`` prints the
ids it called as JSON.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from queue_server import operations
from queue_server.auth import staff_actor
from queue_server.credentials import hash_password
from queue_server.errors import DomainError
from queue_server.extensions import db
from queue_server.models import Centre, Counter, Role, Service, Staff, WorkProfileEntry
from queue_server.unit_of_work import run_in_transaction

SERVICES = (("x", "X"), ("y", "Y"), ("z", "Z"))


def build_race_centre(session: Any, code: str = "race", counters: int = 8) -> None:
    """A centre with 3 services and ``counters`` counters serving all of them, each opened
    by its own clerk (clerk ids race-1 ...)."""
    centre = Centre(code=code, name_en="Race", name_ur="ریس")
    session.add(centre)
    session.flush()
    services = []
    for i, (scode, prefix) in enumerate(SERVICES):
        service = Service(centre_id=centre.id, code=scode, name_en=scode, name_ur=scode, prefix=prefix,
                          sort_order=i)
        session.add(service)
        services.append(service)
    session.flush()
    for n in range(1, counters + 1):
        counter = Counter(centre_id=centre.id, number=n)
        counter.profile = [WorkProfileEntry(service_id=s.id, weight=1 + (n + i) % 3) for i, s in enumerate(services)]
        session.add(counter)
        session.add(Staff(username=f"{code}-{n}", role=Role.CLERK, centre_id=centre.id,
                          password_hash=hash_password("x")))
    session.flush()
    for n in range(1, counters + 1):
        staff = session.scalar(select(Staff).where(Staff.username == f"{code}-{n}"))
        counter = session.scalar(select(Counter).where(Counter.centre_id == centre.id, Counter.number == n))
        operations.open_counter(session, counter.id, staff_actor(staff))


def issue_many(session: Any, code: str, count: int) -> None:
    centre = session.scalar(select(Centre).where(Centre.code == code))
    from queue_server.actors import SYSTEM

    for i in range(count):
        operations.issue_token(session, centre, SERVICES[i % 3][0], SYSTEM)


def drain(app: Flask, code: str, counter_numbers: list[int]) -> list[int]:
    """One thread per counter: call next, start, complete, until nobody waits. Returns every
    token id called, in order, across threads."""
    called: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(number: int) -> None:
        try:
            with app.app_context():
                staff = db.session.scalar(select(Staff).where(Staff.username == f"{code}-{number}"))
                centre = db.session.scalar(select(Centre).where(Centre.code == code))
                counter = db.session.scalar(
                    select(Counter).where(Counter.centre_id == centre.id, Counter.number == number))
                actor = staff_actor(staff)
                counter_id = counter.id
                db.session.rollback()
                while True:
                    def call(s: Any) -> int | None:
                        token = operations.call_next(s, counter_id, actor)
                        return token.id if token else None

                    token_id = run_in_transaction(call)
                    if token_id is None:
                        break
                    with lock:
                        called.append(token_id)

                    def finish(s: Any, token_id: int = token_id) -> None:
                        operations.start(s, token_id, actor)
                        operations.complete(s, token_id, actor)

                    try:
                        run_in_transaction(finish)
                    except DomainError:
                        # Only possible if another counter was handed the same token: the
                        # caller's check counts the double calls and fails.
                        continue
                db.session.remove()
        except BaseException as exc:  # reported to the caller, which fails the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in counter_numbers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return called


def main() -> None:
    url, code, first, count, _threads = sys.argv[1:6]
    from queue_server.app import create_app

    instance = Path(sys.argv[6]) if len(sys.argv) > 6 else Path("/tmp/khidmat-race")
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "race-secret-0123456789abcdef-0123456789", "INSTANCE_PATH": instance})
    numbers = list(range(int(first), int(first) + int(count)))
    print(json.dumps(drain(app, code, numbers)))


if __name__ == "__main__":
    main()
