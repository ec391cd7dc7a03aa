"""In-process factories that read like the domain: a token issued, a counter opened, a
socket connected. Each one commits, as the entry point a real caller goes through would."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_socketio.test_client import SocketIOTestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server import operations as ops
from queue_server.actors import SYSTEM, Actor
from queue_server.auth import staff_actor
from queue_server.clock import utcnow
from queue_server.extensions import socketio
from queue_server.models import Centre, Counter, Staff, Token


def make_token(
    session: Session, centre: Centre, service: str = "character", *, actor: Actor = SYSTEM, **kw: Any
) -> Token:
    """Issue the next token of ``service`` (``kw``: priority, counter, reason ...) and commit."""
    token = ops.issue_token(session, centre, service, actor, **kw).token
    session.commit()
    return token


def open_counter(session: Session, centre: Centre, number: int, clerk: str | None = None) -> Counter:
    """Counter ``number`` opened by ``clerk`` (a username; ``clerk<number>`` by default), committed."""
    counter = session.scalars(select(Counter).filter_by(centre_id=centre.id, number=number)).one()
    staff = session.scalars(select(Staff).filter_by(username=clerk or f"clerk{number}")).one()
    opened = ops.open_counter(session, counter.id, staff_actor(staff))
    session.commit()
    return opened


def next_morning(centre: Centre, hour: int = 10) -> datetime:
    """The next ``hour`` o'clock of the centre's own day, after now: a start for a test that
    moves the clock by minutes and must stay within one business day (a test started at
    23:50 from the real clock would see its tokens become yesterday's)."""
    now = utcnow().astimezone(centre.tz)
    morning = datetime.combine(now.date(), time(hour), centre.tz)
    return morning if morning > now else morning + timedelta(days=1)


def socketio_client(
    app: Flask, key: str | None = None, *, client: FlaskClient | None = None
) -> SocketIOTestClient:
    """A Socket.IO client of ``app``: anonymous, holding ``key``, or sharing ``client``'s signed-in session."""
    return socketio.test_client(app, auth={"key": key} if key is not None else None, flask_test_client=client)
