"""khidmat seed-history and khidmat simulate on the demo centre, through the real
operations and the real database."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server.audit import verify_chain
from queue_server.clock import local_day
from queue_server.models import Centre, Event, Token, TokenState
from queue_server.seed import SeedResult
from queue_server.simulation import history
from queue_server.simulation.centre import recorded_days
from queue_server.simulation.engine import simulate

PLAN = """
fairness_k: 3
counters:
  - number: 1
    shifts: ["08:00-16:00"]
  - number: 5
    shifts: ["08:00-16:00"]
  - number: 9
    shifts: ["09:00-13:00"]
    services: {learner: 2, licence_renewal: 1}
"""


def count(session: Session, model: type, *where: object) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]


@pytest.mark.slow
def test_seed_history_then_simulate(app: Flask, session: Session, demo: SeedResult, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    played = runner.invoke(args=["seed-history", "--days", "2", "--scale", "0.08", "--seed", "3"])
    assert played.exit_code == 0, played.output
    session.expire_all()
    centre = session.scalar(select(Centre).where(Centre.code == "demo"))
    assert centre is not None
    days = recorded_days(session, centre, local_day(centre.tz) + timedelta(days=1))
    assert 1 <= len(days) <= 2  # a Sunday is closed
    # Made by the operations: an issue event per token, the chain intact, the day closed.
    tokens = count(session, Token)
    assert tokens > 10
    assert count(session, Event, Event.kind == "token_issued") == tokens
    assert count(session, Event, Event.kind == "counter_opened") >= 7
    assert count(session, Token, Token.state.in_([TokenState.WAITING, TokenState.CALLED])) == 0
    assert verify_chain(session, centre.id).ok
    record = history.record_day(session, centre, days[-1])
    called = session.scalars(
        select(Token).where(Token.business_day == days[-1], Token.first_called_at.is_not(None))
    )
    waits = sorted(round((t.first_called_at - t.issued_at).total_seconds()) for t in called)  # type: ignore[operator]
    assert sorted(round(v.wait) for v in record.visits if v.is_first and v.wait is not None) == waits
    # Re-run with what happened to each token once called, the simulator calls every token
    # when the day did: the same dispatch rule and the same counter hours as the record.
    trace, stays = history.replay_inputs(record)
    fitted = history.fit_services(history.base_services(session, centre), [record])
    rerun = simulate(fitted, record.plan, 0, trace=trace, stays=stays)
    assert sorted(round(v.wait, 3) for v in rerun.visits if v.is_first and v.wait is not None) == sorted(
        round(v.wait, 3) for v in record.visits if v.is_first and v.wait is not None
    )
    assert len(record.plan.counters) >= 7  # counter 8 opens at 10:00, lunch breaks as pauses
    assert any(len(c.shifts) == 2 for c in record.plan.counters)
    again = runner.invoke(args=["seed-history", "--days", "2", "--scale", "0.08"])
    assert again.exit_code == 0 and "0 days played" in again.output
    session.expire_all()
    assert count(session, Token) == tokens  # days with tokens are skipped

    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    day = (days[-1] + timedelta(days=7)).isoformat()
    result = runner.invoke(
        args=["simulate", "--centre", "demo", "--date", day, "--plan", str(plan), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["history_days"] == [d.isoformat() for d in days]
    assert [c["number"] for c in data["edited_plan"]["counters"]] == [1, 5, 9]
    assert data["edited_plan"]["counters"][2]["services"] == {"learner": 2, "licence_renewal": 1}
    assert len(data["today"]["runs"]) == 5 and data["today"]["services"] and data["edited"]["services"]
    text = runner.invoke(args=["simulate", "--centre", "demo", "--date", day, "--plan", str(plan)])
    assert text.exit_code == 0 and "over 5 simulated days" in text.output
    session.expire_all()
    assert count(session, Token) == tokens  # simulating writes nothing


@pytest.mark.slow
def test_simulate_refuses_bad_input_clearly(app: Flask, demo: SeedResult, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    no_history = runner.invoke(args=["simulate", "--centre", "demo"])
    assert no_history.exit_code != 0 and "khidmat seed-history" in no_history.output
    assert "no centre 'nope'" in runner.invoke(args=["simulate", "--centre", "nope"]).output
    assert "YYYY-MM-DD" in runner.invoke(args=["simulate", "--centre", "demo", "--date", "5/12"]).output
    runner.invoke(args=["seed-history", "--days", "2", "--scale", "0.03"])
    cases = {
        "counters: []": "non-empty list",
        "counters: [{number: 1, shifts: ['16:00-08:00']}]": "must end after it starts",
        "counters: [{number: 1, shifts: ['8am']}]": "HH:MM-HH:MM",
        "counters: [{number: 12, shifts: ['08:00-09:00']}]": "not configured",
        "counters: [{number: 1, shifts: ['08:00-09:00'], services: {nope: 1}}]": "no service 'nope'",
        "counters: [{number: 1, shifts: ['08:00-09:00'], services: {bank: 12}}]": "1-9",
        "counters: [{number: 1, shifts: ['08:00-09:00']}]\nbogus: 1": "Unknown key",
        "counters: [": "not valid YAML",
    }
    for text, message in cases.items():
        plan = tmp_path / "bad.yaml"
        plan.write_text(text, encoding="utf-8")
        result = runner.invoke(args=["simulate", "--centre", "demo", "--plan", str(plan)])
        assert result.exit_code != 0 and message in result.output, (text, result.output)
