"""Free text given with an event, kept out of the hash-chained log.

An event is undeletable (append-only, hash-chained), so it must never hold what a person
typed: a reason for calling out of order, for cancelling, or a display notice may contain
a CNIC or a name. The event keeps a reason code (``REASON_CODES``) and ``"note": true``;
the text goes to ``EventNote``, which is deleted after ``NOTE_RETENTION_DAYS`` (90 by
default) by ``purge_notes`` (``khidmat notes purge``, run daily with end of day).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete
from sqlalchemy.orm import Session

from queue_server.clock import utcnow
from queue_server.models import Event, EventNote

# Reasons a console or the API may give by code alone; any other text is "other" + a note.
REASON_CODES = (
    "priority_need",
    "returning_citizen",
    "collection",
    "manager_instruction",
    "left",
    "duplicate",
    "other",
)
MAX_NOTE = 500


def reason_fields(text: str) -> tuple[dict[str, Any], str]:
    """(what the event records, the free text for its note — "" when none)."""
    text = " ".join((text or "").split())[:MAX_NOTE]
    code = text.lower().replace(" ", "_").replace("-", "_")
    if code in REASON_CODES:
        return {"reason_code": code, "note": False}, ""
    if not text:
        return {"reason_code": "", "note": False}, ""
    return {"reason_code": "other", "note": True}, text


def attach_note(session: Session, event: Event, text: str) -> None:
    """Keep ``text`` beside ``event`` (nothing when empty)."""
    if text:
        session.add(EventNote(centre_id=event.centre_id, event_id=event.id, kind=event.kind, text=text))


def purge_notes(session: Session, now: datetime | None = None) -> int:
    """Delete notes older than the retention; returns how many."""
    cutoff = (now or utcnow()) - timedelta(days=int(current_app.config["NOTE_RETENTION_DAYS"]))
    done = session.execute(
        delete(EventNote).where(EventNote.created_at < cutoff).execution_options(synchronize_session=False)
    )
    return int(done.rowcount)  # type: ignore[attr-defined]
