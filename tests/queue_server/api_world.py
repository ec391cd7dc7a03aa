"""Two centres and every kind of caller, for the endpoint × caller table and the
OpenAPI checks.

The demo centre (seeded) is the one the calls are about: clerk1 holds counter 1 and is
serving A001 (so its request is open); A002 and A003 wait. A second centre, ``north``,
has its own clerk, manager, kiosk and display: they must be refused everything of ``demo``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server import operations
from queue_server.actors import SYSTEM
from queue_server.api.registry import PUBLIC, Endpoint
from queue_server.auth import staff_actor
from queue_server.credentials import hash_password, key_hash, new_key
from queue_server.models import (
    Centre,
    Counter,
    Event,
    Role,
    ServiceRequest,
    Staff,
    StaffApiKey,
    Token,
)
from queue_server.seed import seed_demo

# caller -> (kind of caller, of the demo centre?)
CALLERS: dict[str, tuple[str, bool]] = {
    "anonymous": ("anonymous", True),
    "bad_key": ("anonymous", True),
    "clerk": ("clerk", True),
    "kiosk": ("kiosk", True),
    "display": ("display", True),
    "manager": ("manager", True),
    "admin": ("admin", True),  # province-wide: every centre is hers
    "clerk_other": ("clerk", False),
    "manager_other": ("manager", False),
    "kiosk_other": ("kiosk", False),
    "display_other": ("display", False),
    "node": ("node", True),  # the demo centre's sync node (queue_server/sync)
    "node_other": ("node", False),
}
# which words of an endpoint's ``admits`` let each kind in
ADMITTED_BY = {
    "clerk": {"clerk", "staff"},
    "manager": {"manager", "staff"},
    "admin": {"admin", "manager", "staff"},
    "kiosk": {"kiosk"},
    "display": {"display"},
    "node": {"node"},
    "anonymous": set(),
}
# Resources not tied to a centre by their URL (about the caller), so callers of another
# centre are admitted like the demo centre's own.
UNSCOPED = {("GET", "/api/v1/me")}


@dataclass
class World:
    keys: dict[str, str | None]
    counter_id: int
    serving_token: int
    waiting_token: int
    other_counter_id: int
    public_code: str
    request_id: int
    clerk_password: str
    extra: dict[str, Any] = field(default_factory=dict)

    def headers(self, caller: str) -> dict[str, str]:
        key = self.keys[caller]
        return {"Authorization": f"Bearer {key}"} if key else {}

    def path_values(self, ep: Endpoint) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, conv in ep.params.items():
            if name == "code" and ep.path.startswith("/api/v1/track/"):
                values[name] = self.public_code
            elif name == "code":
                values[name] = "demo"
            elif name == "counter_id":
                values[name] = self.counter_id
            elif name == "token_id":
                values[name] = self.serving_token
            elif name == "request_id":
                values[name] = self.request_id
            elif name == "service":  # a catalogue entry
                values[name] = "character"
            else:  # an id of a row seeded first: the demo centre's
                values[name] = 1 if conv == "int" else "demo"
        return values

    def hints(self) -> dict[str, Any]:
        """Plausible values for body fields, by name."""
        return {
            "service": "character",
            "centre": "demo",
            "prefix": "Q",
            "counter": self.other_counter_id,
            "token": self.waiting_token,
            "reason": "checking the table",
            "username": "clerk1",
            "password": self.clerk_password,
            "key": self.keys["display"],
            "rating": 5,
            "applicant_name": "Test Applicant",
            "cnic": "35202-1234567-1",
            "phone": "03001234567",
        }


def build_world(session: Session, keys: dict[str, str], passwords: dict[str, str]) -> World:
    north = seed_demo(session, "north")  # services, counters and devices; staff names are taken
    north_centre = session.scalar(select(Centre).where(Centre.code == "north"))
    assert north_centre is not None
    all_keys: dict[str, str | None] = {
        "anonymous": None,
        "bad_key": "kq_staff_" + "x" * 43,
        "clerk": keys["clerk1"],
        "kiosk": keys["kiosk"],
        "display": keys["display"],
        "manager": keys["manager"],
        "admin": keys["admin"],
    }
    for device in north.devices:
        all_keys[f"{device['kind']}_other"] = device["key"]
    for username, role in (("clerk_other", Role.CLERK), ("manager_other", Role.MANAGER)):
        key = new_key("staff")
        staff = Staff(
            username=f"north_{username}",
            full_name=username,
            role=role,
            centre_id=north_centre.id,
            password_hash=hash_password("north-password"),
        )
        staff.api_keys.append(StaffApiKey(key_hash=key_hash(key), label="test"))
        session.add(staff)
        all_keys[username] = key
    from queue_server.sync.province import register_node

    all_keys["node"] = register_node(session, "demo")[1]
    all_keys["node_other"] = register_node(session, "north")[1]
    session.commit()

    demo = session.scalar(select(Centre).where(Centre.code == "demo"))
    assert demo is not None
    counters = {c.number: c for c in session.scalars(select(Counter).where(Counter.centre_id == demo.id))}
    clerk = staff_actor(session.scalar(select(Staff).where(Staff.username == "clerk1")))  # type: ignore[arg-type]
    operations.open_counter(session, counters[1].id, clerk)
    issued = [operations.issue_token(session, demo, "character", SYSTEM).token for _ in range(3)]
    called = operations.call_next(session, counters[1].id, clerk)
    assert called is not None and called.id == issued[0].id
    operations.start(session, called.id, clerk)
    session.commit()
    request_id = session.scalar(select(ServiceRequest.id).where(ServiceRequest.token_id == called.id))
    return World(
        keys=all_keys,
        counter_id=counters[1].id,
        serving_token=called.id,
        waiting_token=issued[1].id,
        other_counter_id=counters[2].id,
        public_code=issued[1].public_code,
        request_id=request_id or 1,
        clerk_password=passwords["clerk1"],
    )


def expectation(ep: Endpoint, caller: str) -> str:
    """ "public", "unauthenticated" (401), "forbidden" (403), "other_centre" (403 or 404)
    or "admitted" (never 401/403)."""
    if ep.admits == PUBLIC:
        return "public"
    kind, own_centre = CALLERS[caller]
    if kind == "anonymous":
        return "unauthenticated"
    if not ADMITTED_BY[kind] & set(ep.admits):
        return "forbidden"
    if not own_centre and ep.params and (ep.method, ep.path) not in UNSCOPED:
        return "other_centre"
    return "admitted"


def changes(session: Session) -> tuple[int, int, int]:
    """What a refused call must leave alone: the event log, the tokens and the counters."""
    session.expire_all()
    events = session.scalar(select(func.count(Event.id))) or 0
    tokens = session.scalar(select(func.count(Token.id))) or 0
    held = session.scalar(select(func.count(Counter.id)).where(Counter.staff_id.is_not(None))) or 0
    session.rollback()
    return events, tokens, held


def all_endpoints() -> list[Endpoint]:
    """Every declared endpoint, with the modules that declare them imported as the app
    factory imports them (so endpoints added anywhere are covered without listing them)."""
    import importlib

    import queue_server.api  # noqa: F401
    import queue_server.pairing  # noqa: F401
    from queue_server.api.registry import ENDPOINTS
    from queue_server.app import UI_BLUEPRINTS

    for name in UI_BLUEPRINTS:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return list(ENDPOINTS)


def best_caller(ep: Endpoint) -> str:
    """The demo centre's caller with the widest rights that the endpoint admits."""
    for caller in ("admin", "manager", "clerk", "kiosk", "display", "node"):
        if expectation(ep, caller) in ("admitted", "public"):
            return caller if ep.admits != PUBLIC else "anonymous"
    raise AssertionError(f"{ep.method} {ep.path} admits nobody")
