"""Resolved credentials are cached per process (queue_server.auth): a request with a known
key costs no lookup, and revoking or deactivating through the application is seen at once."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, select, update
from sqlalchemy.orm import Session

from queue_server import auth
from queue_server.clock import utcnow
from queue_server.extensions import db
from queue_server.models import Device, DeviceKind, Staff, StaffApiKey
from tests.conftest import bearer


def _statements(app: Flask) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    return seen


def test_a_known_key_is_not_looked_up_again(app: Flask, client: FlaskClient, keys: dict[str, str]) -> None:
    auth.forget_credentials()
    assert client.get("/api/v1/me", headers=bearer(keys["clerk1"])).status_code == 200
    seen = _statements(app)
    assert client.get("/api/v1/me", headers=bearer(keys["clerk1"])).status_code == 200
    assert not [s for s in seen if "staff_api_keys" in s]


def test_revoking_a_key_through_the_application_is_seen_at_once(
    client: FlaskClient, session: Session, keys: dict[str, str]
) -> None:
    assert client.get("/api/v1/me", headers=bearer(keys["clerk1"])).status_code == 200
    staff = session.scalars(select(Staff).where(Staff.username == "clerk1")).one()
    for key in staff.api_keys:
        key.revoked_at = utcnow()
    session.commit()
    answer = client.get("/api/v1/me", headers=bearer(keys["clerk1"]))
    assert answer.status_code == 401
    assert answer.json["error"] == "bad_key"


def test_deactivating_a_device_or_staff_is_seen_at_once(
    client: FlaskClient, session: Session, keys: dict[str, str]
) -> None:
    assert client.get("/api/v1/me", headers=bearer(keys["display"])).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(keys["clerk2"])).status_code == 200
    session.scalars(select(Device).where(Device.kind == DeviceKind.DISPLAY)).one().is_active = False
    session.scalars(select(Staff).where(Staff.username == "clerk2")).one().is_active = False
    session.commit()
    assert client.get("/api/v1/me", headers=bearer(keys["display"])).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(keys["clerk2"])).status_code == 401


def test_a_change_behind_the_application_waits_for_forget_credentials(
    client: FlaskClient, session: Session, keys: dict[str, str]
) -> None:
    """A change made behind the application (another process, a hand-run SQL statement)
    is not seen until the entry expires or forget_credentials() runs: the one
    invalidation. (Bulk UPDATEs through the application's own session are seen at commit.)"""
    assert client.get("/api/v1/me", headers=bearer(keys["clerk3"])).status_code == 200
    staff_id = session.scalars(select(Staff.id).where(Staff.username == "clerk3")).one()
    session.commit()
    behind = create_engine(session.get_bind().url)
    with behind.begin() as conn:
        conn.execute(update(StaffApiKey).where(StaffApiKey.staff_id == staff_id).values(revoked_at=utcnow()))
    behind.dispose()
    assert client.get("/api/v1/me", headers=bearer(keys["clerk3"])).status_code == 200
    auth.forget_credentials()
    assert client.get("/api/v1/me", headers=bearer(keys["clerk3"])).status_code == 401


def test_an_unknown_key_is_refused_every_time(client: FlaskClient, keys: dict[str, str]) -> None:
    for _ in range(2):
        answer = client.get("/api/v1/me", headers=bearer("kq_staff_not-a-key"))
        assert answer.status_code == 401


def test_a_key_used_again_from_its_address_reads_nothing_and_every_move_is_recorded(
    app: Flask, client: FlaskClient, session: Session, keys: dict[str, str]
) -> None:
    """A staff key's address is read at a write request until a use from the address the
    database has for it; then uses from there read nothing until the credentials are
    forgotten (or CREDENTIAL_CACHE_SECONDS pass). A use from any other address is read, so
    moving away and back is recorded each time."""
    from queue_server.models import Event

    auth.forget_credentials()
    seen = _statements(app)

    def issue_from(address: str) -> int:
        """Issue a token from ``address``; how many times the key's address was read."""
        before = len(seen)
        r = client.post(
            "/api/v1/centres/demo/tokens",
            headers=bearer(keys["manager"]),
            json={"service": "character"},
            environ_base={"REMOTE_ADDR": address},
        )
        assert r.status_code == 201, r.get_json()
        return sum(s.lstrip().startswith("SELECT staff_api_keys.last_address ") for s in seen[before:])

    reads = [issue_from(a) for a in ("10.0.0.5", "10.0.0.5", "10.0.0.5", "10.0.0.9", "10.0.0.5", "10.0.0.5")]
    assert reads == [1, 1, 0, 1, 1, 1]  # (new, confirmed, remembered, moved, moved back, confirmed)
    assert issue_from("10.0.0.5") == 0
    auth.forget_credentials()
    assert issue_from("10.0.0.5") == 1
    session.expire_all()
    moves = session.scalars(select(Event.data).where(Event.kind == "key_used_from_new_address").order_by(Event.seq))
    assert [m["address"] for m in moves] == ["10.0.0.5", "10.0.0.9", "10.0.0.5"]
