"""States and kinds, stored by value. Pure: no Flask, no database."""

from __future__ import annotations

from enum import StrEnum


class TokenState(StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    PARKED = "parked"
    DONE = "done"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    CLOSED = "closed"  # left open at the end of the day


class Priority(StrEnum):
    NORMAL = "normal"
    SENIOR = "senior"
    DISABLED = "disabled"


def is_province_admin(role: Role | None, centre_id: int | None) -> bool:
    """The one province-admin rule: an administrator who belongs to no centre oversees
    every centre (an admin of a centre is that centre's)."""
    return role == Role.ADMIN and centre_id is None


class CounterState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    PAUSED = "paused"


class Role(StrEnum):
    CLERK = "clerk"
    MANAGER = "manager"
    ADMIN = "admin"


class DeviceKind(StrEnum):
    KIOSK = "kiosk"
    DISPLAY = "display"


class Turnaround(StrEnum):
    ON_THE_SPOT = "on_the_spot"
    SAME_DAY = "same_day"
    DAYS = "days"


class RequestState(StrEnum):
    OPEN = "open"
    IN_PROCESS = "in_process"
    READY = "ready"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class PrintState(StrEnum):
    NOT_PRINTED = "not_printed"  # no printer, or issued through the API
    PRINTED = "printed"
    FAILED = "failed"


class AppointmentState(StrEnum):
    UNVERIFIED = "unverified"  # booked on the phone, waiting for the SMS code
    BOOKED = "booked"
    CHECKED_IN = "checked_in"  # arrived: a token was issued for it
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"  # the arrival window passed without a check-in
    EXPIRED = "expired"  # never verified


class DeliveryState(StrEnum):
    TO_DISPATCH = "to_dispatch"  # a ready document set aside for the courier
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    RETURNED = "returned"  # the courier brought it back: it waits at the centre


class PrinterStatus(StrEnum):
    """What a ticket printer reports: read by ``kiosk.printing``, recorded on the device by
    ``operations.printing``, counted by the statistics."""

    OK = "ok"
    PAPER_LOW = "paper_low"
    PAPER_OUT = "paper_out"
    OFFLINE = "offline"
    COVER_OPEN = "cover_open"
    TIMEOUT = "timeout"
    UNKNOWN = "unknown"  # what file, CUPS and memory printers always report (they print)


#: Statuses that stop a ticket from being sent (PAPER_LOW still prints).
PRINTER_FAULTS: frozenset[PrinterStatus] = frozenset(
    {PrinterStatus.PAPER_OUT, PrinterStatus.OFFLINE, PrinterStatus.COVER_OPEN, PrinterStatus.TIMEOUT}
)
#: A device's printer status when it has no printer.
NO_PRINTER = "none"
