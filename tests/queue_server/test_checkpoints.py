"""Signed checkpoints anchor the event chain: an insider who can write the database, and
rewrites history recomputing every hash and the head, is still found.

Each rewrite test first shows that the bare chain check (``verify_chain``, what ``khidmat
audit verify`` did before checkpoints) passes the rewritten history, then that the
anchored check names it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from queue_server import checkpoints
from queue_server import operations as ops
from queue_server.actors import SYSTEM, Actor
from queue_server.audit import record_hash, verify_chain
from queue_server.audit_verify import GENESIS_HASH, verify_export
from queue_server.checkpoints import (
    make_checkpoint,
    verify_centre,
    verify_witnessed,
    witness_checkpoint,
)
from queue_server.clock import local_day
from queue_server.errors import Conflict, ValidationFailed
from queue_server.models import Centre, ChainHead, Counter, Event, WitnessedCheckpoint
from tests.queue_server.test_audit import _guard_restored, disable_guard

ROOT = Path(__file__).resolve().parents[2]
__all__ = ["_guard_restored"]  # autouse, from the audit tests


def serve_some(session: Session, centre: Centre, clerk: Actor, counter: Counter, n: int) -> None:
    for _ in range(n):
        ops.issue_token(session, centre, "character", SYSTEM)
    session.commit()
    for _ in range(n):
        token = ops.call_next(session, counter.id, clerk)
        assert token is not None
        ops.start(session, token.id, clerk)
        ops.complete(session, token.id, clerk)
        session.commit()


@pytest.fixture
def day(
    session: Session, centre: Centre, actor_of: Callable[[str], Actor], counter_no: Callable[[int], Counter]
) -> None:
    """A day with an hourly checkpoint in the middle, more work after it, and the end of day
    with its checkpoint; then a little of the next morning, not yet checkpointed."""
    clerk = actor_of("clerk1")
    ops.open_counter(session, counter_no(1).id, clerk)
    serve_some(session, centre, clerk, counter_no(1), 3)
    assert make_checkpoint(session, centre, SYSTEM, "interval") is not None
    session.commit()
    serve_some(session, centre, clerk, counter_no(1), 3)
    ops.end_of_day(session, centre, actor_of("manager"))
    session.commit()


def events_of(session: Session, centre: Centre) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.centre_id == centre.id).order_by(Event.seq)))


def recompute_from(session: Session, centre: Centre, seq: int) -> None:
    """What an insider does after changing the past: rehash every later record, fix the head."""
    rows = events_of(session, centre)
    prev = GENESIS_HASH
    for event in rows:
        if event.seq >= seq:
            event.prev_hash = prev
            event.hash = record_hash(
                prev,
                centre_id=event.centre_id,
                seq=event.seq,
                at=event.at,
                kind=event.kind,
                actor=event.actor,
                token_id=event.token_id,
                counter_id=event.counter_id,
                service_id=event.service_id,
                data=event.data,
            )
        prev = event.hash
    session.flush()
    session.execute(
        text("UPDATE event_chain_heads SET last_seq = :s, last_hash = :h WHERE centre_id = :c"),
        {"s": rows[-1].seq, "h": prev, "c": centre.id},
    )
    session.commit()


def reasons(report: Any) -> list[str]:
    return [f.reason for f in report.findings]


def test_an_intact_day_verifies_against_its_checkpoints(session: Session, centre: Centre, day: None) -> None:
    report = verify_centre(session, centre)
    assert report.ok, report.summary()
    assert report.checkpoints == 2
    assert len(checkpoints.logged_checkpoints(_app(), centre.id)) == 2  # the copies outside the database
    kinds = [e.kind for e in events_of(session, centre)]
    assert kinds.count("checkpoint") == 2 and kinds[-1] == "checkpoint" and kinds[-2] == "day_closed"
    assert report.unanchored == 1  # the end-of-day checkpoint record itself


def test_edit_and_recompute_every_later_hash_is_found(
    app: Flask, session: Session, centre: Centre, day: None
) -> None:
    disable_guard(session)
    victim = next(e for e in events_of(session, centre) if e.kind == "token_called")
    victim.actor = "staff:999"  # blame another clerk for a call
    session.flush()
    recompute_from(session, centre, victim.seq)
    assert verify_chain(session, centre.id).ok  # the bare chain is fooled
    report = verify_centre(session, centre)
    assert not report.ok and "history rewritten" in reasons(report)
    result = app.test_cli_runner().invoke(args=["audit", "verify", "--centre", "demo"])
    assert result.exit_code == 1 and "history rewritten" in result.output, result.output


def test_delete_the_tail_and_fix_the_head_is_found(session: Session, centre: Centre, day: None) -> None:
    disable_guard(session)
    rows = events_of(session, centre)
    cut = rows[-6].seq  # the last few calls, the day's close and its checkpoint
    session.execute(text("DELETE FROM events WHERE centre_id = :c AND seq >= :s"), {"c": centre.id, "s": cut})
    session.commit()
    session.expire_all()
    last = events_of(session, centre)[-1]
    session.execute(
        text("UPDATE event_chain_heads SET last_seq = :s, last_hash = :h WHERE centre_id = :c"),
        {"s": last.seq, "h": last.hash, "c": centre.id},
    )
    session.commit()
    assert verify_chain(session, centre.id).ok
    report = verify_centre(session, centre)
    assert not report.ok
    assert "checkpoint missing from the chain" in reasons(report) or "records missing at the end" in reasons(
        report
    )
    assert any(
        f.reason == "records missing at the end" and "checkpoint log" in f.detail for f in report.findings
    )


def test_insert_a_back_dated_record_and_recompute_is_found(
    session: Session, centre: Centre, day: None
) -> None:
    disable_guard(session)
    rows = events_of(session, centre)
    at = rows[3].seq
    session.execute(
        text("UPDATE events SET seq = -seq WHERE centre_id = :c AND seq >= :s"), {"c": centre.id, "s": at}
    )
    session.execute(
        text("UPDATE events SET seq = 1 - seq WHERE centre_id = :c AND seq < 0"), {"c": centre.id}
    )
    session.commit()
    session.expire_all()
    session.add(
        Event(
            centre_id=centre.id,
            seq=at,
            at=rows[3].at - timedelta(seconds=1),
            kind="token_cancelled",
            actor="staff:1",
            token_id=rows[3].token_id,
            data={"note": "citizen left"},
            prev_hash="",
            hash="",
        )
    )
    session.flush()
    recompute_from(session, centre, at)
    assert verify_chain(session, centre.id).ok
    report = verify_centre(session, centre)
    assert not report.ok and "history rewritten" in reasons(report)


def test_a_checkpoint_rewritten_to_fit_loses_its_signature(
    session: Session, centre: Centre, day: None
) -> None:
    disable_guard(session)
    rows = events_of(session, centre)
    victim = rows[2]
    victim.actor = "staff:999"
    session.flush()
    recompute_from(session, centre, victim.seq)
    # the insider also rewrites each checkpoint in the chain to the new heads, but cannot sign them
    rows = events_of(session, centre)
    by_seq = {e.seq: e.hash for e in rows}
    for event in rows:
        if event.kind == "checkpoint":
            data = dict(event.data)
            data["signed"] = {**data["signed"], "head": by_seq[data["signed"]["seq"]]}
            event.data = data
    session.flush()
    recompute_from(session, centre, victim.seq)
    checkpoints.log_path(_app()).unlink()  # and removes the log
    assert verify_chain(session, centre.id).ok
    report = verify_centre(session, centre)
    assert reasons(report).count("checkpoint signature invalid") == 2


def _app() -> Flask:
    from flask import current_app

    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]


def test_the_key_lives_outside_the_database_and_is_reused(app: Flask, session: Session, day: None) -> None:
    path = checkpoints.key_path(app)
    assert path.parent == Path(app.instance_path) and path.exists()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    signer = checkpoints.load_signer(path)
    assert signer.public_key == checkpoints.signer_for(app).public_key
    pem = path.read_text()
    dump = json.dumps([e.data for e in session.scalars(select(Event))])
    assert "PRIVATE KEY" in pem and pem.splitlines()[1] not in dump


def test_a_configured_key_path_is_used(tmp_path: Path, app_config: dict[str, Any]) -> None:
    from queue_server.app import create_app

    key = tmp_path / "keys" / "centre.pem"
    app = create_app({**app_config, "AUDIT_SIGNING_KEY_PATH": str(key)})
    assert checkpoints.signer_for(app).public_key == checkpoints.load_signer(key).public_key
    assert not (Path(app.instance_path) / checkpoints.KEY_FILE).exists()


def test_the_interval_job_signs_moved_heads_only(
    app: Flask,
    session: Session,
    centre: Centre,
    actor_of: Callable[[str], Actor],
    counter_no: Callable[[int], Counter],
) -> None:
    job = checkpoints.checkpointer()
    assert job is not None and job.interval == app.config["AUDIT_CHECKPOINT_SECONDS"]
    ops.issue_token(session, centre, "character", SYSTEM)
    session.commit()
    assert job.run_once() == 1
    assert job.run_once() == 0  # nothing moved
    ops.issue_token(session, centre, "character", SYSTEM)
    session.commit()
    assert job.run_once() == 0  # moved, but checkpointed less than half an interval ago
    job.interval = 0.0001
    assert job.run_once() == 1


def test_the_interval_job_runs_by_itself(app: Flask, session: Session, centre: Centre) -> None:
    ops.issue_token(session, centre, "character", SYSTEM)
    session.commit()
    job = checkpoints.checkpointer()
    assert job is not None
    job.interval = 0.05
    job.start()  # (ensure_started never starts a worker in testing)
    deadline = time.monotonic() + 20
    count = 0
    while time.monotonic() < deadline and count == 0:
        time.sleep(0.05)
        session.rollback()
        count = session.scalar(select(func.count()).select_from(Event).where(Event.kind == "checkpoint")) or 0
    assert count >= 1
    checkpoints.init_app(app)  # a new job takes over; the old one stops at its next wake


def test_export_verifies_standalone_and_finds_a_perfect_rewrite(
    app: Flask, session: Session, centre: Centre, day: None, tmp_path: Path
) -> None:
    today = local_day(centre.tz).isoformat()
    out = tmp_path / "demo.json"
    result = app.test_cli_runner().invoke(
        args=["audit", "export", "--centre", "demo", "--date", today, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["events"][-1]["kind"] == "checkpoint" and document["public_key"]
    assert verify_export(document).ok
    # the standalone verifier, in its own process, imports nothing from Flask
    probe = (
        "import sys; from queue_server import audit_verify as v; rc = v.main(sys.argv[1:]); "
        "print('flask' in sys.modules); sys.exit(rc)"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe, str(out)], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert run.returncode == 0 and "demo: ok" in run.stdout and run.stdout.strip().endswith("False"), run
    run = subprocess.run(
        [sys.executable, "-m", "queue_server.audit_verify", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert app.test_cli_runner().invoke(args=["audit", "verify-file", str(out)]).exit_code == 0

    # rewrite a record inside the file and rehash everything after it
    events = document["events"]
    events[4]["actor"] = "staff:999"
    prev = events[4]["prev_hash"]
    for event in events[4:]:
        event["prev_hash"] = prev
        event["hash"] = record_hash(
            prev,
            **{
                k: event[k]
                for k in ("centre_id", "seq", "kind", "actor", "token_id", "counter_id", "service_id", "data")
            },
            at=_parse(event["at"]),
        )
        prev = event["hash"]
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document))
    run = subprocess.run(
        [sys.executable, "-m", "queue_server.audit_verify", str(tampered)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 1 and "history rewritten" in run.stdout, run.stdout
    # a file re-signed with the forger's own key fails against the key the inspector trusts
    assert not verify_export(document, trusted_key="AAAA" + document["public_key"][4:]).ok


def _parse(at: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(at)


def test_province_witnesses_signed_heads(session: Session, centre: Centre, day: None) -> None:
    chain = [e.data for e in events_of(session, centre) if e.kind == "checkpoint"]
    first = witness_checkpoint(session, centre, chain[0])
    assert witness_checkpoint(session, centre, chain[0]).id == first.id  # kept once
    second = witness_checkpoint(session, centre, chain[1])
    session.commit()
    assert second.prev_hash == first.hash and verify_witnessed(session) == []

    forged = {**chain[1], "signed": {**chain[1]["signed"], "head": "f" * 64}}
    with pytest.raises(ValidationFailed, match="signature"):
        witness_checkpoint(session, centre, forged)
    other = Centre(code="other", name_en="Other", name_ur="دوسرا")
    with pytest.raises(ValidationFailed, match="another centre"):
        witness_checkpoint(session, other, chain[1])
    # the centre re-signs a different head for an already witnessed record (a rewrite with the key)
    resigned = checkpoints.signer_for(_app()).sign({**chain[1]["signed"], "head": "e" * 64})
    with pytest.raises(Conflict, match="rewritten"):
        witness_checkpoint(session, centre, resigned)
    intruder = checkpoints.load_signer(Path(_app().instance_path) / "intruder.pem").sign(chain[1]["signed"])
    with pytest.raises(Conflict, match="another key"):
        witness_checkpoint(session, centre, intruder)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(WitnessedCheckpoint)) == 2


def test_the_province_copy_finds_a_rewrite_that_removed_every_other_trace(
    session: Session, centre: Centre, day: None
) -> None:
    """The insider rewrites history, drops every checkpoint from the chain and deletes the
    instance's checkpoint log: only the province's witnessed heads remain, and suffice."""
    for data in [e.data for e in events_of(session, centre) if e.kind == "checkpoint"]:
        witness_checkpoint(session, centre, data)
    session.commit()
    disable_guard(session)
    victim = events_of(session, centre)[2]
    victim.actor = "staff:999"
    session.execute(text("DELETE FROM events WHERE centre_id = :c AND kind = 'checkpoint'"), {"c": centre.id})
    session.commit()
    session.expire_all()
    rows = events_of(session, centre)
    session.execute(text("UPDATE events SET seq = -seq WHERE centre_id = :c"), {"c": centre.id})
    for n, event in enumerate(rows, start=1):
        session.execute(text("UPDATE events SET seq = :n WHERE id = :i"), {"n": n, "i": event.id})
    session.commit()
    session.expire_all()
    recompute_from(session, centre, 1)
    checkpoints.log_path(_app()).unlink()
    assert verify_chain(session, centre.id).ok
    report = verify_centre(session, centre)
    assert any(f.reason == "history rewritten" and "province" in f.detail for f in report.findings), (
        report.summary()
    )


def test_daily_report_prints_the_checkpoint_fingerprint_and_qr(
    client: FlaskClient, passwords: dict[str, str], session: Session, centre: Centre, day: None
) -> None:
    from tests.counters.manager.test_reports import login

    login(client, "manager", passwords["manager"])
    today = local_day(centre.tz).isoformat()
    page = client.get(f"/manage/reports/daily?day={today}&lang=en")
    assert page.status_code == 200
    closing = next(e.data for e in reversed(events_of(session, centre)) if e.kind == "checkpoint")
    from queue_server.audit_verify import fingerprint

    assert fingerprint(closing) in page.text and "<svg" in page.text
    assert closing["signed"]["reason"] == "end_of_day"
    urdu = client.get(f"/manage/reports/daily?day={today}&lang=ur")
    assert urdu.status_code == 200 and fingerprint(closing) in urdu.text and "دن کا دستخط شدہ چیک پوائنٹ" in urdu.text


def test_head_row_and_chain_agree_after_checkpoints(session: Session, centre: Centre, day: None) -> None:
    head = session.get(ChainHead, centre.id)
    rows = events_of(session, centre)
    assert head is not None and (head.last_seq, head.last_hash) == (rows[-1].seq, rows[-1].hash)
