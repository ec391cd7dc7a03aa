"""Figures for the manager's live view, the province view and the reports.

Sources. The tokens table is the event log's projection: every operation changes a token
and appends its event in one transaction, so a token's ``issued_at``, ``first_called_at``,
``started_at``, ``finished_at``, state and counter are the times and places of its events.
Which clerk called a token is only in the event log (the actor of ``token_called``), and is
read from there. Requests and citizen feedback come from their own tables.

Definitions (the same everywhere: live view, reports, CSV, the printed daily report):
- arrivals: tokens issued, counted for the service they were issued for and the local hour
  of issue; wait: from issue to the first call; only citizens who were called have one.
- within target: called within the service's target wait (share of those called).
- no-show rate: no-shows among the citizens called.
- service time: from start to completion of a served token.
- p90 wait: nearest rank (the smallest wait that 90 % of waits do not exceed).
- wait estimate error: |promised wait at issue - real wait|, over called tokens that got
  a promise.

Speed. Live figures read one day of one centre (index ``ix_tokens_centre_day``). Reports
read ``daily_stats``: rows per (day, service, hour, counter, clerk), written for a day once
no token of it is open (at end of day, or the first time a report needs it), and trusted
while the day's token counts per state are still those it was built from. So neither
grows with history: a month is 30 days of rows, whatever lies before it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import ARRAY, Integer, any_, bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from queue_server import estimate, queue_state
from queue_server.clock import local_day, utcnow
from queue_server.models import (
    Alert,
    Centre,
    Counter,
    CounterState,
    DailyStat,
    DailyStatDay,
    Device,
    DeviceKind,
    Event,
    Service,
    ServiceRequest,
    Staff,
    Token,
    TokenState,
)
from queue_server.models.token import OPEN_STATES

CALL_KINDS = ("token_called", "token_called_specific")
# Wait distribution buckets, in minutes: [0,5), [5,10) ... [120, inf)
WAIT_BUCKETS = (0, 5, 10, 15, 20, 30, 45, 60, 90, 120)
SCREEN_OFFLINE_SECONDS = 120
OPEN_STATE_VALUES = frozenset(s.value for s in OPEN_STATES)

try:  # feedback is optional: a deployment without it reports no scores
    from queue_server.models.feedback import Feedback
except ImportError:  # pragma: no cover
    Feedback = None  # type: ignore[assignment,misc]

try:
    from queue_server.operations.printing import FAULTS as PRINTER_FAULTS
except ImportError:  # pragma: no cover
    PRINTER_FAULTS = frozenset({"paper_out", "offline", "cover_open", "timeout"})
PRINTER_WARNINGS = frozenset({"paper_low"})


# Pure part ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenFact:
    """One token reduced to what the figures need."""

    token_id: int
    day: date
    service_id: int  # the service it was issued for
    hour: int  # local hour of issue
    counter_id: int  # the last counter it was at; 0: none
    staff_id: int  # the clerk who last called it; 0: none
    state: str
    wait_seconds: int | None  # issue to first call; None: never called
    service_seconds: int | None  # start to completion; served tokens only
    eta_seconds: int | None  # the wait promised at issue

    @property
    def key(self) -> tuple[date, int, int, int, int]:
        return (self.day, self.service_id, self.hour, self.counter_id, self.staff_id)


@dataclass(slots=True)
class Tally:
    """Counts and sums that add up across tokens, days and groups."""

    arrivals: int = 0
    called: int = 0
    served: int = 0
    no_shows: int = 0
    cancelled: int = 0
    unserved: int = 0
    within_target: int = 0
    waits: list[int] = field(default_factory=list)
    service_count: int = 0
    service_seconds: int = 0
    eta_count: int = 0
    eta_abs_error_seconds: int = 0
    eta_error_seconds: int = 0

    COUNTS: ClassVar[tuple[str, ...]] = (
        "arrivals",
        "called",
        "served",
        "no_shows",
        "cancelled",
        "unserved",
        "within_target",
        "service_count",
        "service_seconds",
        "eta_count",
        "eta_abs_error_seconds",
        "eta_error_seconds",
    )

    def add(self, fact: TokenFact, target_seconds: int) -> None:
        self.arrivals += 1
        if fact.state == TokenState.DONE.value:
            self.served += 1
        elif fact.state == TokenState.NO_SHOW.value:
            self.no_shows += 1
        elif fact.state == TokenState.CANCELLED.value:
            self.cancelled += 1
        elif fact.state == TokenState.CLOSED.value:
            self.unserved += 1
        if fact.wait_seconds is not None:
            self.called += 1
            self.waits.append(fact.wait_seconds)
            if fact.wait_seconds <= target_seconds:
                self.within_target += 1
            if fact.eta_seconds is not None:
                error = fact.wait_seconds - fact.eta_seconds
                self.eta_count += 1
                self.eta_abs_error_seconds += abs(error)
                self.eta_error_seconds += error
        if fact.service_seconds is not None:
            self.service_count += 1
            self.service_seconds += fact.service_seconds

    def merge(self, other: Tally) -> None:
        self.arrivals += other.arrivals
        self.called += other.called
        self.served += other.served
        self.no_shows += other.no_shows
        self.cancelled += other.cancelled
        self.unserved += other.unserved
        self.within_target += other.within_target
        self.service_count += other.service_count
        self.service_seconds += other.service_seconds
        self.eta_count += other.eta_count
        self.eta_abs_error_seconds += other.eta_abs_error_seconds
        self.eta_error_seconds += other.eta_error_seconds
        self.waits.extend(other.waits)

    def figures(self) -> dict[str, Any]:
        waits = sorted(self.waits)
        return {
            "arrivals": self.arrivals,
            "called": self.called,
            "served": self.served,
            "no_shows": self.no_shows,
            "cancelled": self.cancelled,
            "unserved": self.unserved,
            "no_show_rate": ratio(self.no_shows, self.called),
            "avg_wait_seconds": mean_of(sum(waits), len(waits)),
            "p90_wait_seconds": percentile(waits, 90),
            "max_wait_seconds": waits[-1] if waits else None,
            "within_target": self.within_target,
            "within_target_share": ratio(self.within_target, self.called),
            "avg_service_seconds": mean_of(self.service_seconds, self.service_count),
            "eta_count": self.eta_count,
            "eta_mae_seconds": mean_of(self.eta_abs_error_seconds, self.eta_count),
            "eta_bias_seconds": mean_of(self.eta_error_seconds, self.eta_count),
        }

    def as_row(self) -> dict[str, Any]:
        return {**{name: getattr(self, name) for name in self.COUNTS}, "waits": sorted(self.waits)}

    @classmethod
    def from_row(cls, row: Any) -> Tally:
        counts: dict[str, Any] = {name: int(getattr(row, name) or 0) for name in cls.COUNTS}
        tally = cls(**counts)
        tally.waits = [int(w) for w in (row.waits or [])]
        return tally


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def mean_of(total: float, count: int) -> float | None:
    return round(total / count, 1) if count else None


def percentile(sorted_values: Sequence[int], p: float) -> int | None:
    """Nearest-rank percentile of already sorted values; None for none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return int(sorted_values[rank - 1])


