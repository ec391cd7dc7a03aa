"""Where a login may send the browser afterwards: only a path on this very site."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit


def safe_next(target: object) -> str | None:
    """``target`` when it is a same-origin relative path, else None.

    Browsers and Werkzeug strip tabs and newlines and read backslashes as slashes, so
    ``/%09/evil.example`` or ``/\\evil.example`` would end at another host: refuse any
    control character or backslash, raw or percent-encoded, and anything that is not a
    single leading slash once decoded."""
    if not isinstance(target, str) or not target or len(target) > 2000:
        return None
    for text in (target, unquote(target)):
        if any(ord(c) < 0x20 or ord(c) == 0x7F or c == "\\" for c in text):
            return None
        if not text.startswith("/") or text.startswith("//"):
            return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
