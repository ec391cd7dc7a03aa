"""The demo centre: 19 services of a Khidmat Markaz, 8 counters, staff and devices."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from queue_server.credentials import hash_password, key_hash, new_key
from queue_server.models import (
    CatalogueService,
    Centre,
    Counter,
    Device,
    DeviceKind,
    OpeningHours,
    Role,
    Service,
    Staff,
    StaffApiKey,
    Turnaround,
    WorkProfileEntry,
)

SPOT, SAME, DAYS = Turnaround.ON_THE_SPOT, Turnaround.SAME_DAY, Turnaround.DAYS
CNIC_COPY = {"en": "Copy of CNIC", "ur": "شناختی کارڈ کی کاپی"}
PHOTOS = {"en": "Two photographs", "ur": "دو تصاویر"}

# code, English, Urdu, group, prefix, turnaround, days, fee, target wait, minutes, documents
SERVICES: list[tuple[Any, ...]] = [
    (
        "character",
        "Character certificate",
        "کریکٹر سرٹیفکیٹ",
        "certificates",
        "A",
        SAME,
        0,
        1500,
        20,
        8,
        [CNIC_COPY, PHOTOS],
    ),
    (
        "character_other",
        "Character certificate (another district)",
        "دوسرے ضلع کا کریکٹر سرٹیفکیٹ",
        "certificates",
        "B",
        SAME,
        0,
        1500,
        25,
        10,
        [CNIC_COPY, PHOTOS],
    ),
    (
        "verification",
        "General police verification",
        "جنرل پولیس ویریفکیشن",
        "certificates",
        "C",
        DAYS,
        5,
        500,
        20,
        7,
        [CNIC_COPY],
    ),
    (
        "employee",
        "Employee (domestic/commercial) registration",
        "ملازم کی رجسٹریشن",
        "registration",
        "D",
        SAME,
        0,
        0,
        15,
        6,
        [CNIC_COPY, {"en": "Employee's CNIC copy", "ur": "ملازم کے شناختی کارڈ کی کاپی"}],
    ),
    (
        "tenant",
        "Tenant registration",
        "کرایہ دار کی رجسٹریشن",
        "registration",
        "E",
        SAME,
        0,
        0,
        15,
        6,
        [CNIC_COPY, {"en": "Tenancy agreement", "ur": "کرایہ نامہ"}],
    ),
    (
        "vehicle",
        "Vehicle verification",
        "گاڑی کی تصدیق",
        "vehicles",
        "F",
        SPOT,
        0,
        0,
        10,
        4,
        [{"en": "Vehicle registration book", "ur": "گاڑی کی رجسٹریشن بک"}],
    ),
    (
        "learner",
        "Learner's driving permit",
        "لرنر ڈرائیونگ پرمٹ",
        "licences",
        "G",
        SAME,
        0,
        60,
        20,
        7,
        [CNIC_COPY, {"en": "Medical certificate", "ur": "میڈیکل سرٹیفکیٹ"}],
    ),
    (
        "licence_renewal",
        "Driving licence renewal",
        "ڈرائیونگ لائسنس کی تجدید",
        "licences",
        "H",
        SAME,
        0,
        1200,
        20,
        7,
        [CNIC_COPY, {"en": "Old licence", "ur": "پرانا لائسنس"}],
    ),
    (
        "licence_duplicate",
        "Duplicate driving licence",
        "ڈپلیکیٹ ڈرائیونگ لائسنس",
        "licences",
        "J",
        SAME,
        0,
        1000,
        20,
        7,
        [CNIC_COPY],
    ),
    (
        "licence_international",
        "International driving permit",
        "انٹرنیشنل ڈرائیونگ پرمٹ",
        "licences",
        "K",
        SAME,
        0,
        550,
        25,
        9,
        [CNIC_COPY, {"en": "Passport", "ur": "پاسپورٹ"}, {"en": "Visa", "ur": "ویزا"}],
    ),
    (
        "lost_document",
        "Lost-document report",
        "گمشدہ دستاویزات کی رپورٹ",
        "reports",
        "L",
        SPOT,
        0,
        0,
        15,
        5,
        [CNIC_COPY],
    ),
    ("crime_report", "Crime report", "کرائم رپورٹ", "reports", "M", SAME, 0, 0, 15, 10, [CNIC_COPY]),
    (
        "fir_copy",
        "FIR copy",
        "ایف آئی آر کی نقل",
        "reports",
        "N",
        SAME,
        0,
        0,
        15,
        5,
        [CNIC_COPY, {"en": "FIR number", "ur": "ایف آئی آر نمبر"}],
    ),
    ("women_desk", "Women's help desk", "خواتین ہیلپ ڈیسک", "assistance", "P", SPOT, 0, 0, 10, 10, []),
    ("legal", "Legal assistance", "قانونی معاونت", "assistance", "Q", SPOT, 0, 0, 15, 12, []),
    (
        "bank",
        "Bank fee deposit",
        "بینک فیس کی ادائیگی",
        "payments",
        "R",
        SPOT,
        0,
        0,
        10,
        3,
        [{"en": "Challan form", "ur": "چالان فارم"}],
    ),
    (
        "token_tax",
        "Vehicle token tax",
        "گاڑی کا ٹوکن ٹیکس",
        "payments",
        "S",
        SPOT,
        0,
        0,
        10,
        4,
        [{"en": "Vehicle registration book", "ur": "گاڑی کی رجسٹریشن بک"}],
    ),
    (
        "overseas",
        "Overseas Pakistanis (status verification)",
        "سمندر پار پاکستانی",
        "assistance",
        "T",
        DAYS,
        5,
        0,
        20,
        8,
        [CNIC_COPY, {"en": "Passport", "ur": "پاسپورٹ"}],
    ),
    (
        "special_persons",
        "Special persons assistance",
        "خصوصی افراد کی معاونت",
        "assistance",
        "U",
        SPOT,
        0,
        0,
        5,
        8,
        [],
    ),
]

# counter number -> {service code: weight}; together they cover every service.
PROFILES: dict[int, dict[str, int]] = {
    1: {"character": 3, "character_other": 2, "verification": 1},
    2: {"character": 2, "character_other": 1, "overseas": 1},
    3: {"employee": 2, "tenant": 2, "verification": 1},
    4: {"vehicle": 2, "token_tax": 2},
    5: {"learner": 2, "licence_renewal": 2, "licence_duplicate": 1, "licence_international": 1},
    6: {"lost_document": 2, "crime_report": 2, "fir_copy": 1},
    7: {"women_desk": 3, "legal": 2, "special_persons": 3},
    8: {"bank": 3, "token_tax": 1, "character": 1},
}


@dataclass
class SeedResult:
    centre: str
    created: bool
    staff: list[dict[str, Any]] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"centre": self.centre, "created": self.created, "staff": self.staff, "devices": self.devices}


def seed_catalogue(session: Session) -> dict[str, CatalogueService]:
    """The province's catalogue of the 19 services: the missing entries are added, the
    existing ones left as an administrator may have changed them (idempotent)."""
    existing = {e.code: e for e in session.scalars(select(CatalogueService))}
    for order, (scode, en, ur, group, prefix, ta, days, fee, target, minutes, docs) in enumerate(SERVICES):
        if scode in existing:
            continue
        existing[scode] = CatalogueService(
            code=scode,
            name_en=en,
            name_ur=ur,
            group=group,
            prefix=prefix,
            turnaround=ta,
            turnaround_days=days,
            fee=fee,
            target_wait_minutes=target,
            default_service_minutes=minutes,
            documents=docs,
            sort_order=order,
        )
        session.add(existing[scode])
    session.flush()
    return existing


def seed_demo(session: Session, code: str = "demo") -> SeedResult:
    """Create the catalogue and the demo centre if they do not exist. Idempotent: a second
    run creates nothing and prints no secrets (they were shown once, when created)."""
    catalogue = seed_catalogue(session)
    if session.scalar(select(Centre).where(Centre.code == code)) is not None:
        return SeedResult(code, created=False)
    centre = Centre(
        code=code,
        name_en="Khidmat Markaz Demo",
        name_ur="خدمت مرکز ڈیمو",
        district="Lahore",
        timezone="Asia/Karachi",
        # Bookings from the phone: 30 % of each slot's capacity, the rest for walk-ins.
        # and joining the queue from the phone while the centre is open.
        settings={
            "appointments": {"enabled": True, "share": 0.3, "slot_minutes": 30},
            "remote_queue": {"enabled": True},
        },
    )
    session.add(centre)
    session.flush()
    # Monday to Saturday 08:00-16:00, closed on Sunday; the business day starts at midnight.
    for weekday in range(7):
        if weekday == 6:
            centre.opening_hours.append(OpeningHours(weekday=weekday, is_closed=True))
        else:
            centre.opening_hours.append(
                OpeningHours(weekday=weekday, opens_at=time(8, 0), closes_at=time(16, 0))
            )
    services: dict[str, Service] = {}
    for order, (scode, en, ur, group, prefix, ta, days, fee, target, minutes, docs) in enumerate(SERVICES):
        services[scode] = Service(
            centre_id=centre.id,
            catalogue_id=catalogue[scode].id,
            overrides={},
            code=scode,
            name_en=en,
            name_ur=ur,
            group=group,
            prefix=prefix,
            turnaround=ta,
            turnaround_days=days,
            fee=fee,
            target_wait_minutes=target,
            default_service_minutes=minutes,
            documents=docs,
            sort_order=order,
        )
        session.add(services[scode])
    session.flush()
    for number, profile in PROFILES.items():
        counter = Counter(centre_id=centre.id, number=number, name=f"Counter {number}")
        counter.profile = [WorkProfileEntry(service_id=services[c].id, weight=w) for c, w in profile.items()]
        session.add(counter)
    result = SeedResult(code, created=True)
    people: list[tuple[str, str, Role, int | None]] = [
        (f"clerk{i}", f"Clerk {i}", Role.CLERK, centre.id) for i in range(1, 9)
    ]
    people += [
        ("manager", "Centre Manager", Role.MANAGER, centre.id),
        ("admin", "Province Admin", Role.ADMIN, None),
    ]
    for username, name, role, centre_id in people:
        if session.scalar(select(Staff).where(Staff.username == username)) is not None:
            continue
        password = secrets.token_urlsafe(9)
        staff = Staff(
            username=username,
            full_name=name,
            role=role,
            centre_id=centre_id,
            password_hash=hash_password(password),
        )
        key = new_key("staff")
        staff.api_keys.append(StaffApiKey(key_hash=key_hash(key), label="seed"))
        session.add(staff)
        result.staff.append({"username": username, "role": role.value, "password": password, "api_key": key})
    for kind, name in ((DeviceKind.KIOSK, "Kiosk 1"), (DeviceKind.DISPLAY, "Hall display")):
        key = new_key("dev")
        printer = {"kind": "none"} if kind == DeviceKind.KIOSK else {}
        session.add(
            Device(centre_id=centre.id, kind=kind, name=name, key_hash=key_hash(key), printer=printer)
        )
        result.devices.append({"kind": kind.value, "name": name, "key": key})
    session.flush()
    return result