def wait_distribution(waits: Iterable[int]) -> list[dict[str, Any]]:
    counts = [0] * len(WAIT_BUCKETS)
    for wait in waits:
        minutes = wait / 60
        index = 0
        for i, start in enumerate(WAIT_BUCKETS):
            if minutes >= start:
                index = i
        counts[index] += 1
    out = []
    for i, start in enumerate(WAIT_BUCKETS):
        end = WAIT_BUCKETS[i + 1] if i + 1 < len(WAIT_BUCKETS) else None
        out.append({"from_minutes": start, "to_minutes": end, "count": counts[i]})
    return out


def tally_facts(
    facts: Iterable[TokenFact], targets: dict[int, int]
) -> dict[tuple[date, int, int, int, int], Tally]:
    """Group facts by (day, service, hour, counter, clerk); ``targets``: service id -> seconds."""
    out: dict[tuple[date, int, int, int, int], Tally] = defaultdict(Tally)
    for fact in facts:
        out[fact.key].add(fact, targets.get(fact.service_id, 20 * 60))
    return out


def group(
    tallies: Iterable[tuple[tuple[date, int, int, int, int], Tally]], part: Callable[[Any], Any]
) -> dict[Any, Tally]:
    """Merge grain tallies by one dimension of their key."""
    out: dict[Any, Tally] = defaultdict(Tally)
    for key, tally in tallies:
        out[part(key)].merge(tally)
    return out


