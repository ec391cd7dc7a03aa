"""Which rooms have a socket in them: in this process, and with Redis in every process.

A builder asks ``publish.watched(room)`` before it builds a read model (a tracking page,
the positions of a service's first waiting tokens, a centre's dashboard figures), so that
nothing is built for a room nobody has open. The hub answers from here.

- **In this process** each socket's rooms are counted (``enter``, ``leave``).
- **Between processes** (a message queue configured: ``REDIS_URL``) each process keeps the
  rooms its sockets are in as one Redis set, ``{channel}:rooms:of:{process}``, with the
  processes listed in ``{channel}:rooms:processes``. A room is added when the process's
  first socket enters it and removed when its last leaves; each addition or removal bumps
  ``{channel}:rooms:generation``. A process keeps a copy of the union of every process's
  set with the generation it was read at. A change's builders read the generation once
  (one round trip per change), and the sets only when it moved.
- **No change is missed.** A screen's rooms are entered (here and in Redis) before its
  snapshot is read (``realtime.screens.on_join``). A change committed before the read is
  in the snapshot. A change committed after it is released after it, and its builders
  read the generation after their commit (``publish.change_began``): they see the room.
- **Additions and removals reach Redis in the order they happen here.** A room left by
  one socket and entered by another at once is never removed after it was added: they are
  written under one lock, with their round trip.
- **A process that dies** leaves its set, which expires after ``ROOMS_EXPIRE_SECONDS``
  (default 60). The ``rooms`` worker renews it every ``ROOMS_HEARTBEAT_SECONDS`` (15) and
  writes it whole again if Redis lost it, and drops dead processes from the list. Until
  then their rooms count as watched: a build too many, never one too few.
- **When Redis cannot be reached**, every room counts as watched (everything is built, as
  if there were no registry), and this process's set is written whole at the next change
  or heartbeat that reaches Redis.

Without Redis (one process) a room is watched when a socket of this process is in it.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from redis.exceptions import RedisError

from queue_server.publish import change_began
from queue_server.realtime.workers import Worker, app_worker
from queue_server.redis_link import redis_client

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
EXPIRE_SECONDS = 60.0
# Outside a change (a worker asking), the copy of the union is used for this long.
APART_SECONDS = 1.0
_KEY = "khidmat.occupancy"

# Drop from the list the processes whose set is gone (expired, or emptied), atomically, so
# that a process adding itself meanwhile is not dropped.
_PRUNE = """
for _, process in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. process) == 0 then redis.call('SREM', KEYS[1], process) end
end
return 0
"""


@dataclass(frozen=True)
class _Union:
    """The rooms of every process, as read at ``generation``; ``checked``: when the
    generation was last found unchanged (monotonic), ``fetched``: when the sets were read."""

    generation: int
    rooms: frozenset[str]
    checked: float
    fetched: float


class _Shared:
    """This process's rooms in Redis, and the union of every process's."""

    def __init__(self, client: Any, channel: str, expire: float) -> None:
        self.client = client
        self.prefix = f"{channel}:rooms"
        self.expire = expire
        self.process = ""
        self.synced = False  # this process's set in Redis is what it holds here
        self.union: _Union | None = None

    def own_key(self) -> str:
        return f"{self.prefix}:of:{self.process}"

    def write(self, added: Iterable[str], removed: Iterable[str], held: Iterable[str]) -> None:
        """Add and remove rooms of this process (``held``: all it holds now, written
        whole when Redis may have missed earlier changes). Raises RedisError."""
        pipe = self.client.pipeline(transaction=True)
        key = self.own_key()
        if self.synced:
            added, removed = list(added), list(removed)
            if added:
                pipe.sadd(key, *added)
            if removed:
                pipe.srem(key, *removed)
        else:
            whole = list(held)
            pipe.delete(key)
            if whole:
                pipe.sadd(key, *whole)
        pipe.expire(key, int(self.expire))
        pipe.sadd(f"{self.prefix}:processes", self.process)
        pipe.incr(f"{self.prefix}:generation")
        self.synced = False  # (until it is known to have been written)
        pipe.execute()
        self.synced = True

    def renew(self, held: Iterable[str]) -> None:
        """The heartbeat: this process's set kept alive (written whole if Redis lost it),
        and the processes whose set is gone dropped from the list. Raises RedisError."""
        whole = list(held)
        if not self.synced:
            self.write((), (), whole)
        elif whole:
            pipe = self.client.pipeline(transaction=True)
            pipe.sadd(self.own_key(), *whole)
            pipe.expire(self.own_key(), int(self.expire))
            pipe.sadd(f"{self.prefix}:processes", self.process)
            restored = pipe.execute()[0]
            if restored:  # Redis had lost some (a restart): the others must read again
                self.client.incr(f"{self.prefix}:generation")
        self.client.eval(_PRUNE, 1, f"{self.prefix}:processes", f"{self.prefix}:of:")

    def rooms(self, fresh_after: float) -> frozenset[str]:
        """The rooms of every process, as Redis had them at some moment after
        ``fresh_after`` (monotonic). Raises RedisError."""
        known = self.union
        if known is not None and known.checked >= fresh_after:
            return known.rooms
        now = time.monotonic()
        generation = int(self.client.get(f"{self.prefix}:generation") or 0)
        if known is not None and known.generation == generation and now - known.fetched < self.expire:
            self.union = _Union(generation, known.rooms, now, known.fetched)
            return known.rooms
        pipe = self.client.pipeline(transaction=True)
        pipe.get(f"{self.prefix}:generation")
        pipe.smembers(f"{self.prefix}:processes")
        generation_raw, processes = pipe.execute()
        keys = [f"{self.prefix}:of:{p.decode() if isinstance(p, bytes) else p}" for p in processes]
        members = self.client.sunion(keys) if keys else set()
        found = frozenset(m.decode() if isinstance(m, bytes) else str(m) for m in members)
        # (read after the generation: at least what it says, perhaps more)
        self.union = _Union(int(generation_raw or 0), found, now, now)
        return found


class Occupancy(Worker):
    """The rooms of this process's sockets, counted, and with Redis shared (see the
    module's docstring); the worker is the heartbeat of the shared part."""

    def __init__(self, app: Flask) -> None:
        super().__init__(app, "rooms", interval_key="ROOMS_HEARTBEAT_SECONDS", default_interval=HEARTBEAT_SECONDS)
        self._count: dict[str, int] = {}
        self._of: dict[str, frozenset[str]] = {}  # sid -> its rooms
        self._order = threading.Lock()  # a change here and its write to Redis, together
        url = app.config.get("REDIS_URL")
        expire = float(app.config.get("ROOMS_EXPIRE_SECONDS", EXPIRE_SECONDS))
        self._shared = _Shared(redis_client(url), app.config["SOCKETIO_CHANNEL"], expire) if url else None
        self._pid = 0
        self._trouble_logged = 0.0

    def enter(self, sid: str, targets: Iterable[str]) -> frozenset[str]:
        """The socket's rooms are now ``targets`` (none: it left them all); returns the
        rooms it had."""
        wanted = frozenset(targets)
        with self._order:
            self._own_process()
            before = self._of.pop(sid, frozenset())
            if wanted:
                self._of[sid] = wanted
            added = [room for room in wanted - before if self._counted(room, +1) == 1]
            removed = [room for room in before - wanted if self._counted(room, -1) == 0]
            if self._shared is not None and (added or removed or not self._shared.synced):
                try:
                    self._shared.write(added, removed, self._count)
                except RedisError as exc:
                    self._trouble("write", exc)
        if self._shared is not None:
            self.ensure_started()
        return before

    def leave(self, sid: str) -> None:
        self.enter(sid, ())

    def _counted(self, room: str, step: int) -> int:
        count = self._count.get(room, 0) + step
        if count > 0:
            self._count[room] = count
        else:
            self._count.pop(room, None)
        return count

    def _own_process(self) -> None:
        """A forked process is another process: it starts with no rooms and its own name."""
        pid = os.getpid()
        if self._pid == pid:
            return
        if self._pid:
            self._count.clear()
            self._of.clear()
        self._pid = pid
        if self._shared is not None:
            self._shared.process = f"{socket.gethostname()}:{pid}:{secrets.token_hex(4)}"
            self._shared.synced = False
            self._shared.union = None

    def watching(self, room: str) -> bool:
        if self._count.get(room):
            return True
        shared = self._shared
        if shared is None:
            return False
        began = change_began()
        try:
            return room in shared.rooms(began if began is not None else time.monotonic() - APART_SECONDS)
        except RedisError as exc:
            self._trouble("read", exc)
            return True  # (unknown: built, as without a registry)

    def held(self) -> dict[str, int]:
        """The rooms of this process's sockets, and how many are in each."""
        return dict(self._count)

    def round(self) -> None:
        """The heartbeat (with Redis): renew this process's set, drop dead processes."""
        if self._shared is None:
            return
        with self._order:
            self._own_process()
            try:
                self._shared.renew(self._count)
            except RedisError as exc:
                self._shared.synced = False
                self._trouble("renew", exc)

    def _trouble(self, doing: str, exc: RedisError) -> None:
        now = time.monotonic()
        if now - self._trouble_logged > 30:
            self._trouble_logged = now
            log.warning("rooms in Redis: %s failed (%s); every room counts as watched until it is back", doing, exc)


def occupancy(app: Flask | None = None) -> Occupancy:
    """The app's room registry (this app's, in an app context)."""
    return app_worker(app or current_app._get_current_object(), _KEY, Occupancy)  # type: ignore[attr-defined]
