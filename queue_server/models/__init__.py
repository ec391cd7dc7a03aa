"""The data model, one module per concept."""

from queue_server.models.appointment import Appointment, RemoteToken
from queue_server.models.centre import (
    CatalogueService,
    Centre,
    CentreHoliday,
    Counter,
    OpeningHours,
    Service,
    WorkProfileEntry,
)
from queue_server.models.delivery import Delivery
from queue_server.models.event import ChainHead, Event, WitnessedCheckpoint
from queue_server.models.feedback import Feedback, Notification, NotificationStatus, SmsPart, SmsRecipient
from queue_server.models.people import Device, Staff, StaffApiKey
from queue_server.models.request import ServiceRequest
from queue_server.models.security import EventNote, LoginSession
from queue_server.models.stats import Alert, AlertSettings, DailyStat, DailyStatDay
from queue_server.models.sync import NodeSyncState, SyncedEvent, SyncedRow, SyncNode
from queue_server.models.token import ScopedSequence, Token
from queue_server.states import (
    AppointmentState,
    CounterState,
    DeliveryState,
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
    "Appointment",
    "AppointmentState",
    "CatalogueService",
    "Centre",
    "CentreHoliday",
    "ChainHead",
    "Counter",
    "CounterState",
    "DailyStat",
    "DailyStatDay",
    "Delivery",
    "DeliveryState",
    "Device",
    "DeviceKind",
    "Event",
    "EventNote",
    "Feedback",
    "LoginSession",
    "NodeSyncState",
    "Notification",
    "NotificationStatus",
    "OpeningHours",
    "PrintState",
    "Priority",
    "RemoteToken",
    "RequestState",
    "Role",
    "ScopedSequence",
    "Service",
    "ServiceRequest",
    "SmsPart",
    "SmsRecipient",
    "Staff",
    "StaffApiKey",
    "SyncNode",
    "SyncedEvent",
    "SyncedRow",
    "Token",
    "TokenState",
    "Turnaround",
    "WitnessedCheckpoint",
    "WorkProfileEntry",
]