# Reading the database --------------------------------------------------------------------


def as_utc(value: Any) -> datetime | None:
    """A datetime from a column or an aggregate (SQLite returns aggregates as text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def day_bounds(tz: ZoneInfo, first: date, last: date) -> tuple[datetime, datetime]:
    """UTC instants from the local start of ``first`` to the local end of ``last``."""
    start = datetime.combine(first, time.min, tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, tz).astimezone(UTC)
    return start, end


def staff_id_of(actor: str) -> int:
    kind, _, ident = actor.partition(":")
    return int(ident) if kind == "staff" and ident.isdigit() else 0


def callers(session: Session, centre: Centre, first: date, last: date) -> dict[int, int]:
    """token id -> the clerk who last called it, from the event log."""
    start, end = day_bounds(centre.tz, first, last)
    rows = session.execute(
        select(Event.token_id, Event.actor)
        .where(
            Event.centre_id == centre.id,
            Event.at >= start,
            Event.at < end + timedelta(hours=12),  # a late call of the day's last token
            Event.kind.in_(CALL_KINDS),
        )
        .order_by(Event.seq)
    ).all()
    return {token_id: staff_id_of(actor) for token_id, actor in rows if token_id is not None}


def token_facts(
    session: Session, centre: Centre, first: date, last: date, days: set[date] | None = None
) -> list[TokenFact]:
    tz = centre.tz
    rows = session.execute(
        select(
            Token.id,
            Token.business_day,
            Token.origin_service_id,
            Token.issued_at,
            Token.first_called_at,
            Token.started_at,
            Token.finished_at,
            Token.state,
            Token.counter_id,
            Token.eta_minutes,
        ).where(Token.centre_id == centre.id, Token.business_day.between(first, last))
    ).all()
    if days is not None:
        rows = [r for r in rows if r.business_day in days]
    if not rows:
        return []
    who = callers(session, centre, first, last)
    facts = []
    for r in rows:
        state = r.state.value if isinstance(r.state, TokenState) else str(r.state)
        wait = int((r.first_called_at - r.issued_at).total_seconds()) if r.first_called_at else None
        service = None
        if state == TokenState.DONE.value and r.started_at and r.finished_at:
            service = max(0, int((r.finished_at - r.started_at).total_seconds()))
        facts.append(
            TokenFact(
                token_id=r.id,
                day=r.business_day,
                service_id=r.origin_service_id,
                hour=r.issued_at.astimezone(tz).hour,
                counter_id=r.counter_id or 0,
                staff_id=who.get(r.id, 0) if r.first_called_at else 0,
                state=state,
                wait_seconds=max(0, wait) if wait is not None else None,
                service_seconds=service,
                eta_seconds=r.eta_minutes * 60 if r.eta_minutes is not None else None,
            )
        )
    return facts


def service_targets(session: Session, centre: Centre) -> dict[int, int]:
    rows = session.execute(
        select(Service.id, Service.target_wait_minutes).where(Service.centre_id == centre.id)
    ).all()
    return {sid: minutes * 60 for sid, minutes in rows}


def day_states(session: Session, centre: Centre, first: date, last: date) -> dict[date, dict[str, int]]:
    """Token count per state for each day with tokens (an index-only count)."""
    rows = session.execute(
        select(Token.business_day, Token.state, func.count())
        .where(Token.centre_id == centre.id, Token.business_day.between(first, last))
        .group_by(Token.business_day, Token.state)
    ).all()
    out: dict[date, dict[str, int]] = defaultdict(dict)
    for day, state, count in rows:
        out[day][state.value if isinstance(state, TokenState) else str(state)] = int(count)
    return dict(out)


def is_settled(states: dict[str, int]) -> bool:
    return not any(state in OPEN_STATE_VALUES and count for state, count in states.items())


GrainTallies = list[tuple[tuple[date, int, int, int, int], Tally]]


def store_days(
    session: Session,
    centre: Centre,
    tallies: dict[tuple[date, int, int, int, int], Tally],
    states: dict[date, dict[str, int]],
) -> None:
    """Replace the stored aggregates of these days (they must have no open token)."""
    days = sorted(states)
    if not days:
        return
    session.execute(delete(DailyStat).where(DailyStat.centre_id == centre.id, DailyStat.day.in_(days)))
    session.execute(
        delete(DailyStatDay).where(DailyStatDay.centre_id == centre.id, DailyStatDay.day.in_(days))
    )
    rows = [
        {
            "centre_id": centre.id,
            "day": key[0],
            "service_id": key[1],
            "hour": key[2],
            "counter_id": key[3],
            "staff_id": key[4],
            **tally.as_row(),
        }
        for key, tally in tallies.items()
        if key[0] in states
    ]
    if rows:
        session.execute(insert(DailyStat), rows)
    now = utcnow()
    session.execute(
        insert(DailyStatDay),
        [{"centre_id": centre.id, "day": d, "states": states[d], "built_at": now} for d in days],
    )


def settle_days(session: Session, centre: Centre, days: Iterable[date]) -> list[date]:
    """Store the aggregates of those days none of whose tokens is open (end of day calls
    this for the days it has just closed). Returns the days stored."""
    wanted = set(days)
    if not wanted:
        return []
    first, last = min(wanted), max(wanted)
    states = {
        d: s for d, s in day_states(session, centre, first, last).items() if d in wanted and is_settled(s)
    }
    if not states:
        return []
    facts = token_facts(session, centre, min(states), max(states), set(states))
    store_days(session, centre, tally_facts(facts, service_targets(session, centre)), states)
    return sorted(states)


def grain_tallies(
    session: Session, centre: Centre, first: date, last: date, *, store: bool = True
) -> tuple[GrainTallies, dict[str, int]]:
    """Every grain tally of the range: stored days that are still true, the others from
    the tokens (and stored now when settled). Also says how many days came from where."""
    states = day_states(session, centre, first, last)
    stored = {
        m.day: m.states
        for m in session.scalars(
            select(DailyStatDay).where(
                DailyStatDay.centre_id == centre.id, DailyStatDay.day.between(first, last)
            )
        )
    }
    fresh = {d for d, s in states.items() if stored.get(d) == s}
    stale = set(states) - fresh
    out: GrainTallies = []
    if fresh:
        rows = session.execute(
            select(*DailyStat.__table__.columns).where(
                DailyStat.centre_id == centre.id,
                DailyStat.day.between(min(fresh), max(fresh)),
            )
        ).all()
        out.extend(
            ((r.day, r.service_id, r.hour, r.counter_id, r.staff_id), Tally.from_row(r))
            for r in rows
            if r.day in fresh
        )
    if stale:
        facts = token_facts(session, centre, min(stale), max(stale), stale)
        computed = tally_facts(facts, service_targets(session, centre))
        out.extend(computed.items())
        settled = {d: states[d] for d in stale if is_settled(states[d])}
        if store and settled:
            store_days(session, centre, computed, settled)
    return out, {"days": len(states), "stored": len(fresh), "computed": len(stale)}


# Live view -------------------------------------------------------------------------------


def last_activity(session: Session, centre: Centre, since: datetime) -> dict[int, datetime]:
    """counter id -> the time of its last token or counter event since ``since``."""
    rows = session.execute(
        select(Event.counter_id, func.max(Event.at))
        .where(
            Event.centre_id == centre.id,
            Event.at >= since,
            Event.counter_id.is_not(None),
            Event.kind.like("token_%") | Event.kind.like("counter_%"),  # not the alerts about it
        )
        .group_by(Event.counter_id)
    ).all()
    return {cid: at for cid, value in rows if (at := as_utc(value)) is not None and cid is not None}


def device_status(session: Session, centre_ids: Sequence[int], now: datetime) -> dict[int, dict[str, Any]]:
    """Per centre: kiosk printers in trouble and screens that are not seen lately."""
    out: dict[int, dict[str, Any]] = {cid: {"printers": [], "screens": []} for cid in centre_ids}
    devices = session.scalars(
        select(Device).where(Device.centre_id.in_(list(centre_ids)), Device.is_active)
    ).all()
    for d in devices:
        entry = out.setdefault(d.centre_id, {"printers": [], "screens": []})
        if d.kind == DeviceKind.KIOSK and (
            d.printer_status in PRINTER_FAULTS or d.printer_status in PRINTER_WARNINGS
        ):
            entry["printers"].append(
                {
                    "id": d.id,
                    "name": d.name,
                    "status": d.printer_status,
                    "level": "error" if d.printer_status in PRINTER_FAULTS else "warning",
                    "since": queue_state.iso(d.printer_status_at),
                }
            )
        seen = d.last_seen_at
        if seen is None or (now - seen).total_seconds() > SCREEN_OFFLINE_SECONDS:
            entry["screens"].append(
                {"id": d.id, "name": d.name, "kind": d.kind.value, "last_seen_at": queue_state.iso(seen)}
            )
    return out


def _staff_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = session.execute(select(Staff.id, Staff.full_name, Staff.username).where(Staff.id.in_(wanted)))
    return {sid: full or user for sid, full, user in rows}


def open_alerts(session: Session, centre_ids: Sequence[int]) -> list[Alert]:
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.centre_id.in_(list(centre_ids)), Alert.cleared_at.is_(None))
            .order_by(Alert.raised_at)
        )
    )


def live_centre(session: Session, centre: Centre, now: datetime | None = None) -> dict[str, Any]:
    """The manager's live view: today's figures per service and per counter, devices in
    trouble and the open alerts."""
    now = now or utcnow()
    today = local_day(centre.tz, now)
    facts = token_facts(session, centre, today, today)
    targets = service_targets(session, centre)
    by_service: dict[int, Tally] = defaultdict(Tally)
    by_counter: dict[int, Tally] = defaultdict(Tally)
    total = Tally()
    for fact in facts:
        target = targets.get(fact.service_id, 20 * 60)
        by_service[fact.service_id].add(fact, target)
        total.add(fact, target)
        if fact.counter_id:
            by_counter[fact.counter_id].add(fact, target)
    waiting = queue_state.waiting_by_service(session, centre, today)
    capacities = queue_state.counter_capacities(session, centre, today)
    services = []
    for service in centre.services:
        q = waiting.get(service.id)
        tally = by_service.get(service.id, Tally())
        if not service.is_active and not tally.arrivals and not q:
            continue
        count = q.waiting if q else 0
        oldest = q.oldest_queued_at if q else None
        services.append(
            {
                **queue_state.service_public(service),
                "waiting": count,
                "waiting_priority": q.waiting_priority if q else 0,
                "oldest_queued_at": queue_state.iso(oldest),
                "longest_wait_seconds": max(0, int((now - oldest).total_seconds())) if oldest else 0,
                "eta_minutes": estimate.expected_wait_minutes(count, capacities.get(service.id, [])),
                **tally.figures(),
            }
        )
    current = queue_state.current_tokens(session, centre.id)
    day_start, _ = day_bounds(centre.tz, today, today)
    activity = last_activity(session, centre, day_start)
    counters = []
    for counter in centre.counters:
        token = current.get(counter.id)
        tally = by_counter.get(counter.id, Tally())
        figures = tally.figures()
        since = None
        if token is not None:
            since = token.started_at if token.state == TokenState.SERVING else token.called_at
        idle_since = None
        if counter.state == CounterState.OPEN and token is None:
            candidates = [t for t in (counter.opened_at, activity.get(counter.id)) if t is not None]
            idle_since = max(candidates) if candidates else None
        counters.append(
            {
                "id": counter.id,
                "number": counter.number,
                "name": counter.name,
                "state": counter.state.value,
                "clerk": (counter.staff.full_name or counter.staff.username) if counter.staff else None,
                "current": (
                    {
                        **queue_state.token_public(token),
                        "since": queue_state.iso(since),
                    }
                    if token is not None
                    else None
                ),
                "idle_since": queue_state.iso(idle_since),
                "services": sorted(e.service_id for e in counter.profile),
                "served": figures["served"],
                "called": figures["called"],
                "avg_service_seconds": figures["avg_service_seconds"],
            }
        )
    devices = device_status(session, [centre.id], now)[centre.id]
    return {
        "centre": {**queue_state.centre_public(centre), "today": today.isoformat()},
        "server_time": now.isoformat(),
        "totals": {
            **total.figures(),
            "waiting": sum(q.waiting for q in waiting.values()),
            "counters_open": sum(1 for c in centre.counters if c.state == CounterState.OPEN),
            "counters": len(centre.counters),
        },
        "services": services,
        "counters": counters,
        "devices": devices,
        "alerts": [alert_public(a) for a in open_alerts(session, [centre.id])],
    }


def alert_public(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "centre_id": alert.centre_id,
        "kind": alert.kind,
        "subject": alert.subject,
        "value": alert.value,
        "threshold": alert.threshold,
        "data": alert.data or {},
        "raised_at": queue_state.iso(alert.raised_at),
        "cleared_at": queue_state.iso(alert.cleared_at),
        "acknowledged": alert.acknowledged_at is not None,
    }


def province(
    session: Session, now: datetime | None = None, centre_ids: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """Every centre (or these) with its live figures, in a few queries for all of them."""
    now = now or utcnow()
    query = select(Centre).order_by(Centre.code)
    if centre_ids is not None:
        query = query.where(Centre.id.in_(list(centre_ids)))
    centres = session.scalars(query).all()
    if not centres:
        return []
    ids = [c.id for c in centres]
    days = {c.id: local_day(c.tz, now) for c in centres}
    targets = dict(
        session.execute(
            select(Service.id, Service.target_wait_minutes).where(Service.centre_id.in_(ids))
        ).all()
    )
    tallies: dict[int, Tally] = defaultdict(Tally)
    waiting: dict[int, int] = defaultdict(int)
    oldest: dict[int, datetime] = {}
    for day in sorted(set(days.values())):
        same_day = [cid for cid in ids if days[cid] == day]
        rows = session.execute(
            select(
                Token.centre_id,
                Token.origin_service_id,
                Token.state,
                Token.issued_at,
                Token.queued_at,
                Token.first_called_at,
            ).where(Token.centre_id.in_(same_day), Token.business_day == day)
        ).all()
        for r in rows:
            state = r.state.value if isinstance(r.state, TokenState) else str(r.state)
            if state == TokenState.WAITING.value:
                waiting[r.centre_id] += 1
                if r.centre_id not in oldest or r.queued_at < oldest[r.centre_id]:
                    oldest[r.centre_id] = r.queued_at
            wait = int((r.first_called_at - r.issued_at).total_seconds()) if r.first_called_at else None
            fact = TokenFact(0, day, r.origin_service_id, 0, 0, 0, state, wait, None, None)
            tallies[r.centre_id].add(fact, targets.get(r.origin_service_id, 20) * 60)
    counters: dict[int, list[CounterState]] = defaultdict(list)
    for cid, state in session.execute(
        select(Counter.centre_id, Counter.state).where(Counter.centre_id.in_(ids))
    ):
        counters[cid].append(state)
    alerts: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for alert in open_alerts(session, ids):
        alerts[alert.centre_id].append(alert_public(alert))
    devices = device_status(session, ids, now)
    out = []
    for centre in centres:
        figures = tallies[centre.id].figures()
        first = oldest.get(centre.id)
        out.append(
            {
                "id": centre.id,
                "code": centre.code,
                "name_en": centre.name_en,
                "name_ur": centre.name_ur,
                "district": centre.district,
                "today": days[centre.id].isoformat(),
                "waiting": waiting[centre.id],
                "oldest_queued_at": queue_state.iso(first),
                "longest_wait_seconds": max(0, int((now - first).total_seconds())) if first else 0,
                "arrivals": figures["arrivals"],
                "served": figures["served"],
                "avg_wait_seconds": figures["avg_wait_seconds"],
                "within_target_share": figures["within_target_share"],
                "no_show_rate": figures["no_show_rate"],
                "counters_open": sum(1 for s in counters[centre.id] if s == CounterState.OPEN),
                "counters": len(counters[centre.id]),
                "alerts": alerts[centre.id],
                "printers_down": sum(1 for p in devices[centre.id]["printers"] if p["level"] == "error"),
                "screens_offline": len(devices[centre.id]["screens"]),
            }
        )
    return out


# Reports ---------------------------------------------------------------------------------


# A request or a feedback, reduced to its groups and two figures:
# (service, counter, clerk, hour, day, a, b): for a request a = closed in time, b = late;
# for feedback a = the rating, b = 1.
Extra = tuple[int, int, int, int, str, int, int]
DIMS = {"service_id": 0, "counter_id": 1, "staff_id": 2, "hour": 3, "day": 4}


def _range_tokens(
    session: Session, centre: Centre, first: date, last: date, service_id: int | None
) -> dict[int, tuple[int, int, int, str]]:
    """token id -> (service, counter, local hour of issue, day) for the range's tokens."""
    query = select(
        Token.id, Token.origin_service_id, Token.counter_id, Token.issued_at, Token.business_day
    ).where(Token.centre_id == centre.id, Token.business_day.between(first, last))
    if service_id is not None:
        query = query.where(Token.origin_service_id == service_id)
    tz = centre.tz
    return {
        tid: (origin, counter_id or 0, issued.astimezone(tz).hour, day.isoformat())
        for tid, origin, counter_id, issued, day in session.execute(query)
    }


