"""Every error answers with a clear message in the caller's language, never a 500 page:
JSON ``{"error", "message"}`` for the API, a small page for browsers."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from queue_server.errors import N_, DomainError

log = logging.getLogger(__name__)

HTTP_MESSAGES = {
    400: N_("The request is malformed."),
    401: N_("Log in or give a key."),
    403: N_("You are not allowed to do this."),
    404: N_("Not found."),
    405: N_("This method is not allowed here."),
    413: N_("The request is too large."),
    415: N_("Send JSON."),
    429: N_("Too many requests: slow down."),
}


def translate(error: DomainError) -> str:
    message = gettext(error.template)
    if error.params:
        try:
            return message % error.params
        except (KeyError, TypeError, ValueError):
            return str(error)
    return message


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def respond(status: int, code: str, message: str, extra: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    if wants_json():
        response = jsonify({"error": code, "message": message, **(extra or {})})
        response.status_code = status
        return response
    return render_template("error.html", status=status, message=message), status


def register(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):  # type: ignore[no-untyped-def]
        return respond(error.status, error.code, translate(error), error.extra())

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):  # type: ignore[no-untyped-def]
        status = error.code or 500
        text = HTTP_MESSAGES.get(status, error.name)
        code = (error.name or "error").lower().replace(" ", "_")
        response = respond(status, code, gettext(text))
        if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            resp = response if not isinstance(response, tuple) else None
            if resp is not None:
                resp.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(DBAPIError)
    def database_error(error: DBAPIError):  # type: ignore[no-untyped-def]
        # A read outside a unit of work (who is asking, a page) met a database that is gone:
        # the screens are told as when a unit of work meets it (queue_server.outage).
        from queue_server.unit_of_work import noted_trouble

        trouble = noted_trouble(error)
        if trouble is None:
            return unexpected(error)
        log.warning("database trouble on %s %s: %s", request.method, request.path, error.orig)
        return respond(trouble.status, trouble.code, translate(trouble))

    @app.errorhandler(Exception)
    def unexpected(error: Exception):  # type: ignore[no-untyped-def]
        log.exception("unexpected error on %s %s", request.method, request.path)
        return respond(500, "internal", gettext("Something went wrong on the server."))
