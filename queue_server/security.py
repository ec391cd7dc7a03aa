"""Browser-side safety headers on every response, and who may read operational detail.

Every asset is served by the server itself (kiosks and displays work offline), so the
Content-Security-Policy allows this origin only: no inline script or style, no other
origin, no plugin, no framing (clickjacking of the console or the dashboard). Behind
HTTPS (``SESSION_COOKIE_SECURE``) browsers are also told to keep to HTTPS (HSTS).
"""

from __future__ import annotations

import ipaddress

from flask import Flask, Response, current_app, request

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "media-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HSTS = "max-age=31536000"


def configure_security(app: Flask) -> None:
    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if app.config.get("SESSION_COOKIE_SECURE") and request.is_secure:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response


def may_read_operations() -> bool:
    """Whether this caller may read /metrics and the detail of /healthz: an address in
    ``METRICS_ALLOWED`` (the host's own scraper by default) or a province administrator's key."""
    address = request.remote_addr or ""
    for allowed in str(current_app.config.get("METRICS_ALLOWED") or "").split(","):
        allowed = allowed.strip()
        if not allowed:
            continue
        try:
            if ipaddress.ip_address(address) in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            continue
    if request.headers.get("Authorization"):
        from queue_server.auth import current_caller
        from queue_server.errors import DomainError

        try:
            actor, _ = current_caller()
        except DomainError:
            return False
        return actor is not None and actor.is_province_admin
    return False