def _among(session: Session, column: Any, ids: Sequence[int]) -> Iterable[Any]:
    """``column IN ids`` conditions: on PostgreSQL one array parameter (building thousands
    of bound parameters costs more than running the query), elsewhere chunks of them."""
    if session.get_bind().dialect.name == "postgresql":
        yield column == any_(bindparam("ids", list(ids), type_=ARRAY(Integer)))
        return
    for i in range(0, len(ids), 500):
        yield column.in_(list(ids[i : i + 500]))


# Requests and feedback are read by the token ids of the range, through their token_id
# indexes, and the clerks from the range's events (by centre and time): a join, or events
# looked up by token id, let PostgreSQL's planner scan every row ever written when its
# estimates are off (seen with three million tokens: 0.6 s and 0.3 s instead of 10 ms).


def _requests_figures(
    session: Session, tokens: dict[int, tuple[int, int, int, str]], now: datetime
) -> list[Extra]:
    """One entry per request of the range's tokens: its groups and whether it was closed in
    time (by its due time; still open past it is late)."""
    out: list[Extra] = []
    for among in _among(session, ServiceRequest.token_id, sorted(tokens)):
        rows = session.execute(
            select(
                ServiceRequest.token_id,
                ServiceRequest.counter_id,
                ServiceRequest.staff_id,
                ServiceRequest.due_at,
                ServiceRequest.closed_at,
                ServiceRequest.is_late,
            ).where(among)
        )
        for token_id, counter_id, staff_id, due, closed_at, is_late in rows:
            service, _, hour, day = tokens[token_id]
            late = bool(is_late) or (
                due is not None and (closed_at > due if closed_at is not None else due < now)
            )
            in_time = closed_at is not None and not late
            out.append((service, counter_id or 0, staff_id or 0, hour, day, int(in_time), int(late)))
    return out


