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


PROVINCE = "province:dashboard"


def centre_rooms(centre_id: int) -> tuple[str, ...]:
    return (display(centre_id), counters(centre_id), dashboard(centre_id))


def reached_beside(room: str, targets: tuple[str, ...]) -> bool:
    """Whether every socket in ``room`` is also in another of ``targets``, so that a
    message to both need not go to ``room``: a counter's room is joined only together
    with its centre's counters room (the counter and console screens)."""
    return room.startswith("counter:") and any(t.startswith("centre:") and t.endswith(":counters") for t in targets)
