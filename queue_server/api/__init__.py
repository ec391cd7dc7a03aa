"""The JSON API under /api/v1."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from queue_server.api import (  # noqa: E402,F401  (registers the endpoints)
    accounts,
    admin,
    appointments,
    deliveries,
    reports,
    requests,
    sms,
    sync,
    tracking,
    views,
)