def _feedback_figures(
    session: Session, centre: Centre, first: date, last: date, tokens: dict[int, tuple[int, int, int, str]]
) -> list[Extra]:
    if Feedback is None:
        return []
    rated: list[tuple[int, int]] = []
    for among in _among(session, Feedback.token_id, sorted(tokens)):
        rows = session.execute(select(Feedback.token_id, Feedback.rating).where(among))
        rated.extend((token_id, rating) for token_id, rating in rows)
    who = callers(session, centre, first, last) if rated else {}
    out: list[Extra] = []
    for token_id, rating in rated:
        service, counter, hour, day = tokens[token_id]
        out.append((service, counter, who.get(token_id, 0), hour, day, int(rating), 1))
    return out


def _extras(items: Iterable[Extra], dim: str) -> dict[Any, list[int]]:
    """Per group of one dimension: [count, sum of a, sum of b]."""
    index = DIMS[dim]
    out: dict[Any, list[int]] = {}
    for item in items:
        bucket = out.get(item[index])
        if bucket is None:
            bucket = out[item[index]] = [0, 0, 0]
        bucket[0] += 1
        bucket[1] += item[5]
        bucket[2] += item[6]
    return out


def _extra_figures(requests: list[int] | None, feedback: list[int] | None) -> dict[str, Any]:
    opened, in_time, late = requests or (0, 0, 0)
    ratings, rating_sum, _ = feedback or (0, 0, 0)
    return {
        "requests": opened,
        "requests_in_time": in_time,
        "requests_late": late,
        "requests_in_time_share": ratio(in_time, opened),
        "feedback_count": ratings,
        "feedback_average": round(rating_sum / ratings, 2) if ratings else None,
    }


