"""Fixed-window rate limits, shared across processes through Redis when it is configured."""

from __future__ import annotations

import threading
import time

from flask import current_app

from queue_server.errors import N_, RateLimited
from queue_server.redis_link import redis_client

_lock = threading.Lock()
_windows: dict[str, tuple[int, float]] = {}


def hit(key: str, limit: int, window_seconds: int) -> bool:
    """Count one hit for ``key``; False when the limit for the current window is passed."""
    url = current_app.config.get("REDIS_URL")
    if url:
        bucket = f"khidmat:rl:{key}:{int(time.time() // window_seconds)}"
        client = redis_client(url)
        pipe = client.pipeline()
        pipe.incr(bucket)
        pipe.expire(bucket, window_seconds + 1)
        count, _ = pipe.execute()
        return int(count) <= limit
    now = time.monotonic()
    with _lock:
        count, started = _windows.get(key, (0, now))
        if now - started >= window_seconds:
            count, started = 0, now
        count += 1
        _windows[key] = (count, started)
        if len(_windows) > 50_000:  # forget old windows rather than grow without bound
            for k in [k for k, (_, s) in _windows.items() if now - s >= window_seconds]:
                _windows.pop(k, None)
        return count <= limit


def count(key: str, window_seconds: int) -> int:
    """Hits already counted for ``key`` in the current window (counts nothing more)."""
    url = current_app.config.get("REDIS_URL")
    if url:
        bucket = f"khidmat:rl:{key}:{int(time.time() // window_seconds)}"
        return int(redis_client(url).get(bucket) or 0)
    now = time.monotonic()
    with _lock:
        value, started = _windows.get(key, (0, now))
        return 0 if now - started >= window_seconds else value


def enforce(key: str, limit: int, window_seconds: int) -> None:
    if not hit(key, limit, window_seconds):
        raise RateLimited(N_("Too many requests: wait a moment and try again."))


def reset() -> None:
    with _lock:
        _windows.clear()
