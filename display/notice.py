"""The manager's scrolling notice on the public display: ``PUT /api/v1/centres/<code>/notice``.

Both languages are set together (an empty text hides that language's notice). Every screen
of the centre redraws from a fresh snapshot once the change is committed; the change is
recorded in the centre's event chain.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from queue_server.api.registry import endpoint
from queue_server.audit import append_event
from queue_server.auth import current_caller
from queue_server.extensions import csrf
from queue_server.operations import announce
from queue_server.operations.lookup import centre_for
from queue_server.operations.notes import attach_note
from queue_server.unit_of_work import current_session

api = Blueprint("display_api", __name__, url_prefix="/api/v1")

MAX_NOTICE = 500


class NoticeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    notice_en: str = Field(default="", max_length=MAX_NOTICE)
    notice_ur: str = Field(default="", max_length=MAX_NOTICE)


class NoticeOut(BaseModel):
    centre: str
    notice_en: str
    notice_ur: str


@endpoint(
    api,
    "/centres/<code>/notice",
    "PUT",
    summary="Set the scrolling notice of the centre's public displays (English and Urdu)",
    admits=("manager",),
    body=NoticeIn,
    responses={200: NoticeOut},
    errors=(404,),
    tag="display",
)
def set_notice(code: str, body: NoticeIn) -> Any:
    actor, _ = current_caller()
    assert actor is not None  # the declaration admits managers only
    session = current_session()
    centre = centre_for(session, actor, code)
    before = {"notice_en": centre.notice_en, "notice_ur": centre.notice_ur}
    centre.notice_en = " ".join(body.notice_en.split())
    centre.notice_ur = " ".join(body.notice_ur.split())
    after = {"notice_en": centre.notice_en, "notice_ur": centre.notice_ur}
    if after != before:
        session.flush()
        # The text stays on the centre (where the next notice replaces it) and in a
        # deletable note; the chained event records only that it changed.
        event = append_event(
            session, centre.id, "notice_changed", actor,
            data={"note": True, "languages": [k[-2:] for k, v in after.items() if v]},
        )
        attach_note(session, event, "\n".join(f"{k[-2:]}: {v}" for k, v in after.items() if v))
        announce.centre_refresh(session, centre)
    return {"centre": centre.code, **after}


csrf.exempt(set_notice)  # a session caller is still checked for the CSRF header by `requires`
