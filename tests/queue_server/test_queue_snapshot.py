"""The snapshot the wait forecast reads (``queue_state.counter_capacities``): each service's
mean counter time comes from its last RECENT_SERVICES tokens served in the hall's days,
read per service from its own index, not from a window over the whole day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from queue_server.models import Centre, Token, TokenState
from queue_server.read import queue_state
from tests.support.factories import make_token

pytestmark = pytest.mark.frozen_at(datetime(2026, 12, 4, 12, tzinfo=UTC))  # a Friday, open


def served(session: Session, centre: Centre, service: str, seconds: list[int], *, finished: datetime) -> None:
    """Tokens of ``service`` served for ``seconds`` each, the last one finishing at ``finished``
    (the earlier ones a minute apart before it)."""
    for k, duration in enumerate(seconds):
        token: Token = make_token(session, centre, service)
        end = finished - timedelta(minutes=len(seconds) - 1 - k)
        token.state, token.called_at, token.finished_at = TokenState.DONE, end - timedelta(seconds=duration), end
    session.commit()


def test_a_services_mean_time_is_its_last_twenty_served_in_the_hall_with_the_default_weighing_in(
    session: Session, centre: Centre, frozen_clock: Any
) -> None:
    frozen_clock.move_to(datetime(2026, 12, 1, 8, tzinfo=UTC))  # three days before: not in the hall
    served(session, centre, "tenant", [3000] * 5, finished=datetime(2026, 12, 1, 9, tzinfo=UTC))
    frozen_clock.move_to(datetime(2026, 12, 4, 6, tzinfo=UTC))
    character = list(range(10, 260, 10))  # 25 of them: the first five are too old to count
    served(session, centre, "character", character, finished=datetime(2026, 12, 4, 11, tzinfo=UTC))
    served(session, centre, "tenant", [100, 200, 300], finished=datetime(2026, 12, 4, 11, 30, tzinfo=UTC))
    never_called = make_token(session, centre, "tenant")  # done without a call: no counter time
    never_called.state, never_called.finished_at = TokenState.DONE, datetime(2026, 12, 4, 11, 45, tzinfo=UTC)
    session.commit()
    frozen_clock.move_to(datetime(2026, 12, 4, 12, tzinfo=UTC))

    snapshot = queue_state.counter_capacities(session, centre)

    by_code = {s.code: s for s in centre.services}
    default = {code: 60.0 * by_code[code].default_service_minutes for code in by_code}
    assert snapshot.service_seconds[by_code["character"].id] == pytest.approx(
        (sum(character[-20:]) + 3 * default["character"]) / 23
    )
    assert snapshot.service_seconds[by_code["tenant"].id] == pytest.approx((600 + 3 * default["tenant"]) / 6)
    # a service nobody was served for: its default alone
    untouched = next(code for code in by_code if code not in ("character", "tenant"))
    assert snapshot.service_seconds[by_code[untouched].id] == pytest.approx(default[untouched])


def test_the_snapshot_sees_what_its_own_transaction_changed_before_it(session: Session, centre: Centre) -> None:
    """Its statements are plain Core ones, which the session still autoflushes before: a
    token that left the queue in this transaction, not flushed yet, is not in the snapshot,
    and one that came back is."""
    leaving, staying, returning = (make_token(session, centre, "character") for _ in range(3))
    returning.state = TokenState.CANCELLED
    session.commit()
    queue_state.hall_days(centre)  # (the centre loaded again now, not by the snapshot's reads)
    leaving.state, returning.state = TokenState.CANCELLED, TokenState.WAITING
    waiting = {c.token_id for c in queue_state.counter_capacities(session, centre).waiting}
    assert waiting == {staying.id, returning.id}
