"""One Redis client per URL per process: shared rate limits, the health check and the
console presence of a deployment with several server processes."""

from __future__ import annotations

import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def redis_client(url: str) -> Any:
    """A client for ``url``, made once; short timeouts, so a Redis that is down costs a
    request two seconds, not a hang."""
    with _lock:
        client = _clients.get(url)
        if client is None:
            import redis

            client = _clients[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return client
