"""Fixtures of the counter-side tests: the API as staff, and a token served to a request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from queue_server.models import Counter
from queue_server.publish import Message, add_sink, remove_sink
from tests.support.api import Api


@pytest.fixture
def api(client: FlaskClient, keys: dict[str, str]) -> Api:
    return Api(client, keys)


@pytest.fixture
def sent() -> Iterator[list[Message]]:
    box: list[Message] = []
    add_sink(box.append)
    yield box
    remove_sink(box.append)


@pytest.fixture
def serve(api: Api, counter_no: Callable[[int], Counter]) -> Callable[..., dict[str, Any]]:
    """serve(counter number, clerk, service) -> the started token's request (detail)."""
    opened: set[int] = set()

    def run(number: int = 1, clerk: str = "clerk1", service: str = "character") -> dict[str, Any]:
        counter_id = counter_no(number).id
        if counter_id not in opened:
            api.ok("POST", f"/counters/{counter_id}/open", clerk)
            opened.add(counter_id)
        issued = api.ok("POST", "/centres/demo/tokens", "kiosk", {"service": service}, status=201)
        called = api.ok("POST", f"/counters/{counter_id}/call-next", clerk)
        assert called["id"] == issued["id"]
        api.ok("POST", f"/tokens/{issued['id']}/start", clerk, {})
        return api.ok("GET", f"/tokens/{issued['id']}/request", clerk)

    return run
