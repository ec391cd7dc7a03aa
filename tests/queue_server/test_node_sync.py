"""A centre node and the province as two real ``khidmat serve`` processes.

The node (SQLite) serves tokens through its HTTP API while the province is stopped; the
push fails and the node keeps serving; the province comes back and one push brings every
event over exactly once, in batches; ``khidmat audit verify`` passes on both sides. A
re-sent batch stores nothing twice, a tampered batch or a record edited on the node is
refused whole, and another centre's node key is refused. The province runs on SQLite
(always) and on PostgreSQL (when KHIDMAT_TEST_DATABASE_URL is set, as CI sets it).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from queue_server.operations.people import NO_PASSWORD
from tests.conftest import PG_URL, _migrate, fresh_database_url
from tests.support.live import LiveServer, seed

pytestmark = [pytest.mark.slow]

KHIDMAT = str(Path(sys.executable).with_name("khidmat"))


def khidmat(
    server: LiveServer, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = server.environment()
    environment.update(env or {})
    return subprocess.run(
        [KHIDMAT, *args], env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def sqlite_db(directory: Path) -> str:
    directory.mkdir()
    url = f"sqlite:///{directory / 'khidmat.sqlite3'}"
    _migrate(url, directory)
    return url


def rows(url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())
    finally:
        engine.dispose()


@dataclass
class Pair:
    node: LiveServer
    province: LiveServer
    node_env: dict[str, str]
    demo_key: str
    other_key: str

    def push(self, **env: str) -> subprocess.CompletedProcess[str]:
        return khidmat(self.node, "node", "push", env={**self.node_env, **env})

    def status(self) -> dict[str, Any]:
        out = khidmat(self.node, "node", "status", env=self.node_env)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    def node_chain(self) -> list[tuple[int, str]]:
        return [
            (r[0], r[1])
            for r in rows(
                self.node.database_url,
                "SELECT e.seq, e.hash FROM events e JOIN centres c ON c.id = e.centre_id"
                " WHERE c.code = 'demo' ORDER BY e.seq",
            )
        ]

    def province_chain(self) -> list[tuple[int, str]]:
        return [
            (r[0], r[1])
            for r in rows(
                self.province.database_url,
                "SELECT e.seq, e.hash FROM synced_events e JOIN centres c ON c.id = e.centre_id"
                " WHERE c.code = 'demo' ORDER BY e.seq",
            )
        ]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    if request.param == "postgres":
        if not PG_URL.startswith("postgresql"):
            pytest.skip("needs KHIDMAT_TEST_DATABASE_URL pointing at PostgreSQL")
        province_url = fresh_database_url(request.getfixturevalue("database_template"), tmp_path)
        (tmp_path / "province").mkdir()
    else:
        province_url = sqlite_db(tmp_path / "province")
    node_url = sqlite_db(tmp_path / "node")
    secrets = seed(node_url, tmp_path / "node")
    province = LiveServer(province_url, tmp_path / "province")
    # The province holds another centre first, so the centres' ids differ between the two.
    setup = khidmat(province, "seed-demo", "--code", "zeta")
    assert setup.returncode == 0, setup.stderr
    setup = khidmat(province, "seed-demo", "--code", "demo")
    assert setup.returncode == 0, setup.stderr
    keys = {}
    for code in ("demo", "zeta"):
        out = khidmat(province, "node", "register", "--centre", code)
        assert out.returncode == 0, out.stderr
        keys[code] = json.loads(out.stdout)["node_key"]
    node_env = {
        "KHIDMAT_PROVINCE_URL": province.url,
        "KHIDMAT_NODE_KEY": keys["demo"],
        "KHIDMAT_SYNC_INTERVAL_SECONDS": "0",
    }
    node = LiveServer(node_url, tmp_path / "node", env=node_env)
    node.keys, node.passwords = secrets["keys"], secrets["passwords"]
    try:
        node.start(timeout=60)
        yield Pair(node, province, node_env, keys["demo"], keys["zeta"])
    finally:
        node.stop()
        province.stop()


def serve_morning(node: LiveServer, tokens: int) -> None:
    """Issue tokens at the kiosk and serve all but the last at counter 1, over HTTP."""
    keys = node.keys
    for _ in range(tokens):
        issued = node.api("POST", "/api/v1/centres/demo/tokens", keys["kiosk"], json={"service": "character"})
        assert issued.status_code == 201, issued.text
    counters = node.api("GET", "/api/v1/centres/demo/counters", keys["clerk1"]).json()["counters"]
    first = next(c for c in counters if c["number"] == 1)
    opened = node.api("POST", f"/api/v1/counters/{first['id']}/open", keys["clerk1"])
    assert opened.status_code in (200, 409), opened.text
    for _ in range(tokens - 1):
        called = node.api("POST", f"/api/v1/counters/{first['id']}/call-next", keys["clerk1"])
        assert called.status_code == 200, called.text
        for action in ("start", "complete"):
            done = node.api("POST", f"/api/v1/tokens/{called.json()['id']}/{action}", keys["clerk1"], json={})
            assert done.status_code == 200, (action, done.text)


def test_node_serves_offline_and_syncs_exactly_once(pair: Pair) -> None:
    # The link is down: the province is not running. The node serves a morning.
    serve_morning(pair.node, 6)
    failed = pair.push()
    assert failed.returncode == 1 and "unreachable" in failed.stderr, (failed.stdout, failed.stderr)
    status = pair.status()
    assert status["acknowledged"] == 0 and status["pending"] == status["events"] > 0
    assert "unreachable" in status["last_error"]
    node_chain = pair.node_chain()
    assert len(node_chain) == status["events"]

    # The link is back: one push, in batches of 7, brings every event over exactly once.
    pair.province.start(timeout=60)
    pushed = pair.push(KHIDMAT_SYNC_BATCH_SIZE="7")
    assert pushed.returncode == 0, pushed.stderr
    result = json.loads(pushed.stdout)
    assert result == {
        "sent": len(node_chain),
        "stored": len(node_chain),
        "last_seq": len(node_chain),
        "pending": 0,
    }
    assert pair.province_chain() == node_chain
    status = pair.status()
    assert status["pending"] == 0 and status["last_error"] is None and status["last_sync_at"]

    # A push with nothing new sends nothing; a batch re-sent after a lost answer stores nothing twice.
    again = pair.push()
    assert json.loads(again.stdout)["sent"] == 0, again.stdout
    batch = {
        "centre": "demo",
        "origin_centre_id": rows(pair.node.database_url, "SELECT id FROM centres WHERE code='demo'")[0][0],
        "events": [
            {
                "seq": r[0],
                "at": r[1],
                "kind": r[2],
                "actor": r[3],
                "token_id": r[4],
                "counter_id": r[5],
                "service_id": r[6],
                "data": json.loads(r[7]),
                "prev_hash": r[8],
                "hash": r[9],
            }
            for r in rows(
                pair.node.database_url,
                "SELECT seq, at, kind, actor, token_id, counter_id, service_id, data, prev_hash, hash"
                " FROM events ORDER BY seq LIMIT 5",
            )
        ],
    }
    for event in batch["events"]:
        # SQLite returns the stored text; send it as the node's client does (ISO, with the zone).
        event["at"] = event["at"].replace(" ", "T") + ("" if "+" in event["at"] else "+00:00")
    resent = requests.post(
        f"{pair.province.url}/api/v1/sync/demo/events",
        json=batch,
        headers={"Authorization": f"Bearer {pair.demo_key}"},
        timeout=10,
    )
    assert resent.status_code == 200, resent.text
    assert resent.json()["stored"] == 0 and resent.json()["skipped"] == 5
    assert pair.province_chain() == node_chain

    # Another centre's node key may not push this centre: 403, nothing stored.
    foreign = requests.post(
        f"{pair.province.url}/api/v1/sync/demo/events",
        json=batch,
        headers={"Authorization": f"Bearer {pair.other_key}"},
        timeout=10,
    )
    assert foreign.status_code == 403 and foreign.json()["error"] == "forbidden", foreign.text
    assert requests.get(f"{pair.province.url}/api/v1/sync/demo/head", timeout=10).status_code == 401

    # Audit verify passes on both sides (the province recomputes the synced chain too).
    for server in (pair.node, pair.province):
        verified = khidmat(server, "audit", "verify", "--centre", "demo")
        assert verified.returncode == 0, verified.stdout + verified.stderr
    assert (
        f"synced from node: ok ({len(node_chain)} events)"
        in khidmat(pair.province, "audit", "verify", "--centre", "demo").stdout
    )

    # A record edited on the node before sync is refused, whole, with the record named.
    serve_morning_more = pair.node.api(
        "POST", "/api/v1/centres/demo/tokens", pair.node.keys["kiosk"], json={"service": "character"}
    )
    assert serve_morning_more.status_code == 201
    tampered_seq = len(node_chain) + 1
    with sqlite3.connect(pair.node.database_url.removeprefix("sqlite:///")) as conn:
        conn.execute("DROP TRIGGER events_no_update")  # what someone with the laptop's disk could do
        conn.execute("UPDATE events SET actor = 'staff:99' WHERE seq = ?", (tampered_seq,))
    refused = pair.push()
    assert refused.returncode == 1, refused.stdout
    assert f"Event {tampered_seq} was altered" in refused.stderr, refused.stderr
    assert pair.province_chain() == node_chain  # nothing of the batch stored
    assert pair.status()["pending"] >= 1
    held = rows(
        pair.province.database_url,
        "SELECT n.last_error, n.last_seq FROM sync_nodes n JOIN centres c ON c.id = n.centre_id WHERE c.code='demo'",
    )[0]
    assert "altered" in held[0] and held[1] == len(node_chain)


def test_the_node_takes_its_configuration_from_the_province(pair: Pair, tmp_path: Path) -> None:
    """Configuration flows the other way: what the province changes for the centre (its
    notice, a work profile, a new clerk) reaches the node with ``khidmat node pull``, all
    through the import (audited in the node's chain); a second pull changes nothing."""
    import yaml

    province, node = pair.province, pair.node
    province.start(timeout=60)
    exported = khidmat(province, "config", "export", "--centre", "demo")
    assert exported.returncode == 0, exported.stderr
    data = yaml.safe_load(exported.stdout)
    centre = data["centres"][0]
    centre["notice_en"] = "The van is at the district hospital today"
    first = next(c for c in centre["counters"] if c["number"] == 1)
    first["profile"] = {"character": 9}
    centre["staff"].append({"username": "van.clerk", "full_name": "Van Clerk", "role": "clerk", "is_active": True})
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    imported = khidmat(province, "config", "import", str(changed))
    assert imported.returncode == 0, imported.stderr

    def imports_on_node() -> int:
        return len(rows(node.database_url, "SELECT id FROM events WHERE kind = 'admin.config_imported'"))

    before = imports_on_node()
    pulled = khidmat(node, "node", "pull", env=pair.node_env)
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout) == {"centre": "demo", "changed": True, "new_devices": []}
    assert rows(node.database_url, "SELECT notice_en FROM centres WHERE code = 'demo'")[0][0] == centre["notice_en"]
    clerk = rows(node.database_url, "SELECT role, password_hash FROM staff WHERE username = 'van.clerk'")
    assert [(r[0], r[1]) for r in clerk] == [("clerk", NO_PASSWORD)], "the clerk arrives; passwords never travel"
    profile = rows(
        node.database_url,
        "SELECT s.code, p.weight FROM work_profile_entries p JOIN counters c ON c.id = p.counter_id"
        " JOIN services s ON s.id = p.service_id WHERE c.number = 1 ORDER BY s.code",
    )
    assert [(r[0], r[1]) for r in profile] == [("character", 9)]
    assert imports_on_node() == before + 1, "one audited import in the node's own chain"
    verified = khidmat(node, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    again = khidmat(node, "node", "pull", env=pair.node_env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["changed"] is False
    assert imports_on_node() == before + 1, "nothing changed, nothing recorded"

    province.stop()
    down = khidmat(node, "node", "pull", env=pair.node_env)
    assert down.returncode == 1
    assert "error:" in down.stderr
    assert pair.status()["last_error"].startswith("configuration:")