def report(
    session: Session,
    centre: Centre,
    first: date,
    last: date,
    *,
    service_id: int | None = None,
    now: datetime | None = None,
    store: bool = True,
) -> dict[str, Any]:
    """The report of a date range (inclusive), optionally for one service: totals and
    tables per service, counter, clerk, hour of day and day; wait distribution; accuracy of
    the wait estimate; requests closed in time and late; feedback scores."""
    now = now or utcnow()
    grains, sources = grain_tallies(session, centre, first, last, store=store)
    if service_id is not None:
        grains = [(k, t) for k, t in grains if k[1] == service_id]
    tokens = _range_tokens(session, centre, first, last, service_id)
    requests = _requests_figures(session, tokens, now)
    feedback = _feedback_figures(session, centre, first, last, tokens)
    services = {s.id: s for s in centre.services}
    counters = {c.id: c for c in centre.counters}

    total = Tally()
    for _, tally in grains:
        total.merge(tally)
    ratings = [f[5] for f in feedback]

    def table(dim_index: int, dim: str, describe: Callable[[Any], dict[str, Any]]) -> list[dict[str, Any]]:
        tallies = group(grains, lambda k: k[dim_index])
        req = _extras(requests, dim)
        fb = _extras(feedback, dim)
        keys = sorted(set(tallies) | set(req) | set(fb), key=lambda k: (k == 0, k))
        return [
            {
                **describe(key),
                **tallies.get(key, Tally()).figures(),
                **_extra_figures(req.get(key), fb.get(key)),
            }
            for key in keys
        ]

    def describe_service(sid: int) -> dict[str, Any]:
        s = services.get(sid)
        return {
            "key": sid,
            "code": s.code if s else str(sid),
            "name_en": s.name_en if s else str(sid),
            "name_ur": s.name_ur if s else str(sid),
            "target_wait_minutes": s.target_wait_minutes if s else None,
            "sort": s.sort_order if s else 999,
        }

    def describe_counter(cid: int) -> dict[str, Any]:
        c = counters.get(cid)
        return {"key": cid, "number": c.number if c else None, "name": c.name if c else ""}

    staff_ids = {k[4] for k, _ in grains} | {r[2] for r in requests} | {f[2] for f in feedback}
    names = _staff_names(session, staff_ids)

    def describe_clerk(sid: int) -> dict[str, Any]:
        return {"key": sid, "name": names.get(sid, "") if sid else ""}

    by_service = sorted(table(1, "service_id", describe_service), key=lambda r: r["sort"])
    by_counter = sorted(
        table(3, "counter_id", describe_counter), key=lambda r: (r["number"] is None, r["number"] or 0)
    )
    by_clerk = sorted(table(4, "staff_id", describe_clerk), key=lambda r: (r["key"] == 0, r["name"]))
    by_hour = table(2, "hour", lambda h: {"key": h, "hour": h, "label": f"{h:02d}:00–{(h + 1) % 24:02d}:00"})
    by_hour.sort(key=lambda r: r["hour"])
    days = {d.isoformat(): t for d, t in group(grains, lambda k: k[0]).items()}
    day_requests, day_feedback = _extras(requests, "day"), _extras(feedback, "day")
    by_day = [
        {
            "key": d,
            "day": d,
            **days.get(d, Tally()).figures(),
            **_extra_figures(day_requests.get(d), day_feedback.get(d)),
        }
        for d in sorted(set(days) | set(day_requests) | set(day_feedback))
    ]
    service = services.get(service_id) if service_id is not None else None
    return {
        "centre": queue_state.centre_public(centre),
        "from": first.isoformat(),
        "to": last.isoformat(),
        "service": queue_state.service_public(service) if service else None,
        "generated_at": now.isoformat(),
        "sources": sources,
        "totals": {
            **total.figures(),
            **_extra_figures(
                [len(requests), sum(r[5] for r in requests), sum(r[6] for r in requests)],
                [len(ratings), sum(ratings), len(ratings)],
            ),
        },
        "by_service": by_service,
        "by_counter": by_counter,
        "by_clerk": by_clerk,
        "by_hour": by_hour,
        "by_day": by_day,
        "wait_distribution": wait_distribution(total.waits),
        "feedback": {
            "count": len(ratings),
            "average": round(sum(ratings) / len(ratings), 2) if ratings else None,
            "distribution": {str(n): ratings.count(n) for n in range(1, 6)},
        },
    }
