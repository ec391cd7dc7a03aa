"""A crash loses no acknowledged token: kiosks issue through the real server, the server
is killed with SIGKILL mid-stream, and every token it answered 201 for is in the database
with the number it was given; after a restart, numbering goes on without reuse."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from typing import Any

import requests
from sqlalchemy import create_engine, text

ISSUERS = 4


def test_sigkill_loses_no_acknowledged_token(live_server: Any) -> None:
    s = live_server
    acknowledged: list[dict[str, Any]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def issue_until_the_server_dies() -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {s.keys['clerk1']}"  # staff: not rate-limited
        while not stop.is_set():
            try:
                r = session.post(
                    s.url + "/api/v1/centres/demo/tokens",
                    timeout=5,
                    json={"service": "character", "idempotency_key": uuid.uuid4().hex},
                )
            except requests.RequestException:
                return  # the server is gone
            if r.status_code == 201:
                with lock:
                    acknowledged.append(r.json())

    threads = [threading.Thread(target=issue_until_the_server_dies) for _ in range(ISSUERS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(acknowledged) < 40:
        time.sleep(0.05)
    s.stop(signal.SIGKILL)  # no graceful shutdown: the whole process group dies at once
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert len(acknowledged) >= 40, "the kiosks were issuing when the server died"

    engine = create_engine(s.database_url)
    with engine.connect() as conn:
        found = conn.execute(text("SELECT id, number, business_day FROM tokens")).all()
    engine.dispose()
    stored = {row[0]: row[1] for row in found}
    lost = [t["number"] for t in acknowledged if stored.get(t["id"]) != t["number"]]
    assert lost == [], f"acknowledged but lost: {lost}"
    # numbering restarts at the centre's day boundary: a run across midnight has two A001s
    numbers = [(str(row[2]), row[1]) for row in found]
    assert len(numbers) == len(set(numbers)), "a number was given twice in one day"

    s.start()
    after = s.api("POST", "/api/v1/centres/demo/tokens", s.keys["clerk1"], json={"service": "character"})
    assert after.status_code == 201
    today = [n for day, n in numbers if day == max(d for d, _ in numbers)]
    assert after.json()["number"] not in today
    assert int(after.json()["number"][1:]) == max(int(n[1:]) for n in today) + 1
