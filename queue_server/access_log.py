"""gunicorn's access log without tracking codes: a public code is the key to a citizen's
token page, so ``/t/<code>`` and ``/api/v1/track/<code>`` are logged as ``/t/…``."""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

_TRACKED = re.compile(r"(/t/|/api/v1/track/)[^/\s?\"]+")


def redact_path(text: str) -> str:
    """The text with every tracking code replaced by an ellipsis."""
    return _TRACKED.sub(r"\1…", text)


class RedactingLogger(Logger):  # type: ignore[misc]
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        # the request line, path, referer and every header or environ copy of them
        return {k: redact_path(v) if isinstance(v, str) and "/t" in v else v for k, v in atoms.items()}
