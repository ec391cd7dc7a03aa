"""One unit of work per entry point: an HTTP request, a socket event, a CLI command.

The wrapper commits when the work succeeds and rolls back when it raises; after-commit
side effects (queue_server.publish) are released by the commit. A transaction that lost a
race on PostgreSQL (deadlock, serialization failure) is retried from the start, which is
safe because nothing leaves the process before the commit.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from queue_server.errors import N_, Conflict, DomainError
from queue_server.extensions import db

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRYABLE_PGCODES = {"40001", "40P01"}
ATTEMPTS = 4


class Busy(DomainError):
    status = 503
    code = "busy"


def _is_retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in RETRYABLE_PGCODES


@contextmanager
def unit_of_work() -> Iterator[Session]:
    session = db.session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


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
            raise
    raise Busy(N_("The server is busy: try again in a moment."))


def transactional(view: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return run_in_transaction(lambda _session: view(*args, **kwargs))

    return wrapper


def current_session() -> Session:
    """The session of the current unit of work (the app context's scoped session)."""
    return db.session()  # type: ignore[no-any-return]
