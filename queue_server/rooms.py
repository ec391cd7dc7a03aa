"""Socket.IO room names (DESIGN.md, "Realtime and serving")."""

from __future__ import annotations


def display(centre_id: int) -> str:
    return f"centre:{centre_id}:display"


def counters(centre_id: int) -> str:
    return f"centre:{centre_id}:counters"


def dashboard(centre_id: int) -> str:
    return f"centre:{centre_id}:dashboard"


def counter(counter_id: int) -> str:
    return f"counter:{counter_id}"


def token(public_code: str) -> str:
    return f"token:{public_code}"


def tracking(centre_id: int) -> str:
    """Every tracking page of the centre's tokens is in it too; nothing is sent to it, but
    a builder asks whether anyone is in it before reading the tokens whose pages it builds."""
    return f"centre:{centre_id}:tracking"


PROVINCE = "province:dashboard"


def centre_rooms(centre_id: int) -> tuple[str, ...]:
    return (display(centre_id), counters(centre_id), dashboard(centre_id))


def reached_beside(room: str, targets: tuple[str, ...]) -> bool:
    """Whether every socket in ``room`` is also in another of ``targets``, so that a
    message to both need not go to ``room``: a counter's room is joined only together
    with its centre's counters room (the counter and console screens)."""
    return room.startswith("counter:") and any(t.startswith("centre:") and t.endswith(":counters") for t in targets)
