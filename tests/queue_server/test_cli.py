"""The khidmat command."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server.models import Centre, Counter, Device, Role, Service, Staff, Token, TokenState


def test_seed_demo_json_then_idempotent(app: Flask, session: Session) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo", "--json"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert data["created"] is True and data["centre"] == "demo"
    roles = [p["role"] for p in data["staff"]]
    assert roles.count("clerk") == 8 and roles.count("manager") == 1 and roles.count("admin") == 1
    assert all(p["password"] and p["api_key"].startswith("kq_staff_") for p in data["staff"])
    assert {d["kind"] for d in data["devices"]} == {"kiosk", "display"}
    session.close()
    assert session.scalar(select(func.count()).select_from(Service)) == 19
    assert session.scalar(select(func.count()).select_from(Counter)) == 8
    covered = {e.service_id for c in session.scalars(select(Counter)) for e in c.profile}
    assert covered == set(session.scalars(select(Service.id)))
    urdu = session.scalar(select(Service.name_ur).where(Service.code == "character"))
    assert urdu == "کریکٹر سرٹیفکیٹ"
    again = runner.invoke(args=["seed-demo", "--json"])
    assert json.loads(again.output) == {"centre": "demo", "created": False, "staff": [], "devices": []}
    assert session.scalar(select(func.count()).select_from(Staff)) == 10
    assert session.scalar(select(func.count()).select_from(Device)) == 2


def test_seeded_keys_and_passwords_work(app: Flask) -> None:
    runner = app.test_cli_runner()
    data = json.loads(runner.invoke(args=["seed-demo", "--json"]).output)
    client = app.test_client()
    clerk = next(p for p in data["staff"] if p["username"] == "clerk1")
    kiosk = next(d for d in data["devices"] if d["kind"] == "kiosk")
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {clerk['api_key']}"}).json["name"]
        == "Clerk 1"
    )
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {kiosk['key']}"}).json["device_kind"]
        == "kiosk"
    )
    token = client.get("/api/v1/auth/csrf").json["csrf_token"]
    login = client.post(
        "/api/v1/auth/login",
        json={"username": "clerk1", "password": clerk["password"]},
        headers={"X-CSRFToken": token},
    )
    assert login.status_code == 200 and login.json["role"] == "clerk"


def test_create_staff_and_device(app: Flask, session: Session, demo: object) -> None:
    runner = app.test_cli_runner()
    out = runner.invoke(args=["create-staff", "amina", "--role", "manager", "--centre", "demo", "--api-key"])
    assert out.exit_code == 0, out.output
    created = json.loads(out.output)
    assert created["password"] and created["api_key"]
    staff = session.scalar(select(Staff).where(Staff.username == "amina"))
    assert staff is not None and staff.role == Role.MANAGER
    dup = runner.invoke(args=["create-staff", "amina", "--role", "clerk", "--centre", "demo"])
    assert dup.exit_code != 0 and "taken" in dup.output
    nocentre = runner.invoke(args=["create-staff", "bilal", "--role", "clerk"])
    assert nocentre.exit_code != 0 and "--centre" in nocentre.output
    dev = runner.invoke(
        args=[
            "create-device",
            "Kiosk 2",
            "--centre",
            "demo",
            "--kind",
            "kiosk",
            "--printer",
            '{"kind": "network", "host": "127.0.0.1"}',
        ]
    )
    assert dev.exit_code == 0 and json.loads(dev.output)["key"].startswith("kq_dev_")
    bad = runner.invoke(
        args=["create-device", "K3", "--centre", "demo", "--kind", "kiosk", "--printer", "{nope"]
    )
    assert bad.exit_code != 0 and "not JSON" in bad.output


def test_end_of_day_command(app: Flask, session: Session, centre: Centre) -> None:
    from queue_server import operations as ops
    from queue_server.actors import SYSTEM

    runner = app.test_cli_runner()
    for _ in range(2):
        ops.issue_token(session, centre, "character", SYSTEM)
    session.commit()
    out = runner.invoke(args=["end-of-day", "--centre", "demo"])
    assert out.exit_code == 0 and "demo: closed 2 tokens, 0 counters" in out.output
    session.close()
    assert set(session.scalars(select(Token.state))) == {TokenState.CLOSED}
    missing = runner.invoke(args=["end-of-day", "--centre", "nowhere"])
    assert missing.exit_code != 0 and "no centre nowhere" in missing.output


def test_token_actions_by_hand_come_from_the_one_registry(
    app: Flask, session: Session, centre: Centre, actor_of: Any
) -> None:
    from queue_server import operations as ops
    from queue_server.actors import SYSTEM

    clerk = actor_of("clerk1")
    counter = session.scalar(select(Counter).where(Counter.centre_id == centre.id, Counter.number == 1))
    assert counter is not None
    ops.open_counter(session, counter.id, clerk)
    issued = ops.issue_token(session, centre, "character", SYSTEM).token
    called = ops.call_next(session, counter.id, clerk)
    assert called is not None and called.id == issued.id
    token_id, number = issued.id, issued.number
    session.commit()
    runner = app.test_cli_runner()

    def run(*args: str) -> Any:
        return runner.invoke(args=["token", *args])

    started = run("start", str(token_id), "--as", "clerk1")
    assert started.exit_code == 0 and started.output.strip() == f"{number}: serving", started.output
    wrong = run("complete", str(token_id), "--as", "clerk1", "--outcome", "lunch")
    assert wrong.exit_code == 2 and "Invalid outcome" in wrong.output, wrong.output
    unknown = run("teleport", str(token_id), "--as", "clerk1")
    assert unknown.exit_code == 2 and "Unknown action." in unknown.output
    session.close()
    assert session.get(Token, token_id).state == TokenState.SERVING  # the refusals changed nothing
    done = run("complete", str(token_id), "--as", "clerk1", "--outcome", "referred")
    assert done.exit_code == 0 and done.output.strip() == f"{number}: done", done.output
    session.close()
    assert session.get(Token, token_id).outcome == "referred"
    again = run("cancel", str(token_id), "--as", "clerk1")
    assert again.exit_code == 2 and "error:" in again.output  # a finished token cannot be cancelled
    nobody = run("start", str(token_id), "--as", "ghost")
    assert nobody.exit_code != 0 and "no staff member 'ghost'" in nobody.output


def test_counter_and_request_actions_by_hand_come_from_the_one_registry(
    app: Flask, session: Session, centre: Centre
) -> None:
    from queue_server import operations as ops
    from queue_server.actors import SYSTEM
    from queue_server.models import ServiceRequest

    issued = ops.issue_token(session, centre, "character", SYSTEM).token
    token_id, number = issued.id, issued.number
    session.commit()
    runner = app.test_cli_runner()

    def run(*args: str) -> Any:
        return runner.invoke(args=list(args))

    opened = run("counter", "open", "demo", "1", "--as", "clerk1")
    assert opened.exit_code == 0 and opened.output.strip() == "1: open", opened.output
    called = run("counter", "call-next", "demo", "1", "--as", "clerk1")
    assert called.exit_code == 0 and called.output.strip() == f"{number}: called", called.output
    busy = run("counter", "call_next", "demo", "1", "--as", "clerk1")
    assert busy.exit_code == 2 and "error:" in busy.output  # still busy with the called token
    assert run("counter", "pause", "demo", "9", "--as", "clerk1").exit_code != 0  # no counter 9
    assert run("token", "start", str(token_id), "--as", "clerk1").exit_code == 0
    session.close()
    request_id = session.scalar(select(ServiceRequest.id).where(ServiceRequest.token_id == token_id))
    assert request_id is not None
    rejected = run("request", "reject", str(request_id), "--as", "clerk1", "--reason", "no papers")
    assert rejected.exit_code == 0 and rejected.output.strip().endswith(": rejected"), rejected.output
    again = run("request", "advance", str(request_id), "--as", "clerk1")
    assert again.exit_code == 2 and "error:" in again.output  # a closed request moves no further
    session.close()
    assert session.get(ServiceRequest, request_id).reason == "no papers"
    assert run("token", "complete", str(token_id), "--as", "clerk1", "--outcome", "not_eligible").exit_code == 0
    for step, state in (("pause", "paused"), ("resume", "open"), ("close", "closed")):
        done = run("counter", step, "demo", "1", "--as", "clerk1")
        assert done.exit_code == 0 and done.output.strip() == f"1: {state}", (step, done.output)
    session.close()
    assert session.get(Token, token_id).state == TokenState.DONE
