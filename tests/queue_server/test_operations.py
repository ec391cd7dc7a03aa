"""Every operation against a real database: the change, the event, the refusals."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server import operations as ops
from queue_server.actors import SYSTEM, Actor
from queue_server.audit import verify_chain
from queue_server.errors import Conflict, Forbidden, IllegalTransition, NotFound, ValidationFailed
from queue_server.models import Centre, Counter, CounterState, Event, EventNote, Priority, Token, TokenState
from queue_server.publish import Message, add_sink, remove_sink
from tests.support.factories import make_token, open_counter


@pytest.fixture
def clerk1(actor_of: Callable[[str], Actor]) -> Actor:
    return actor_of("clerk1")


@pytest.fixture
def open1(session: Session, centre: Centre) -> Counter:
    return open_counter(session, centre, 1)


@pytest.fixture
def sent() -> list[Message]:
    box: list[Message] = []
    add_sink(box.append)
    yield box
    remove_sink(box.append)


def events(session: Session, kind: str) -> int:
    return session.scalar(select(func.count()).select_from(Event).where(Event.kind == kind)) or 0


def test_issue_numbers_per_service_and_records_an_event(session: Session, centre: Centre) -> None:
    a1, a2 = make_token(session, centre), make_token(session, centre)
    b1 = make_token(session, centre, "character_other")
    assert (a1.number, a2.number, b1.number) == ("A001", "A002", "B001")
    assert a1.state == TokenState.WAITING
    assert len(a1.public_code) >= 22 and a1.public_code != a2.public_code
    assert events(session, "token_issued") == 3


def test_issue_reports_people_ahead_and_an_estimate(session: Session, centre: Centre, open1: Counter) -> None:
    make_token(session, centre)
    make_token(session, centre)
    third = ops.issue_token(session, centre, "character", SYSTEM)
    assert third.ahead == 2
    # One open counter serves the service: the third waits for the first two to be served.
    assert third.eta_minutes is not None and third.eta_minutes > 0
    assert third.token.eta_ql_minutes is not None and third.token.eta_ql_minutes > 0
    senior = ops.issue_token(session, centre, "character", SYSTEM, priority=Priority.SENIOR)
    assert senior.ahead == 0


def test_issue_refuses_unknown_and_inactive_services(session: Session, centre: Centre, service_code) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound):
        ops.issue_token(session, centre, "nope", SYSTEM)
    service_code("bank").is_active = False
    session.commit()
    with pytest.raises(Conflict, match="not available"):
        ops.issue_token(session, centre, "bank", SYSTEM)


def test_issue_refuses_an_actor_of_another_centre(session: Session, centre: Centre) -> None:
    outsider = Actor("device", 99, centre_id=centre.id + 1)
    with pytest.raises(Forbidden):
        ops.issue_token(session, centre, "character", outsider)


def test_full_happy_path(
    session: Session, centre: Centre, open1: Counter, clerk1: Actor, sent: list[Message]
) -> None:
    token = make_token(session, centre)
    sent.clear()
    called = ops.call_next(session, open1.id, clerk1)
    assert called is not None and called.id == token.id
    assert called.state == TokenState.CALLED and called.counter_id == open1.id
    assert sent == []  # nothing leaves before the commit
    session.commit()
    assert {m.event for m in sent} >= {"token_called", "queue_changed", "counter_changed"}
    ops.recall(session, token.id, clerk1)
    ops.start(session, token.id, clerk1)
    ops.park(session, token.id, clerk1)
    ops.unpark(session, token.id, clerk1)
    done = ops.complete(session, token.id, clerk1, outcome="served")
    session.commit()
    assert done.state == TokenState.DONE and done.outcome == "served"
    assert done.started_at is not None and done.finished_at is not None
    kinds = [
        e.kind for e in session.scalars(select(Event).where(Event.token_id == token.id).order_by(Event.seq))
    ]
    assert kinds == [
        "token_issued",
        "token_called",
        "token_recalled",
        "token_started",
        "request_opened",  # start opens the request; nothing recorded, so completing withdraws it
        "token_parked",
        "token_unparked",
        "request_withdrawn",
        "token_completed",
    ]
    assert verify_chain(session, centre.id).ok


def test_rollback_drops_the_announcements(session: Session, centre: Centre, sent: list[Message]) -> None:
    ops.issue_token(session, centre, "character", SYSTEM)
    session.rollback()
    assert sent == []
    assert session.scalar(select(func.count()).select_from(Token)) == 0


def test_illegal_transition_names_the_state_and_changes_nothing(
    session: Session, centre: Centre, open1: Counter, clerk1: Actor
) -> None:
    token = make_token(session, centre)
    ops.call_next(session, open1.id, clerk1)
    session.commit()
    before = session.scalar(select(func.count()).select_from(Event))
    with pytest.raises(IllegalTransition) as info:
        ops.complete(session, token.id, clerk1)
    assert info.value.current == "called"
    session.rollback()
    session.expire_all()
    assert session.get(Token, token.id).state == TokenState.CALLED  # type: ignore[union-attr]
    assert session.scalar(select(func.count()).select_from(Event)) == before


def test_call_next_when_nobody_waits_is_none(session: Session, open1: Counter, clerk1: Actor) -> None:
    assert ops.call_next(session, open1.id, clerk1) is None


def test_call_next_refuses_a_busy_closed_or_foreign_counter(
    session: Session,
    centre: Centre,
    open1: Counter,
    clerk1: Actor,
    actor_of,
    counter_no,  # type: ignore[no-untyped-def]
) -> None:
    make_token(session, centre)
    make_token(session, centre)
    ops.call_next(session, open1.id, clerk1)
    session.commit()
    with pytest.raises(Conflict, match="still busy"):
        ops.call_next(session, open1.id, clerk1)
    session.rollback()
    with pytest.raises(Forbidden):
        ops.call_next(session, open1.id, actor_of("clerk2"))
    session.rollback()
    ops.open_counter(session, counter_no(2).id, actor_of("clerk2"))
    ops.pause_counter(session, counter_no(2).id, actor_of("clerk2"))
    session.commit()
    with pytest.raises(Conflict, match="paused"):
        ops.call_next(session, counter_no(2).id, actor_of("clerk2"))


def test_one_clerk_per_counter_and_one_counter_per_clerk(
    session: Session,
    open1: Counter,
    clerk1: Actor,
    actor_of,
    counter_no,  # type: ignore[no-untyped-def]
) -> None:
    with pytest.raises(Conflict, match="already open"):
        ops.open_counter(session, open1.id, actor_of("clerk2"))
    session.rollback()
    with pytest.raises(Conflict, match="already hold counter 1"):
        ops.open_counter(session, counter_no(2).id, clerk1)
    session.rollback()
    with pytest.raises(Forbidden):
        ops.open_counter(session, counter_no(2).id, actor_of("manager"))


def test_dispatch_respects_work_profiles(
    session: Session, centre: Centre, open1: Counter, clerk1: Actor
) -> None:
    bank = make_token(session, centre, "bank")  # counter 1 does not serve the bank
    assert ops.call_next(session, open1.id, clerk1) is None
    session.rollback()
    char = make_token(session, centre, "character")
    called = ops.call_next(session, open1.id, clerk1)
    assert called is not None and called.id == char.id
    assert session.get(Token, bank.id).state == TokenState.WAITING  # type: ignore[union-attr]


def test_priority_first_then_the_guard(
    session: Session, centre: Centre, open1: Counter, clerk1: Actor
) -> None:
    centre.max_priority_streak = 2
    session.commit()
    normal = make_token(session, centre)
    seniors = [make_token(session, centre, priority=Priority.SENIOR) for _ in range(3)]
    order = []
    for _ in range(4):
        token = ops.call_next(session, open1.id, clerk1)
        assert token is not None
        order.append(token.id)
        ops.start(session, token.id, clerk1)
        ops.complete(session, token.id, clerk1)
        session.commit()
    assert order == [seniors[0].id, seniors[1].id, normal.id, seniors[2].id]


def test_transfer_to_service_keeps_the_original_issue_time(
    session: Session,
    centre: Centre,
    open1: Counter,
    clerk1: Actor,
    actor_of,
    counter_no,  # type: ignore[no-untyped-def]
) -> None:
    first = make_token(session, centre)
    issued_at = first.queued_at
    ops.call_next(session, open1.id, clerk1)
    ops.start(session, first.id, clerk1)
    moved = ops.transfer(session, first.id, clerk1, service_code="employee")
    session.commit()
    assert moved.state == TokenState.WAITING and moved.service.code == "employee"
    assert moved.queued_at == issued_at and moved.number == "A001"
    later = make_token(session, centre, "employee")
    clerk3 = actor_of("clerk3")
    ops.open_counter(session, counter_no(3).id, clerk3)
    got = ops.call_next(session, counter_no(3).id, clerk3)
    assert got is not None and got.id == first.id and got.id != later.id


def test_transfer_to_a_counter_goes_to_the_front_there_only(
    session: Session,
    centre: Centre,
    open1: Counter,
    clerk1: Actor,
    actor_of,
    counter_no,  # type: ignore[no-untyped-def]
) -> None:
    older = make_token(session, centre, "bank")
    token = make_token(session, centre)
    ops.call_next(session, open1.id, clerk1)
    ops.start(session, token.id, clerk1)
    ops.transfer(session, token.id, clerk1, counter_id=counter_no(8).id)
    session.commit()
    # counter 2 also serves character certificates but must not take it
    clerk2 = actor_of("clerk2")
    ops.open_counter(session, counter_no(2).id, clerk2)
    assert ops.call_next(session, counter_no(2).id, clerk2) is None
    clerk8 = actor_of("clerk8")
    ops.open_counter(session, counter_no(8).id, clerk8)
    got = ops.call_next(session, counter_no(8).id, clerk8)
    assert got is not None and got.id == token.id, "the direct transfer beats an older bank token"
    assert session.get(Token, older.id).state == TokenState.WAITING  # type: ignore[union-attr]


def test_transfer_needs_exactly_one_target(
    session: Session, centre: Centre, open1: Counter, clerk1: Actor
) -> None:
    token = make_token(session, centre)
    ops.call_next(session, open1.id, clerk1)
    ops.start(session, token.id, clerk1)
    with pytest.raises(ValidationFailed):
        ops.transfer(session, token.id, clerk1)
    with pytest.raises(ValidationFailed):
        ops.transfer(session, token.id, clerk1, service_code="bank", counter_id=open1.id)
    with pytest.raises(Conflict):
        ops.transfer(session, token.id, clerk1, counter_id=open1.id)


def test_recall_limit_then_no_show_then_requeue(
    session: Session, centre: Centre, open1: Counter, clerk1: Actor
) -> None:
    token = make_token(session, centre)
    ops.call_next(session, open1.id, clerk1)
    for _ in range(centre.max_recalls):
        ops.recall(session, token.id, clerk1)
    with pytest.raises(Conflict, match="no-show"):
        ops.recall(session, token.id, clerk1)
    ops.no_show(session, token.id, clerk1)
    back = ops.requeue(session, token.id, clerk1)
    session.commit()
    assert back.state == TokenState.WAITING and back.recall_count == 0
    assert back.queued_at == token.issued_at


def test_call_specific_is_audited_with_its_reason(
    session: Session, centre: Centre, open1: Counter, clerk1: Actor
) -> None:
    make_token(session, centre)
    second = make_token(session, centre)
    with pytest.raises(ValidationFailed):
        ops.call_specific(session, open1.id, second.id, clerk1, "  ")
    got = ops.call_specific(session, open1.id, second.id, clerk1, "elderly, came back from the bank")
    session.commit()
    assert got.id == second.id and got.state == TokenState.CALLED
    event = session.scalar(select(Event).where(Event.kind == "token_called_specific"))
    assert event is not None and event.data == {"number": got.number, "reason_code": "other", "note": True}
    note = session.scalar(select(EventNote).where(EventNote.event_id == event.id))
    assert note is not None and note.text.startswith("elderly")


def test_cancel_and_staff_only_requeue(session: Session, centre: Centre, clerk1: Actor) -> None:
    token = make_token(session, centre)
    with pytest.raises(Forbidden):
        ops.cancel(session, token.id, SYSTEM.__class__("device", 1, centre_id=centre.id))
    cancelled = ops.cancel(session, token.id, clerk1, reason="left")
    assert cancelled.state == TokenState.CANCELLED
    with pytest.raises(IllegalTransition):
        ops.cancel(session, token.id, clerk1)


def test_close_counter_refused_while_busy(
    session: Session, centre: Centre, open1: Counter, clerk1: Actor
) -> None:
    make_token(session, centre)
    token = ops.call_next(session, open1.id, clerk1)
    assert token is not None
    with pytest.raises(Conflict, match="busy"):
        ops.close_counter(session, open1.id, clerk1)
    ops.no_show(session, token.id, clerk1)
    closed = ops.close_counter(session, open1.id, clerk1)
    assert closed.state == CounterState.CLOSED and closed.staff_id is None


def test_end_of_day_closes_everything(
    session: Session, centre: Centre, open1: Counter, clerk1: Actor, sent: list[Message]
) -> None:
    for _ in range(3):
        make_token(session, centre)
    ops.call_next(session, open1.id, clerk1)
    session.commit()
    with pytest.raises(Forbidden):
        ops.end_of_day(session, centre, clerk1)
    result = ops.end_of_day(session, centre, SYSTEM)
    session.commit()
    assert (result.tokens_closed, result.counters_closed) == (3, 1)
    states = set(session.scalars(select(Token.state)))
    assert states == {TokenState.CLOSED}
    assert session.get(Counter, open1.id).state == CounterState.CLOSED  # type: ignore[union-attr]
    assert any(m.event == "refresh" for m in sent)
    assert verify_chain(session, centre.id).ok
