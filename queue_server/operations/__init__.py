"""Operations: the only code that changes state.

Each checks the current state, refuses what is not allowed with a DomainError (nothing
changed), appends an event, flushes, and queues what to announce after the commit. None
commits: the entry point (HTTP request, socket event, CLI command) owns the transaction.
"""

from queue_server.operations.counters import close_counter, open_counter, pause_counter, resume_counter
from queue_server.operations.day import end_of_day
from queue_server.operations.tokens import (
    IssuedToken,
    call_next,
    call_specific,
    cancel,
    complete,
    issue_token,
    no_show,
    park,
    recall,
    requeue,
    start,
    transfer,
    unpark,
)

__all__ = [
    "IssuedToken",
    "call_next",
    "call_specific",
    "cancel",
    "close_counter",
    "complete",
    "end_of_day",
    "issue_token",
    "no_show",
    "open_counter",
    "park",
    "pause_counter",
    "recall",
    "requeue",
    "resume_counter",
    "start",
    "transfer",
    "unpark",
]
