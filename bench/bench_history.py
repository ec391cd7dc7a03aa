"""Dashboard and report response times over a province's history: do they grow with it?

Run: .venv/bin/python bench/bench_history.py [--db sqlite|postgres|both] [--centres 150]
        [--days 365] [--tokens-per-day 64] [--first-checkpoint 30]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/khidmat_bench]
        [--sqlite-path /tmp/khidmat_bench.sqlite3] [--measure-only]

What it does, per database (the database is emptied first):
1. builds the schema with the real migrations, and ``--centres`` centres like the demo one
   (19 services, 8 counters with work profiles, 8 clerks, a manager, a kiosk, a display);
2. writes ``--days`` days of history, most recent first, with bulk inserts (executemany on
   SQLite, COPY on PostgreSQL), not the operations: tokens (about ``--tokens-per-day`` per
   centre per opening day, Monday to Saturday, busiest mid-morning; served, no-shows,
   cancelled and a few left at closing), their events (issued, called, started, completed
   ...; the hash chain is not computed, so ``audit verify`` fails on this database), the
   counters' opening and closing, requests for served tokens and feedback for some;
3. stores the daily aggregates with the application's own code (``settle_days``, what end
   of day runs) and reports its cost per centre-day;
4. gives every centre a day in progress ("today": people waiting, counters busy);
5. measures through the real stack (Flask test client, API key, SQL, JSON), after
   ``--first-checkpoint`` days of history and again after all of it:
     floor       GET /api/v1/me (authentication and JSON only: what any call costs)
     dashboard   GET /api/v1/centres/<c>/dashboard (live figures + alert evaluation)
     report 30d  GET /api/v1/centres/<c>/report for the last 30 days (29 stored + today)
     cold 30d    the same after deleting that centre's stored month (rebuilt and stored)
     province    GET /api/v1/province (every centre's live figures)
   Medians and 95th percentiles in milliseconds. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import secrets
import statistics as stats
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text

TZ = ZoneInfo("Asia/Karachi")
HASH = "0" * 64
# share of the day's arrivals in each local hour (08:00-15:59): a mid-morning peak
HOURS = {8: 0.07, 9: 0.16, 10: 0.2, 11: 0.18, 12: 0.13, 13: 0.1, 14: 0.1, 15: 0.06}
SERVICE_MIX = {  # demand weights by service code
    "character": 18, "character_other": 5, "verification": 8, "employee": 6, "tenant": 7,
    "vehicle": 6, "learner": 8, "licence_renewal": 9, "licence_duplicate": 3,
    "licence_international": 2, "lost_document": 5, "crime_report": 2, "fir_copy": 3,
    "women_desk": 1, "legal": 1, "bank": 9, "token_tax": 5, "overseas": 1, "special_persons": 1,
}  # fmt: skip


def sqlite_dt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


@dataclass
class Setup:
    """Ids of what was created, and the keys the measurements use."""

    centres: list[int] = field(default_factory=list)
    codes: dict[int, str] = field(default_factory=dict)
    services: dict[int, list[tuple[int, str, str, int, int, bool]]] = field(default_factory=dict)
    counters: dict[int, list[tuple[int, int, set[int]]]] = field(
        default_factory=dict
    )  # id, number, service ids
    clerks: dict[int, dict[int, int]] = field(default_factory=dict)  # centre -> counter number -> staff id
    manager_key: str = ""
    admin_key: str = ""


class Writer:
    """Bulk rows into a table: executemany on SQLite, COPY on PostgreSQL."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.is_pg = engine.dialect.name == "postgresql"
        self.raw = engine.raw_connection()
        if not self.is_pg:
            cur = self.raw.cursor()
            cur.execute("PRAGMA foreign_keys = OFF")
            cur.execute("PRAGMA synchronous = OFF")
            cur.close()

    def value(self, v: Any) -> Any:
        if isinstance(v, datetime):
            return naive(v) if self.is_pg else sqlite_dt(v)
        if isinstance(v, date):
            return v if self.is_pg else v.isoformat()
        if isinstance(v, (dict, list)):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, bool) and not self.is_pg:
            return int(v)
        return v

    def write(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        cur = self.raw.cursor()
        count = 0
        if self.is_pg:
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([self.value(v) for v in row])
                    count += 1
        else:
            marks = ", ".join("?" for _ in columns)
            batch = [[self.value(v) for v in row] for row in rows]
            cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", batch)
            count = len(batch)
        self.raw.commit()
        cur.close()
        return count

    def close(self) -> None:
        if self.is_pg:
            cur = self.raw.cursor()
            for table in ("tokens", "events", "requests", "feedback"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
            self.raw.commit()
            cur.close()
        self.raw.close()


def fresh_database(url: str) -> None:
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def build_centres(app: Any, n: int) -> Setup:
    """Centres, services, counters, staff, devices: the demo centre, n times (ORM: small)."""
    from queue_server.credentials import hash_password, key_hash, new_key
    from queue_server.extensions import db
    from queue_server.models import (
        Centre,
        Counter,
        Device,
        DeviceKind,
        Role,
        Service,
        Staff,
        StaffApiKey,
        WorkProfileEntry,
    )
    from queue_server.seed import PROFILES, SERVICES

    setup = Setup()
    password = hash_password(secrets.token_urlsafe(12))  # one hash for all: argon2 is slow on purpose
    with app.app_context():
        s = db.session()
        for i in range(1, n + 1):
            centre = Centre(
                code=f"c{i:03d}",
                name_en=f"Khidmat Markaz {i}",
                name_ur=f"خدمت مرکز {i}",
                district=f"District {1 + i % 36}",
            )
            s.add(centre)
            s.flush()
            services = {}
            for order, (code, en, ur, group, prefix, ta, days, fee, target, minutes, docs) in enumerate(
                SERVICES
            ):
                services[code] = Service(
                    centre_id=centre.id, code=code, name_en=en, name_ur=ur, group=group, prefix=prefix, turnaround=ta,
                    turnaround_days=days, fee=fee, target_wait_minutes=target, default_service_minutes=minutes,
                    documents=docs, sort_order=order,
                )  # fmt: skip
                s.add(services[code])
            s.flush()
            counters = []
            for number, profile in PROFILES.items():
                counter = Counter(centre_id=centre.id, number=number, name=f"Counter {number}")
                counter.profile = [
                    WorkProfileEntry(service_id=services[c].id, weight=w) for c, w in profile.items()
                ]
                s.add(counter)
                counters.append(counter)
            clerks = {}
            for number in PROFILES:
                clerk = Staff(
                    username=f"c{i:03d}clerk{number}",
                    full_name=f"Clerk {number}",
                    role=Role.CLERK,
                    centre_id=centre.id,
                    password_hash=password,
                )
                s.add(clerk)
                clerks[number] = clerk
            manager = Staff(
                username=f"c{i:03d}manager",
                full_name="Manager",
                role=Role.MANAGER,
                centre_id=centre.id,
                password_hash=password,
            )
            s.add(manager)
            if i == 1:
                setup.manager_key = new_key("staff")
                manager.api_keys.append(StaffApiKey(key_hash=key_hash(setup.manager_key), label="bench"))
            for kind, name in ((DeviceKind.KIOSK, "Kiosk 1"), (DeviceKind.DISPLAY, "Hall display")):
                s.add(
                    Device(
                        centre_id=centre.id,
                        kind=kind,
                        name=name,
                        key_hash=key_hash(new_key("dev")),
                        printer={},
                    )
                )
            s.flush()
            setup.centres.append(centre.id)
            setup.codes[centre.id] = centre.code
            setup.services[centre.id] = [
                (
                    sv.id,
                    sv.code,
                    sv.prefix,
                    sv.target_wait_minutes,
                    sv.default_service_minutes,
                    sv.is_same_day,
                )
                for sv in services.values()
            ]
            setup.counters[centre.id] = [
                (c.id, c.number, {e.service_id for e in c.profile}) for c in counters
            ]
            setup.clerks[centre.id] = {number: clerk.id for number, clerk in clerks.items()}
        admin = Staff(
            username="admin",
            full_name="Province Admin",
            role=Role.ADMIN,
            centre_id=None,
            password_hash=password,
        )
        setup.admin_key = new_key("staff")
        admin.api_keys.append(StaffApiKey(key_hash=key_hash(setup.admin_key), label="bench"))
        s.add(admin)
        s.commit()
        db.session.remove()
    return setup


TOKEN_COLUMNS = (
    "id", "centre_id", "service_id", "origin_service_id", "business_day", "seq", "number", "public_code",
    "priority", "state", "issued_at", "queued_at", "called_at", "first_called_at", "started_at", "finished_at",
    "counter_id", "target_counter_id", "device_id", "idempotency_key", "recall_count", "transfer_count",
    "outcome", "eta_minutes", "ahead_at_issue", "print_state",
)  # fmt: skip
EVENT_COLUMNS = (
    "id",
    "centre_id",
    "seq",
    "at",
    "kind",
    "actor",
    "token_id",
    "counter_id",
    "service_id",
    "data",
    "prev_hash",
    "hash",
)
REQUEST_COLUMNS = (
    "id", "centre_id", "token_id", "service_id", "staff_id", "counter_id", "reference", "business_day", "state",
    "applicant_name", "cnic", "phone", "documents_checked", "fee_received", "notes", "reason", "opened_at",
    "due_at", "ready_at", "closed_at", "collection_called_at", "collection_calls", "carried_over_at",
    "carry_overs", "is_late", "extra",
)  # fmt: skip
FEEDBACK_COLUMNS = (
    "id",
    "token_id",
    "centre_id",
    "service_id",
    "counter_id",
    "rating",
    "comment",
    "language",
    "created_at",
)


class History:
    """Generates the rows of days of a centre's life; ids and per-centre sequences run on."""

    def __init__(self, setup: Setup, tokens_per_day: float, seed: int = 1) -> None:
        self.setup = setup
        self.rng = random.Random(seed)
        self.per_day = tokens_per_day
        self.token_id = 0
        self.event_id = 0
        self.request_id = 0
        self.feedback_id = 0
        self.seq: dict[int, int] = dict.fromkeys(setup.centres, 0)
        self.size = {c: self.rng.uniform(0.5, 1.5) for c in setup.centres}  # busier and quieter centres
        codes = list(SERVICE_MIX)
        self.mix_weights = [SERVICE_MIX[c] for c in codes]
        self.mix_codes = codes
        self.tokens: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []
        self.requests: list[tuple[Any, ...]] = []
        self.feedback: list[tuple[Any, ...]] = []

    def event(
        self,
        centre: int,
        at: datetime,
        kind: str,
        actor: str,
        token: int | None,
        counter: int | None,
        service: int | None,
        data: dict[str, Any],
    ) -> None:
        self.event_id += 1
        self.seq[centre] += 1
        self.events.append(
            (
                self.event_id,
                centre,
                self.seq[centre],
                at,
                kind,
                actor,
                token,
                counter,
                service,
                data,
                HASH,
                HASH,
            )
        )

    def day(self, centre: int, day: date, now: datetime | None = None) -> None:
        """One opening day of a centre; with ``now``, today, cut at that moment (outside
        opening hours, today's morning is played as if the centre had opened 3.5 h ago)."""
        if day.weekday() == 6 and now is None:
            return  # closed on Sundays
        rng = self.rng
        services = {
            code: (sid, prefix, target, minutes, same)
            for sid, code, prefix, target, minutes, same in self.setup.services[centre]
        }
        counters = self.setup.counters[centre]
        clerks = self.setup.clerks[centre]
        load = self.size[centre] * (0.8 if day.weekday() == 5 else 1.0) * rng.uniform(0.85, 1.15)
        n = max(0, int(rng.gauss(self.per_day * load, math.sqrt(self.per_day))))
        opening = datetime.combine(day, clock(8, 0), TZ)
        if now is not None and not (opening <= now < opening + timedelta(hours=8)):
            opening = now - timedelta(hours=3, minutes=30)
        closing = opening + timedelta(hours=8)
        for number, _staff in clerks.items():
            cid = next(c for c, num, _ in counters if num == number)
            self.event(
                centre,
                opening + timedelta(minutes=rng.randint(0, 20)),
                "counter_opened",
                f"staff:{clerks[number]}",
                None,
                cid,
                None,
                {},
            )
        numbers: dict[int, int] = {}
        hours = list(HOURS)
        arrivals = sorted(
            opening + timedelta(hours=h - 8, seconds=rng.randint(0, 3599))
            for h in rng.choices(hours, [HOURS[h] for h in hours], k=n)
        )
        pressure = min(3.0, n / 60)  # a busier day waits longer
        for issued in arrivals:
            if now is not None and issued > now:
                break
            code = rng.choices(self.mix_codes, self.mix_weights)[0]
            sid, prefix, target, minutes, same_day = services[code]
            able = [(c, num) for c, num, served in counters if sid in served]
            counter, number = rng.choice(able)
            staff = clerks[number]
            numbers[sid] = numbers.get(sid, 0) + 1
            self.token_id += 1
            tid = self.token_id
            wait = int(rng.lognormvariate(math.log(60 * target * 0.6 * pressure + 60), 0.6))
            eta = max(0, round(wait / 60 * rng.uniform(0.6, 1.4) + rng.uniform(-3, 3)))
            roll = rng.random()
            state, outcome = ("done", "served")
            if roll < 0.05:
                state, outcome = "no_show", None
            elif roll < 0.07:
                state, outcome = "cancelled", None
            elif roll < 0.1:
                state, outcome = "closed", None
            called = issued + timedelta(seconds=wait)
            if called > closing:
                state, outcome = "closed", None
            service_s = int(max(60, rng.gauss(minutes * 60, minutes * 20)))
            started = called + timedelta(seconds=rng.randint(10, 90))
            finished = started + timedelta(seconds=service_s)
            if now is not None:  # today: what has happened by now
                if state == "closed":
                    state, outcome = "done", "served"
                if called > now:
                    state, outcome = "waiting", None
                elif state == "done" and finished > now:
                    state, outcome = ("serving", None) if started <= now else ("called", None)
            actor = f"staff:{staff}"
            data = {"number": f"{prefix}{numbers[sid]:03d}"}
            self.event(
                centre,
                issued,
                "token_issued",
                "device:1",
                tid,
                None,
                sid,
                {**data, "priority": "normal", "ahead": 0, "eta": eta},
            )
            first_called = called_at = start_at = finish_at = None
            at_counter = None
            if state == "cancelled":
                finish_at = issued + timedelta(seconds=min(wait, 1800))
                self.event(centre, finish_at, "token_cancelled", "staff:0", tid, None, sid, data)
            elif state == "closed":
                if now is None:
                    self.event(
                        centre,
                        closing + timedelta(minutes=30),
                        "token_closed",
                        "system",
                        tid,
                        None,
                        sid,
                        {**data, "was": "waiting"},
                    )
            elif state != "waiting":
                first_called = called_at = called
                at_counter = counter
                self.event(
                    centre, called, "token_called", actor, tid, counter, sid, {**data, "direct": False}
                )
                if state == "no_show":
                    finish_at = called + timedelta(minutes=3)
                    self.event(centre, finish_at, "token_no_show", actor, tid, counter, sid, data)
                elif state in ("serving", "done"):
                    start_at = started
                    self.event(centre, started, "token_started", actor, tid, counter, sid, data)
                    if state == "done":
                        finish_at = finished
                        self.event(
                            centre,
                            finished,
                            "token_completed",
                            actor,
                            tid,
                            counter,
                            sid,
                            {**data, "outcome": "served"},
                        )
            self.tokens.append((
                tid, centre, sid, sid, day, numbers[sid], data["number"], secrets.token_urlsafe(12), "normal", state,
                issued, issued, called_at, first_called, start_at, finish_at, at_counter, None, None, None, 0, 0,
                outcome, eta, 0, "printed",
            ))  # fmt: skip
            if start_at is not None:
                self.request_id += 1
                due = closing if same_day else closing + timedelta(days=5)
                closed_at = (
                    finish_at
                    if same_day
                    else (due - timedelta(hours=rng.randint(-8, 48)) if now is None else None)
                )
                late = closed_at is not None and closed_at > due
                self.requests.append((
                    self.request_id, centre, tid, sid, staff, counter, f"R{tid:09d}", day,
                    "delivered" if closed_at else "in_process", "", "", "", [], 0, "", "", start_at, due, closed_at,
                    closed_at, None, 0, None, 0, late, {},
                ))  # fmt: skip
                if finish_at is not None and rng.random() < 0.12:
                    self.feedback_id += 1
                    rating = rng.choices([1, 2, 3, 4, 5], [3, 4, 10, 33, 50])[0]
                    self.feedback.append(
                        (
                            self.feedback_id,
                            tid,
                            centre,
                            sid,
                            counter,
                            rating,
                            "",
                            "ur",
                            finish_at + timedelta(minutes=rng.randint(1, 600)),
                        )
                    )
        if now is None:
            for number in clerks:
                cid = next(c for c, num, _ in counters if num == number)
                self.event(
                    centre,
                    closing + timedelta(minutes=29),
                    "counter_closed",
                    f"staff:{clerks[number]}",
                    None,
                    cid,
                    None,
                    {},
                )
            self.event(
                centre,
                closing + timedelta(minutes=30),
                "day_closed",
                "staff:0",
                None,
                None,
                None,
                {"day": day.isoformat()},
            )

    def flush(self, writer: Writer) -> tuple[int, int]:
        tokens = writer.write("tokens", TOKEN_COLUMNS, self.tokens)
        events = writer.write("events", EVENT_COLUMNS, self.events)
        writer.write("requests", REQUEST_COLUMNS, self.requests)
        writer.write("feedback", FEEDBACK_COLUMNS, self.feedback)
        self.tokens, self.events, self.requests, self.feedback = [], [], [], []
        return tokens, events


def settle(app: Any, setup: Setup, days: list[date]) -> float:
    """Store the daily aggregates of these days for every centre, as end of day does."""
    from queue_server.extensions import db
    from queue_server.models import Centre
    from queue_server.operations import settlement

    started = time.perf_counter()
    with app.app_context():
        for cid in setup.centres:
            centre = db.session.get(Centre, cid)
            settlement.settle_days(db.session(), centre, days)
            db.session.commit()
        db.session.remove()
    return time.perf_counter() - started


def open_today(app: Any, setup: Setup, now: datetime) -> None:
    """Counters open with their clerks, as on a working morning."""
    from queue_server.extensions import db
    from queue_server.models import Counter, CounterState

    with app.app_context():
        for cid in setup.centres:
            for counter in db.session.query(Counter).filter_by(centre_id=cid):
                counter.state = CounterState.OPEN
                counter.staff_id = setup.clerks[cid][counter.number]
                counter.opened_at = now - timedelta(hours=3)
        db.session.commit()
        db.session.remove()


def timed(call: Callable[[], Any], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, math.ceil(0.95 * len(samples)) - 1)]
    return stats.median(samples), p95


def measure(app: Any, setup: Setup, today: date, label: str) -> dict[str, Any]:
    """Time the calls on the busiest centres of the last 30 days (dashboard and report on the
    busiest; the cold report on the next five, after deleting their stored month)."""
    from sqlalchemy import func, select

    from queue_server.credentials import key_hash, new_key
    from queue_server.extensions import db
    from queue_server.models import DailyStat, DailyStatDay, Staff, StaffApiKey, Token

    client = app.test_client()
    admin = {"Authorization": f"Bearer {setup.admin_key}"}
    first_day = today - timedelta(days=29)
    month = f"from={first_day.isoformat()}&to={today.isoformat()}"

    def get(url: str, headers: dict[str, str]) -> Any:
        with app.app_context():
            r = client.get(url, headers=headers)
            assert r.status_code == 200, (url, r.status_code, r.text[:300])
            return r.get_json()

    def manager_of(cid: int) -> dict[str, str]:
        with app.app_context():
            key = new_key("staff")
            staff = db.session.query(Staff).filter_by(username=f"{setup.codes[cid]}manager").one()
            db.session.add(StaffApiKey(staff_id=staff.id, key_hash=key_hash(key), label="bench"))
            db.session.commit()
            db.session.remove()
        return {"Authorization": f"Bearer {key}"}

    with app.app_context():
        busiest = [
            cid
            for cid, _ in db.session.execute(
                select(Token.centre_id, func.count())
                .where(Token.business_day.between(first_day, today))
                .group_by(Token.centre_id)
                .order_by(func.count().desc())
                .limit(6)
            )
        ]
        today_tokens = db.session.scalar(
            select(func.count()).where(Token.centre_id == busiest[0], Token.business_day == today)
        )
        db.session.remove()
    code = setup.codes[busiest[0]]
    manager = manager_of(busiest[0])
    get(f"/api/v1/centres/{code}/dashboard", manager)  # raises today's alerts once
    report = get(f"/api/v1/centres/{code}/report?{month}", manager)  # stores anything missing
    out: dict[str, Any] = {
        "label": label,
        "centre": code,
        "today_tokens": today_tokens,
        "report_tokens": report["totals"]["arrivals"],
        "sources": report["sources"],
    }
    out["floor"] = timed(lambda: get("/api/v1/me", manager), 40)
    out["dashboard"] = timed(lambda: get(f"/api/v1/centres/{code}/dashboard", manager), 30)
    out["report 30d"] = timed(lambda: get(f"/api/v1/centres/{code}/report?{month}", manager), 15)
    cold = []
    for cid in busiest[1:6]:
        with app.app_context():
            db.session.query(DailyStat).filter(
                DailyStat.centre_id == cid, DailyStat.day >= first_day
            ).delete()
            db.session.query(DailyStatDay).filter(
                DailyStatDay.centre_id == cid, DailyStatDay.day >= first_day
            ).delete()
            db.session.commit()
            db.session.remove()
        headers = manager_of(cid)
        t0 = time.perf_counter()
        body = get(f"/api/v1/centres/{setup.codes[cid]}/report?{month}", headers)
        cold.append((time.perf_counter() - t0) * 1000)
        assert body["sources"]["stored"] == 0, body["sources"]
    cold.sort()
    out["cold 30d"] = (stats.median(cold), cold[-1])
    out["province"] = timed(lambda: get("/api/v1/province", admin), 8)
    return out


def chain_heads(engine: Any) -> None:
    """Each centre's chain head at its last event (and, on PostgreSQL, the id sequences past
    the rows written), so the application appends after them: a dashboard raises alerts,
    and alerts are events."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # COPY wrote explicit ids: move the sequences on
            for table in ("tokens", "events", "requests", "feedback"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                    )
                )
        conn.execute(text("DELETE FROM event_chain_heads"))
        conn.execute(
            text(
                "INSERT INTO event_chain_heads (centre_id, last_seq, last_hash) "
                "SELECT centre_id, max(seq), :hash FROM events GROUP BY centre_id"
            ),
            {"hash": HASH},
        )


def count_rows(engine: Any) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("tokens", "events", "requests", "feedback", "daily_stats")
        }


def run(url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    os.environ.pop("KHIDMAT_REDIS_URL", None)
    from flask_migrate import upgrade

    from queue_server.app import create_app

    name = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(
        f"\n## {name}: {args.centres} centres x {args.days} days, ~{args.tokens_per_day} tokens per centre per opening day",
        flush=True,
    )
    fresh_database(url)
    instance = Path("/tmp/khidmat-bench-instance")
    instance.mkdir(exist_ok=True)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "INSTANCE_PATH": instance, "TESTING": True})
    with app.app_context():
        upgrade()
    t0 = time.perf_counter()
    setup = build_centres(app, args.centres)
    print(f"centres built in {time.perf_counter() - t0:.1f} s", flush=True)
    engine = create_engine(url)
    writer = Writer(engine)
    history = History(setup, args.tokens_per_day)
    now = datetime.now(TZ)
    today = now.date()
    for cid in setup.centres:
        history.day(cid, today, now=now)
    history.flush(writer)
    results = []
    generated = settle_s = 0.0
    tokens = events = 0
    done = 0
    checkpoints = sorted({min(args.first_checkpoint, args.days), args.days})
    chunk = 30
    for checkpoint in checkpoints:
        while done < checkpoint:
            block = [today - timedelta(days=d) for d in range(done + 1, min(checkpoint, done + chunk) + 1)]
            g0 = time.perf_counter()
            for cid in setup.centres:
                for day in block:
                    history.day(cid, day)
            t, e = history.flush(writer)
            generated += time.perf_counter() - g0
            tokens += t
            events += e
            settle_s += settle(app, setup, block)
            done += len(block)
            print(
                f"  {done:4d} days: {tokens:,} tokens, {events:,} events; generate+insert {generated:.0f} s, aggregates {settle_s:.0f} s",
                flush=True,
            )
        chain_heads(engine)
        if checkpoint == checkpoints[0]:
            open_today(app, setup, now)
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))  # as autovacuum would have by now
        centre_days = args.centres * done * 6 / 7
        print(
            f"aggregates: {settle_s / max(1, centre_days) * 1000:.1f} ms per centre-day (what end of day adds)",
            flush=True,
        )
        result = measure(app, setup, today, f"{done} days")
        result.update(count_rows(engine))
        results.append(result)
        print_result(result)
        with engine.connect() as conn:  # the alerts raised while measuring are events too
            history.event_id = conn.execute(text("SELECT max(id) FROM events")).scalar_one()
            history.seq.update(
                dict(conn.execute(text("SELECT centre_id, max(seq) FROM events GROUP BY centre_id")).all())
            )
    writer.close()
    engine.dispose()
    with app.app_context():
        from queue_server.extensions import db

        db.engine.dispose()
    return results


def print_result(r: dict[str, Any]) -> None:
    print(
        f"### history {r['label']}: {r['tokens']:,} tokens, {r['events']:,} events, {r['requests']:,} requests, "
        f"{r['feedback']:,} feedback, {r['daily_stats']:,} aggregate rows; busiest centre {r['centre']}: "
        f"{r['today_tokens']} tokens today, {r['report_tokens']:,} in the 30-day report ({r['sources']})"
    )
    print("| what | median ms | p95 ms |\n|---|---:|---:|")
    for key in ("floor", "dashboard", "report 30d", "cold 30d", "province"):
        median, p95 = r[key]
        print(f"| {key} | {median:.1f} | {p95:.1f} |")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--centres", type=int, default=150)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--tokens-per-day", type=float, default=64.0)
    parser.add_argument("--first-checkpoint", type=int, default=30)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/khidmat_bench")
    parser.add_argument("--sqlite-path", default="/tmp/khidmat_bench.sqlite3")
    parser.add_argument(
        "--measure-only", action="store_true", help="measure the database a previous run left, as it is"
    )
    args = parser.parse_args()
    urls = []
    if args.db in ("sqlite", "both"):
        urls.append(f"sqlite:///{args.sqlite_path}")
    if args.db in ("postgres", "both"):
        urls.append(args.pg_url)
    for url in urls:
        if args.measure_only:
            measure_existing(url, args)
        else:
            run(url, args)


def load_setup(app: Any) -> Setup:
    """The Setup of a database an earlier run built (centres, services, counters, clerks)."""
    from queue_server.extensions import db
    from queue_server.models import Centre, Staff

    setup = Setup()
    with app.app_context():
        for centre in db.session.query(Centre).order_by(Centre.id):
            setup.centres.append(centre.id)
            setup.codes[centre.id] = centre.code
            setup.services[centre.id] = [
                (
                    sv.id,
                    sv.code,
                    sv.prefix,
                    sv.target_wait_minutes,
                    sv.default_service_minutes,
                    sv.is_same_day,
                )
                for sv in centre.services
            ]
            setup.counters[centre.id] = [
                (c.id, c.number, {e.service_id for e in c.profile}) for c in centre.counters
            ]
            clerks = db.session.query(Staff).filter(Staff.username.like(f"{centre.code}clerk%"))
            setup.clerks[centre.id] = {
                int(st.username.removeprefix(f"{centre.code}clerk")): st.id for st in clerks
            }
        db.session.remove()
    return setup


def measure_existing(url: str, args: argparse.Namespace) -> None:
    """Measure a database left by an earlier run, as it is; if it has no tokens today (a
    new day since), first give every centre a morning in progress, as the run does."""
    from sqlalchemy import func, select

    from queue_server.app import create_app
    from queue_server.credentials import key_hash, new_key
    from queue_server.extensions import db
    from queue_server.models import Event, Feedback, ServiceRequest, Staff, StaffApiKey, Token

    instance = Path("/tmp/khidmat-bench-instance")
    instance.mkdir(exist_ok=True)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "INSTANCE_PATH": instance, "TESTING": True})
    setup = load_setup(app)
    now = datetime.now(TZ)
    engine = create_engine(url)
    with app.app_context():
        key = new_key("staff")
        admin = db.session.query(Staff).filter_by(username="admin").one()
        db.session.add(StaffApiKey(staff_id=admin.id, key_hash=key_hash(key), label="bench"))
        setup.admin_key = key
        db.session.commit()
        if not db.session.scalar(select(func.count()).where(Token.business_day == now.date())):
            history = History(setup, args.tokens_per_day, seed=2)
            history.token_id = db.session.scalar(select(func.max(Token.id))) or 0
            history.event_id = db.session.scalar(select(func.max(Event.id))) or 0
            history.request_id = db.session.scalar(select(func.max(ServiceRequest.id))) or 0
            history.feedback_id = db.session.scalar(select(func.max(Feedback.id))) or 0
            rows = db.session.execute(select(Event.centre_id, func.max(Event.seq)).group_by(Event.centre_id))
            history.seq = dict(rows.all())
            db.session.remove()
            for cid in setup.centres:
                history.day(cid, now.date(), now=now)
            writer = Writer(engine)
            history.flush(writer)
            writer.close()
            open_today(app, setup, now)
            print("(gave every centre a morning in progress today)", flush=True)
        db.session.remove()
    chain_heads(engine)
    name = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"\n## {name}: measuring the existing database ({len(setup.centres)} centres)", flush=True)
    result = measure(app, setup, now.date(), "as left")
    result.update(count_rows(engine))
    print_result(result)
    engine.dispose()


if __name__ == "__main__":
    main()
