"""Numbers per centre, per service, per local day; public codes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlalchemy.orm import Session

from queue_server import operations as ops
from queue_server.actors import SYSTEM
from queue_server.models import Centre, Token
from queue_server.operations.numbering import PUBLIC_CODE_BYTES, next_value
from tests.support.factories import make_token


def numbered(token: Token) -> tuple[str, date]:
    """A token's number and the business day it belongs to."""
    return token.number, token.business_day


@pytest.mark.frozen_at(datetime(2026, 11, 28, 18, 59, tzinfo=UTC))
def test_numbers_restart_at_the_local_midnight_not_utc(
    session: Session, centre: Centre, frozen_clock: time_machine.Coordinates
) -> None:
    # Asia/Karachi is UTC+5: 18:59 UTC on the 28th is 23:59 local; 19:01 UTC is the 29th.
    assert numbered(make_token(session, centre)) == ("A001", date(2026, 11, 28))
    assert numbered(make_token(session, centre)) == ("A002", date(2026, 11, 28))
    frozen_clock.move_to(datetime(2026, 11, 28, 19, 1, tzinfo=UTC))
    assert numbered(make_token(session, centre)) == ("A001", date(2026, 11, 29))
    assert numbered(make_token(session, centre, "bank")) == ("R001", date(2026, 11, 29))
    assert numbered(make_token(session, centre)) == ("A002", date(2026, 11, 29))


def test_each_centre_numbers_on_its_own_time_zone(session: Session, centre: Centre) -> None:
    centre.timezone = "Asia/Dubai"  # UTC+4
    session.commit()
    with time_machine.travel(datetime(2026, 11, 28, 19, 30, tzinfo=UTC), tick=False):
        assert numbered(make_token(session, centre)) == ("A001", date(2026, 11, 28))


def test_the_counter_row_is_incremented_not_recomputed(session: Session, centre: Centre) -> None:
    day = date(2026, 1, 1)
    assert [next_value(session, centre.id, "scope", day) for _ in range(3)] == [1, 2, 3]
    assert next_value(session, centre.id, "other", day) == 1
    assert next_value(session, centre.id, "scope", date(2026, 1, 2)) == 1


def test_public_codes_are_long_random_and_url_safe(session: Session, centre: Centre) -> None:
    codes = {ops.issue_token(session, centre, "character", SYSTEM).token.public_code for _ in range(200)}
    assert len(codes) == 200
    assert PUBLIC_CODE_BYTES * 8 >= 128
    for code in codes:
        assert len(code) == 24
        assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
