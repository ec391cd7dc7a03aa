"""A busy morning at the demo centre, played through the real operations at moving clock
times (time-machine), and the figures of a day computed independently from the raw event
log, to check the reports against."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server import operations
from queue_server.auth import staff_actor
from queue_server.models import Centre, Counter, Event, Service, Staff, Token, TokenState

TZ = ZoneInfo("Asia/Karachi")
TUESDAY = date(2025, 3, 11)
# counter number -> clerk; the services come from the demo work profiles
DESKS = {1: "clerk1", 3: "clerk3", 4: "clerk4", 8: "clerk8"}
MIX = [("character", 5), ("character_other", 2), ("employee", 2), ("tenant", 2), ("vehicle", 2), ("bank", 3)]


def local(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm, ss), TZ)


def simulate_day(
    session: Session,
    centre: Centre,
    day: date,
    *,
    seed: int = 7,
    close: bool = True,
    last_arrival: tuple[int, int] = (11, 30),
) -> int:
    """Play a day from 08:55 local time; return the number of tokens issued. Arrivals from
    09:00 to ``last_arrival`` (busier at 10-11), four counters calling, starting,
    completing (service 2-9 min), a few no-shows, a requeue, a cancel, a transfer and a
    pause; what is still waiting at the end is closed by the end of day."""
    rng = random.Random(seed)
    actor = {
        n: staff_actor(session.scalars(select(Staff).where(Staff.username == u)).one())
        for n, u in DESKS.items()
    }
    manager = staff_actor(session.scalars(select(Staff).where(Staff.username == "manager")).one())
    counters = {c.number: c for c in session.scalars(select(Counter).where(Counter.centre_id == centre.id))}
    weights = [w for _, w in MIX]
    issued = 0
    desk: dict[int, dict[str, Any]] = {n: {"token": None, "until": None, "step": None} for n in DESKS}
    with time_machine.travel(local(day, 8, 55), tick=False) as clock:
        for n in DESKS:
            operations.open_counter(session, counters[n].id, actor[n])
        session.commit()
        minute = local(day, 9, 0)
        end_issue = local(day, *last_arrival)
        end = end_issue + timedelta(minutes=45)
        kinds: list[str] = []
        paused = False
        resume_at: datetime | None = None
        while minute < end:
            clock.move_to(minute + timedelta(seconds=rng.randint(0, 20)))
            if minute < end_issue:
                busy = 10 <= minute.hour < 11
                for _ in range(rng.choice([0, 1, 1, 2, 2, 3] if busy else [0, 0, 1, 1, 2])):
                    code = rng.choices([c for c, _ in MIX], weights)[0]
                    operations.issue_token(session, centre, code, manager)
                    issued += 1
                session.commit()
            if resume_at is None and minute >= local(day, 11, 0) and desk[4]["token"] is None:
                operations.pause_counter(session, counters[4].id, actor[4])
                session.commit()
                paused, resume_at = True, minute + timedelta(minutes=20)
            if paused and resume_at is not None and minute >= resume_at:
                operations.resume_counter(session, counters[4].id, actor[4])
                session.commit()
                paused = False
            for n, state in desk.items():
                if n == 4 and paused:
                    continue
                clock.move_to(minute + timedelta(seconds=20 + 5 * n + rng.randint(0, 4)))
                token_id = state["token"]
                now = datetime.now(UTC)
                if token_id is None:
                    token = operations.call_next(session, counters[n].id, actor[n])
                    if token is not None:
                        state.update(token=token.id, step="called", until=now + timedelta(minutes=1))
                elif state["until"] is not None and now >= state["until"]:
                    token = session.get(Token, token_id)
                    assert token is not None
                    if state["step"] == "called":
                        if rng.random() < 0.1:
                            operations.no_show(session, token_id, actor[n])
                            kinds.append("no_show")
                            state.update(token=None, step=None, until=None)
                        else:
                            operations.start(session, token_id, actor[n])
                            state.update(step="serving", until=now + timedelta(minutes=rng.randint(2, 9)))
                    elif state["step"] == "serving":
                        if n == 1 and "transfer" not in kinds and token.service.code == "character":
                            operations.transfer(session, token_id, actor[n], service_code="verification")
                            kinds.append("transfer")
                        else:
                            operations.complete(session, token_id, actor[n])
                        state.update(token=None, step=None, until=None)
                session.commit()
            if minute == local(day, 10, 30):
                waiting = session.scalars(
                    select(Token)
                    .where(Token.centre_id == centre.id, Token.state == TokenState.WAITING)
                    .order_by(Token.id)
                ).first()
                if waiting is not None:
                    operations.cancel(session, waiting.id, manager, reason="left")
                    session.commit()
            if minute == local(day, 11, 45):
                gone = session.scalars(
                    select(Token)
                    .where(Token.centre_id == centre.id, Token.state == TokenState.NO_SHOW)
                    .order_by(Token.id)
                ).first()
                if gone is not None:
                    operations.requeue(session, gone.id, manager)
                    session.commit()
            minute += timedelta(minutes=1)
        if close:
            clock.move_to(local(day, 16, 30))
            operations.end_of_day(session, centre, manager)
            session.commit()
    return issued


@dataclass
class Expect:
    arrivals: int = 0
    served: int = 0
    no_shows: int = 0
    waits: list[int] = field(default_factory=list)
    within: int = 0
    service: list[int] = field(default_factory=list)
    eta_errors: list[int] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        waits = sorted(self.waits)
        p90 = waits[max(1, math.ceil(0.9 * len(waits))) - 1] if waits else None
        return {
            "arrivals": self.arrivals,
            "served": self.served,
            "no_shows": self.no_shows,
            "called": len(waits),
            "avg_wait_seconds": round(sum(waits) / len(waits), 1) if waits else None,
            "p90_wait_seconds": p90,
            "within_target_share": round(self.within / len(waits), 4) if waits else None,
            "avg_service_seconds": round(sum(self.service) / len(self.service), 1) if self.service else None,
            "eta_mae_seconds": (
                round(sum(abs(e) for e in self.eta_errors) / len(self.eta_errors), 1)
                if self.eta_errors
                else None
            ),
        }


def expected_from_events(
    session: Session, centre: Centre, day: date, only: set[int] | None = None
) -> dict[str, dict[Any, dict[str, Any]]]:
    """The day's figures from the raw event log only (not the tokens table): per service,
    hour, counter (its number) and clerk (username), and in total; ``only``: these tokens."""
    start = local(day, 0, 0).astimezone(UTC)
    events = session.scalars(
        select(Event)
        .where(
            Event.centre_id == centre.id, Event.at >= start, Event.at < start + timedelta(days=1, hours=12)
        )
        .order_by(Event.seq)
    ).all()
    targets = {
        s.id: s.target_wait_minutes * 60
        for s in session.scalars(select(Service).where(Service.centre_id == centre.id))
    }
    codes = {s.id: s.code for s in session.scalars(select(Service))}
    numbers = {c.id: c.number for c in session.scalars(select(Counter))}
    users = {f"staff:{s.id}": s.username for s in session.scalars(select(Staff))}
    tokens: dict[int, dict[str, Any]] = {}
    for e in events:
        if e.token_id is None:
            continue
        if only is not None and e.token_id not in only:
            continue
        if e.kind == "token_issued":
            tokens[e.token_id] = {
                "issued": e.at,
                "service": e.service_id,
                "eta": e.data.get("eta"),
                "first_call": None,
                "caller": None,
                "counter": None,
                "started": None,
                "end": None,
            }
            continue
        t = tokens.get(e.token_id)
        if t is None:
            continue
        if e.kind in ("token_called", "token_called_specific"):
            if t["first_call"] is None:
                t["first_call"] = e.at
            t["caller"] = users.get(e.actor)
            t["counter"] = numbers.get(e.counter_id)
        elif e.kind == "token_started":
            t["started"] = e.at
        elif e.kind == "token_completed":
            t["end"] = ("done", e.at)
        elif e.kind == "token_no_show":
            t["end"] = ("no_show", e.at)
        elif e.kind == "token_requeued":
            t["end"] = None
        elif e.kind in ("token_cancelled", "token_closed"):
            t["end"] = (e.kind, e.at)
    groups: dict[str, dict[Any, Expect]] = {
        k: defaultdict(Expect) for k in ("service", "hour", "counter", "clerk", "total")
    }
    for t in tokens.values():
        keys = {
            "service": codes[t["service"]],
            "hour": t["issued"].astimezone(TZ).hour,
            "counter": t["counter"],
            "clerk": t["caller"],
            "total": "all",
        }
        for dim, key in keys.items():
            x = groups[dim][key]
            x.arrivals += 1
            end = t["end"]
            if end and end[0] == "done":
                x.served += 1
                x.service.append(int((end[1] - t["started"]).total_seconds()))
            if end and end[0] == "no_show":
                x.no_shows += 1
            if t["first_call"] is not None:
                wait = int((t["first_call"] - t["issued"]).total_seconds())
                x.waits.append(wait)
                if wait <= targets[t["service"]]:
                    x.within += 1
                if t["eta"] is not None:
                    x.eta_errors.append(wait - t["eta"] * 60)
    return {dim: {k: v.figures() for k, v in g.items()} for dim, g in groups.items()}
