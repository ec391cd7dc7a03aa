"""The province's sync endpoints in one app (fast, on SQLite and PostgreSQL): a batch that
continues the chain is stored, a re-sent one stores nothing twice, an altered or gapped
one is refused whole and its refusal shows on the province dashboard, and only the
centre's own node key is admitted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server.actors import SYSTEM
from queue_server.audit import record_hash
from queue_server.checkpoints import make_checkpoint, verify_witnessed
from queue_server.models import Centre, Event, SyncedEvent, WitnessedCheckpoint
from queue_server.sync.province import register_node, verify_synced_chain
from tests.conftest import bearer
from tests.counters.manager.test_reports import login


def chain(session: Session, centre: Centre) -> list[dict[str, Any]]:
    events = session.scalars(select(Event).where(Event.centre_id == centre.id).order_by(Event.seq))
    return [
        {
            "seq": e.seq,
            "at": e.at.isoformat(timespec="microseconds"),
            "kind": e.kind,
            "actor": e.actor,
            "token_id": e.token_id,
            "counter_id": e.counter_id,
            "service_id": e.service_id,
            "data": e.data,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        }
        for e in events
    ]


def held(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(SyncedEvent)) or 0


def test_push_verify_resend_refuse_and_dashboard(
    client: FlaskClient, session: Session, centre: Centre, keys: dict[str, str], passwords: dict[str, str]
) -> None:
    for _ in range(3):
        r = client.post(
            "/api/v1/centres/demo/tokens", json={"service": "character"}, headers=bearer(keys["kiosk"])
        )
        assert r.status_code == 201, r.text
    _, key = register_node(session, "demo")
    session.commit()
    events = chain(session, centre)
    assert len(events) >= 3
    url = "/api/v1/sync/demo/events"

    def post(batch: list[dict[str, Any]], node_key: str = key, pending: int = 0) -> Any:
        body = {"centre": "demo", "origin_centre_id": centre.id, "pending": pending, "events": batch}
        return client.post(url, json=body, headers=bearer(node_key))

    empty = {"centre": "demo", "origin_centre_id": centre.id, "events": []}
    assert client.post(url, json=empty).status_code == 401
    assert client.post(url, json=empty, headers=bearer(keys["manager"])).status_code == 403
    assert client.post(url, json={"centre": "demo"}, headers=bearer(key)).status_code == 400
    assert client.get("/api/v1/sync/demo/head", headers=bearer(keys["kiosk"])).status_code == 403
    assert client.get("/api/v1/sync/elsewhere/head", headers=bearer(key)).status_code == 403

    # A gap (the first record left out) is refused, nothing stored.
    gap = post(events[1:])
    assert gap.status_code == 409 and gap.json["error"] == "chain_refused", gap.text
    assert "records are missing" in gap.json["message"] and held(session) == 0

    first = post(events[:2], pending=len(events) - 2)
    assert first.status_code == 200, first.text
    assert first.json["stored"] == 2 and first.json["last_seq"] == 2
    resent = post(events)  # the first two again, plus the rest
    assert resent.status_code == 200 and resent.json["stored"] == len(events) - 2
    assert resent.json["skipped"] == 2 and held(session) == len(events)
    again = post(events)
    assert again.json["stored"] == 0 and held(session) == len(events)
    head = client.get("/api/v1/sync/demo/head", headers=bearer(key))
    assert head.json == {"centre": "demo", "last_seq": len(events), "last_hash": events[-1]["hash"]}

    # One more token on the "node"; its first event altered in transit: refused whole, in Urdu too.
    client.post("/api/v1/centres/demo/tokens", json={"service": "character"}, headers=bearer(keys["kiosk"]))
    fresh = chain(session, centre)[len(events) :]
    altered = [dict(fresh[0], actor="staff:99"), *fresh[1:]]
    refused = post(altered)
    assert refused.status_code == 409, (
        refused.text,
        fresh[0],
        len(events),
    ) and "was altered" in refused.json["message"]
    urdu = client.post(
        url,
        json={"centre": "demo", "origin_centre_id": centre.id, "events": altered},
        headers={**bearer(key), "Accept-Language": "ur"},
    )
    assert urdu.status_code == 409 and "ہیش مختلف" in urdu.json["message"], urdu.text
    assert held(session) == len(events)
    # An edited record the province holds already is refused as well.
    changed = post([dict(events[0], data={"number": "Z999"})])
    assert changed.status_code == 409 and "differs from the one the province holds" in changed.json["message"]

    login(client, "admin", passwords["admin"])
    page = client.get("/manage/province")
    assert page.status_code == 200
    assert 'data-node="demo"' in page.text and "differs from the one" in page.text, page.text[-3000:]
    row = page.text.split('data-node="demo"')[1].split("</tr>")[0]
    assert f"<td>{len(events)}</td>" in row
    assert "آخری کامیاب ہم آہنگی" in client.get("/manage/province?lang=ur").text


def test_the_province_witnesses_the_node_checkpoints_and_catches_a_recomputed_copy(
    client: FlaskClient, session: Session, centre: Centre, keys: dict[str, str]
) -> None:
    """A signed head travelling in the node's chain is kept in the province's witness
    chain. Someone who can write the province's database and recomputes the synced chain
    after editing a record passes the chain check, but not the heads the node signed."""
    for _ in range(2):
        r = client.post(
            "/api/v1/centres/demo/tokens", json={"service": "character"}, headers=bearer(keys["kiosk"])
        )
        assert r.status_code == 201, r.text
    assert make_checkpoint(session, centre, SYSTEM, "hourly") is not None
    session.commit()
    _, key = register_node(session, "demo")
    session.commit()
    events = chain(session, centre)
    body = {"centre": "demo", "origin_centre_id": centre.id, "events": events}
    pushed = client.post("/api/v1/sync/demo/events", json=body, headers=bearer(key))
    assert pushed.status_code == 200, pushed.text
    witnessed = session.scalars(select(WitnessedCheckpoint)).all()
    assert [(w.seq, w.head) for w in witnessed] == [(events[-2]["seq"], events[-2]["hash"])]
    assert verify_synced_chain(session, centre.id) == (len(events), None, "")
    assert verify_witnessed(session) == []

    # The insider edits the first synced record and recomputes every hash after it.
    rows = session.scalars(select(SyncedEvent).order_by(SyncedEvent.seq)).all()
    prev = rows[0].prev_hash
    for i, row in enumerate(rows):
        row.actor = "staff:99" if i == 0 else row.actor
        row.prev_hash = prev
        row.hash = record_hash(
            prev,
            centre_id=row.origin_centre_id,
            seq=row.seq,
            at=row.at,
            kind=row.kind,
            actor=row.actor,
            token_id=row.token_id,
            counter_id=row.counter_id,
            service_id=row.service_id,
            data=row.data,
        )
        prev = row.hash
    session.commit()
    checked, broken, reason = verify_synced_chain(session, centre.id)
    assert (broken, reason) == (events[-2]["seq"], "differs from the head the node signed"), (
        checked,
        broken,
        reason,
    )

    # A checkpoint whose signature does not hold is refused with its batch, nothing stored,
    # even when the record itself continues the chain.
    last = events[-1]
    at = datetime.now(UTC)
    forged = {**last["data"], "signature": "AAAA"}  # the checkpoint record, re-signed badly
    fields = {"at": at, "kind": "checkpoint", "actor": "system", "token_id": None, "counter_id": None}
    digest = record_hash(
        last["hash"], centre_id=centre.id, seq=last["seq"] + 1, service_id=None, data=forged, **fields
    )
    record = {
        **fields,
        "at": at.isoformat(timespec="microseconds"),
        "seq": last["seq"] + 1,
        "service_id": None,
        "data": forged,
        "prev_hash": last["hash"],
        "hash": digest,
    }
    refused = client.post(
        "/api/v1/sync/demo/events",
        json={"centre": "demo", "origin_centre_id": centre.id, "events": [record]},
        headers=bearer(key),
    )
    assert refused.status_code == 400 and refused.json["error"] == "bad_signature", refused.text
    assert session.scalar(select(func.max(SyncedEvent.seq))) == last["seq"]
