"""Request and response bodies of the JSON API (pydantic: validation and the OpenAPI schemas)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from queue_server.inputs import Strict
from queue_server.states import Priority

Code = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")


class IssueTokenIn(Strict):
    service: str = Code
    priority: Priority = Priority.NORMAL
    idempotency_key: str | None = Field(
        default=None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"
    )
    reason: str = Field(default="", max_length=200)  # why staff marked a token as priority


class LoginIn(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class CsrfOut(BaseModel):
    csrf_token: str


class ServiceOut(BaseModel):
    id: int
    code: str
    name_en: str
    name_ur: str
    prefix: str
    group: str
    target_wait_minutes: int
    is_active: bool
    waiting: int
    longest_wait_seconds: int
    eta_minutes: int | None


class ServiceList(BaseModel):
    centre: str
    services: list[ServiceOut]


class TokenServiceOut(BaseModel):
    code: str
    name_en: str
    name_ur: str


class TokenOut(BaseModel):
    id: int
    number: str
    state: str
    priority: str
    service: TokenServiceOut
    counter: int | None
    called_at: str | None
    recalls: int
    public_code: str
    service_id: int
    counter_id: int | None
    target_counter: int | None
    issued_at: str | None
    queued_at: str | None
    started_at: str | None
    finished_at: str | None
    outcome: str | None
    print_state: str


class IssuedTokenOut(TokenOut):
    position: int
    ahead: int
    eta_minutes: int | None
    tracking_url: str
    replay: bool


class IssueAtCounterIn(Strict):
    service: str = Code
    priority: Priority = Priority.NORMAL


class CounterPrintOut(BaseModel):
    configured: bool
    printed: bool
    status: str
    detail: str


class IssuedAtCounterOut(IssuedTokenOut):
    ticket_url: str | None
    print: CounterPrintOut


class PublicTokenOut(BaseModel):
    id: int
    number: str
    state: str
    priority: str
    service: TokenServiceOut
    counter: int | None
    called_at: str | None
    recalls: int


class CounterOut(BaseModel):
    id: int
    number: int
    name: str
    state: str
    clerk: str | None
    current: PublicTokenOut | None
    services: list[str]


class CounterList(BaseModel):
    centre: str
    counters: list[CounterOut]


class CentreOut(BaseModel):
    id: int
    code: str
    name_en: str
    name_ur: str
    timezone: str
    notice_en: str
    notice_ur: str
    closes_at: str


class SnapshotOut(BaseModel):
    centre: CentreOut
    server_time: str
    services: list[ServiceOut]
    counters: list[CounterOut]
    recent_calls: list[PublicTokenOut]


class TrackRemoteOut(BaseModel):
    check_in_code: str
    checked_in: bool


class TrackDeliveryOut(BaseModel):
    state: str
    courier: str
    consignment: str
    dispatched_at: str | None
    delivered_at: str | None


class TrackRequestOut(BaseModel):
    state: str
    due_at: str | None
    ready_at: str | None
    closed_at: str | None
    collection_called_at: str | None
    collect_counter: int | None
    delivery: TrackDeliveryOut | None = None


class TrackFeedbackOut(BaseModel):
    allowed: bool
    given: bool
    rating: int | None


class TrackOut(BaseModel):
    number: str
    state: str
    service: TokenServiceOut
    counter: int | None
    ahead: int
    eta_minutes: int | None
    almost_turn_ahead: int
    centre: str
    centre_name_en: str
    centre_name_ur: str
    opens_at: str
    closes_at: str
    timezone: str
    issued_at: str
    called_at: str | None
    recalls: int
    remote: TrackRemoteOut | None = None
    request_state: str | None
    request: TrackRequestOut | None
    feedback: TrackFeedbackOut


class MeOut(BaseModel):
    kind: str
    id: int | None
    name: str
    role: str | None
    centre: str | None
    device_kind: str | None
    counter: int | None
    csrf_token: str | None
