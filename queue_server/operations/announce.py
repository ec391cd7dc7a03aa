"""What each change tells the screens, built inside the transaction, sent after commit."""

from __future__ import annotations

from sqlalchemy.orm import Session

from queue_server import queue_state, rooms
from queue_server.models import Centre, Counter, Token
from queue_server.publish import Message, publish


def queue_changed(session: Session, centre: Centre) -> None:
    payload = {"centre_id": centre.id, "services": queue_state.queue_summary(session, centre)}
    publish(session, Message("queue_changed", rooms.centre_rooms(centre.id), payload))


def token_changed(session: Session, token: Token) -> None:
    public = queue_state.token_public(token)
    targets = list(rooms.centre_rooms(token.centre_id))
    if token.counter_id:
        targets.append(rooms.counter(token.counter_id))
    publish(session, Message("token_changed", tuple(targets), {"token": public}))
    track = {"token": public, "ahead": queue_state.tokens_ahead(session, token)}
    publish(session, Message("token_changed", (rooms.token(token.public_code),), track))


def token_called(session: Session, token: Token, kind: str = "call") -> None:
    """A call to show and announce: kind is "call", "recall" or "collection"."""
    public = queue_state.token_public(token)
    payload = {"token": public, "kind": kind}
    targets = (*rooms.centre_rooms(token.centre_id), rooms.token(token.public_code))
    if token.counter_id:
        targets = (*targets, rooms.counter(token.counter_id))
    publish(session, Message("token_called", targets, payload))


def counter_changed(session: Session, counter: Counter) -> None:
    current = queue_state.current_tokens(session, counter.centre_id).get(counter.id)
    payload = {"counter": queue_state.counter_public(counter, current)}
    targets = (*rooms.centre_rooms(counter.centre_id), rooms.counter(counter.id))
    publish(session, Message("counter_changed", targets, payload))


def centre_refresh(session: Session, centre: Centre) -> None:
    """Every screen of the centre redraws from a fresh snapshot (after end of day)."""
    publish(session, Message("refresh", rooms.centre_rooms(centre.id), {"centre_id": centre.id}))
