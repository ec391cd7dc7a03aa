"""Side effects released only after the transaction commits.

Operations call ``publish`` (and ``after_commit``) during their transaction; the callbacks
wait in ``session.info`` and run once the outermost commit succeeds. A rollback drops them,
so no screen ever shows a change that did not happen.

A read model (a queue summary, a tracking page's view) is not built inside the write
transaction: ``publish_built`` queues a builder that runs after the commit, in a read-only
session of its own (one per commit, however many builders), so the writer's lock is held
only for the change itself. Builders and plain messages go out in the order they were queued.

Two things keep builders cheap under load:

- **Nobody watching, nothing built.** A sink may say which rooms it delivers to someone
  (``add_sink(sink, watching=...)``); a builder asks ``watched(room)`` first, so a tracking
  page nobody has open is not built. A sink that says nothing (a test's capture) watches
  every room.
- **A burst, one build.** A builder given a ``key`` (a centre's queue summary, a service's
  positions) is not run twice at once in this process: a commit that finds it running
  marks it to run once more when it finishes, with a fresh reader, so the last build
  always sees the last commit and the screens converge on it.

A sink takes the messages one at a time, as they are sent; a sink added with
``batch=True`` (the hub) takes the messages of one commit (or of one build outside a
commit) together, so that it can give each screen one delivery for several messages
rather than one each: those sent before a read model is built go out then (a call is not
kept waiting for the queue summary), the rest at the end.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_PENDING = "khidmat_after_commit"


@dataclass(frozen=True)
class Message:
    """One realtime event for some rooms; ``payload`` is plain JSON-able data, and
    ``centre_id`` the centre the change happened in (the dashboard worker marks it stale;
    None for what belongs to no centre)."""

    event: str
    rooms: tuple[str, ...]
    payload: dict[str, Any] = field(default_factory=dict)
    centre_id: int | None = None


Sink = Callable[[Message], None]
BatchSink = Callable[[Sequence[Message]], None]
_sinks: list[Sink] = []
_batch_sinks: list[BatchSink] = []
# sink -> which rooms it delivers to someone (absent: every room)
_watching: dict[object, Callable[[str], bool]] = {}


def add_sink(sink: Any, *, watching: Callable[[str], bool] | None = None, batch: bool = False) -> None:
    """Every message published goes to ``sink``: one at a time, or with ``batch`` a
    change's messages in one list (``Sequence[Message]``), in the order they were sent.
    ``watching(room)`` tells whether a message to ``room`` reaches anyone through it (the
    hub: a socket of this process in the room); a sink that only observes changes (the
    dashboard's staleness, the checkpoints) passes ``observes_only``. Without it, the sink
    is taken to watch every room."""
    remove_sink(sink)
    (_batch_sinks if batch else _sinks).append(sink)
    if watching is not None:
        _watching[sink] = watching


def remove_sink(sink: Any) -> None:
    for sinks in (_sinks, _batch_sinks):
        if sink in sinks:
            sinks.remove(sink)
    _watching.pop(sink, None)


def observes_only(_room: str) -> bool:
    """For ``add_sink``: the sink watches no room (it wants no read model built for it)."""
    return False


def watched(room: str) -> bool:
    """Whether a message to ``room`` would reach anyone: a builder asks before building."""
    sinks: list[object] = [*_sinks, *_batch_sinks]
    for sink in sinks:
        watching = _watching.get(sink)
        if watching is None or watching(room):
            return True
    return False


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    session.info.setdefault(_PENDING, []).append(callback)


def publish(session: Session, message: Message) -> None:
    after_commit(session, lambda: _deliver(message))


Builder = Callable[[Session], Iterable[Message]]


def publish_built(session: Session, build: Builder, *, key: Hashable | None = None) -> None:
    """Publish the messages ``build(reader)`` returns, built after the commit from what was
    committed, with ``reader`` a read-only session (it must not write). Builders with the
    same ``key`` build the same read model (it depends only on what is committed): while
    one runs in this process, another is folded into one more run after it."""
    session.info.setdefault(_PENDING, []).append(_Built(build, key))


@dataclass(frozen=True)
class _Built:
    build: Builder
    key: Hashable | None = None


_running: set[Hashable] = set()  # keys being built in this process
_again: dict[Hashable, Builder] = {}  # key -> the latest builder folded into a running one
_running_lock = threading.Lock()


def _claim(built: _Built) -> bool:
    """Whether this thread builds ``built`` now; False when its key is being built by
    another thread, which then runs it once more when done."""
    if built.key is None:
        return True
    with _running_lock:
        if built.key in _running:
            _again[built.key] = built.build
            return False
        _running.add(built.key)
        return True


def _release(built: _Built) -> None:
    with _running_lock:
        _running.discard(built.key)
        _again.pop(built.key, None)


def _next_run(built: _Built) -> _Built | None:
    """After building ``built``: the run folded into it meanwhile, or None (released)."""
    if built.key is None:
        return None
    with _running_lock:
        build = _again.pop(built.key, None)
        if build is None:
            _running.discard(built.key)
            return None
        return _Built(build, built.key)


def _deliver(message: Message) -> None:
    for sink in list(_sinks):
        sink(message)
    gathered: list[Message] | None = getattr(_change, "messages", None)
    if gathered is not None:
        gathered.append(message)
    else:  # (sent outside a change: a batch of one)
        _deliver_batch([message])


def _deliver_batch(messages: Sequence[Message]) -> None:
    for sink in list(_batch_sinks):
        _quietly(lambda: sink(messages))  # noqa: B023 (called at once)


_change = threading.local()  # .messages: what the change being released has sent so far; .began


@contextlib.contextmanager
def _one_change() -> Iterator[None]:
    """The messages sent meanwhile in this thread are one change's: the batch sinks get
    them together at the end, or before a read model is built (``_sent_so_far``), so that
    what the commit already knew (a call) does not wait for the build (a change released
    inside another joins its batch)."""
    if getattr(_change, "messages", None) is not None:
        yield
        return
    _change.messages = []
    _change.began = time.monotonic()
    try:
        yield
    finally:
        _sent_so_far()
        _change.messages = None
        _change.began = None


def change_began() -> float | None:
    """When (``time.monotonic``) the change this thread releases began to be released,
    after its commit; None outside one. What was known to the hub then (a room entered)
    is known to every builder of the change (``realtime.occupancy``)."""
    return getattr(_change, "began", None)


def _sent_so_far() -> None:
    """Give the batch sinks what this change has sent so far, now."""
    messages: list[Message] | None = getattr(_change, "messages", None)
    if messages:
        _change.messages = []
        _deliver_batch(messages)


@event.listens_for(Session, "after_commit")
def _run_pending(session: Session) -> None:
    from queue_server.unit_of_work import reading_beside

    pending = session.info.pop(_PENDING, [])
    with _one_change(), _Readers(lambda: reading_beside(session)) as readers:
        for callback in pending:
            if isinstance(callback, _Built):
                _sent_so_far()  # (a build takes a while: what is known goes first)
                _build_claimed(callback, readers)
            else:
                _quietly(callback)


def build_apart(build: Builder, *, key: Hashable) -> None:
    """Build and deliver a keyed read model outside any commit (a worker refreshing it):
    folded into the run of another thread when one builds the key now, like a commit."""
    from queue_server.extensions import db
    from queue_server.unit_of_work import reading_beside

    with _one_change(), _Readers(lambda: reading_beside(db.session())) as readers:
        _build_claimed(_Built(build, key), readers)


class _Readers(contextlib.ExitStack):
    """The read-only session builders share (opened for the first one), replaced after a
    builder fails and for a run of folded commits, closed at the end."""

    def __init__(self, open_reader: Callable[[], contextlib.AbstractContextManager[Session]]) -> None:
        super().__init__()
        self._open = open_reader
        self._reader: Session | None = None

    def current(self) -> Session:
        if self._reader is None:
            self._reader = self.enter_context(self._open())
        return self._reader

    def afresh(self) -> Session:
        self.close()
        self._reader = None
        return self.current()

    def build(self, built: _Built) -> None:
        from queue_server.database import read_only

        try:
            with read_only():  # a builder that wrote would be refused
                messages = list(built.build(self.current()))
        except Exception:
            self.close()  # the next builder reads afresh
            self._reader = None
            raise
        for message in messages:
            _deliver(message)


def _build_claimed(built: _Built, readers: _Readers) -> None:
    """Build ``built`` unless another thread builds its key now (it then runs once more);
    run again for what was folded into it meanwhile, each time with a fresh reader."""
    if not _claim(built):
        return
    try:
        while True:
            _quietly(lambda: readers.build(built))  # noqa: B023 (called at once)
            again = _next_run(built)
            if again is None:
                break
            readers.afresh().info[_REBUILD] = True  # commits came meanwhile: read them afresh
            built = again
    except BaseException:  # (a killed greenlet): the key must not stay claimed
        _release(built)
        raise


def _quietly(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:  # a dead screen (or a database gone since) must not undo a committed token
        log.exception("after-commit side effect failed")


_REBUILD = "khidmat_rebuild"


def is_rebuild(reader: Session) -> bool:
    """Whether a keyed builder runs again for commits folded into it: it must then read
    everything from ``reader``, not use figures its own transaction computed."""
    return bool(reader.info.get(_REBUILD))


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
