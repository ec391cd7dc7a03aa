"""The data model, one module per concept."""

from queue_server.models.case import ServiceRequest
from queue_server.models.centre import Centre, Counter, Service, WorkProfileEntry
from queue_server.models.event import ChainHead, Event
from queue_server.models.feedback import Feedback, Notification, NotificationStatus
from queue_server.models.people import Device, Staff, StaffApiKey
from queue_server.models.stats import Alert, AlertSettings, DailyStat, DailyStatDay
from queue_server.models.token import ScopedSequence, Token
from queue_server.states import (
    CounterState,
    DeviceKind,
    PrintState,
    Priority,
    RequestState,
    Role,
    TokenState,
    Turnaround,
)

__all__ = [
    "Alert",
    "AlertSettings",
    "Centre",
    "ChainHead",
    "Counter",
    "CounterState",
    "DailyStat",
    "DailyStatDay",
    "Device",
    "DeviceKind",
    "Event",
    "Feedback",
    "Notification",
    "NotificationStatus",
    "PrintState",
    "Priority",
    "RequestState",
    "Role",
    "ScopedSequence",
    "Service",
    "ServiceRequest",
    "Staff",
    "StaffApiKey",
    "Token",
    "TokenState",
    "Turnaround",
    "WorkProfileEntry",
]
