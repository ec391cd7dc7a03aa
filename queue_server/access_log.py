"""gunicorn's access log without tracking codes: a public code is the key to a citizen's
token page, so ``/t/<code>`` and ``/api/v1/track/<code>`` are logged as ``/t/…``.

The atoms of a line are made as its format asks for them. gunicorn makes all of them for
every request, one per request header, response header and environ entry too (about 60),
where the default format names nine: that was about 1.5 % of a busy server's time."""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

_TRACKED = re.compile(r"(/t/|/api/v1/track/)[^/\s?\"]+")
_BRACED = re.compile(r"\{(.*)\}([ioe])\Z", re.DOTALL)  # {header}i, {header}o, {variable}e


def redact_path(text: str) -> str:
    """The text with every tracking code replaced by an ellipsis."""
    return _TRACKED.sub(r"\1…", text)


def _status(resp: Any) -> Any:
    status = resp.status
    return status.split(None, 1)[0] if isinstance(status, str) else status


def _sent(resp: Any) -> Any:
    return getattr(resp, "sent", None)


# gunicorn's atoms (``Logger.atoms``, "access_log_format" in its settings), one by one.
_ATOMS: dict[str, Callable[[Logger, Any, dict[str, Any], timedelta], Any]] = {
    "h": lambda log, resp, env, took: env.get("REMOTE_ADDR", "-"),
    "l": lambda log, resp, env, took: "-",
    "u": lambda log, resp, env, took: log._get_user(env) or "-",
    "t": lambda log, resp, env, took: log.now(),
    "r": lambda log, resp, env, took: f"{env['REQUEST_METHOD']} {env['RAW_URI']} {env['SERVER_PROTOCOL']}",
    "s": lambda log, resp, env, took: _status(resp),
    "m": lambda log, resp, env, took: env.get("REQUEST_METHOD"),
    "U": lambda log, resp, env, took: env.get("PATH_INFO"),
    "q": lambda log, resp, env, took: env.get("QUERY_STRING"),
    "H": lambda log, resp, env, took: env.get("SERVER_PROTOCOL"),
    "b": lambda log, resp, env, took: (_sent(resp) is not None and str(_sent(resp))) or "-",
    "B": lambda log, resp, env, took: _sent(resp),
    "f": lambda log, resp, env, took: env.get("HTTP_REFERER", "-"),
    "a": lambda log, resp, env, took: env.get("HTTP_USER_AGENT", "-"),
    "T": lambda log, resp, env, took: took.seconds,
    "D": lambda log, resp, env, took: took.seconds * 1000000 + took.microseconds,
    "M": lambda log, resp, env, took: took.seconds * 1000 + int(took.microseconds / 1000),
    "L": lambda log, resp, env, took: f"{took.seconds}.{took.microseconds:06d}",
    "p": lambda log, resp, env, took: f"<{os.getpid()}>",
}


def _items(headers: Any) -> Iterable[tuple[str, Any]]:
    return headers.items() if hasattr(headers, "items") else headers  # type: ignore[no-any-return]


class _Atoms(dict[str, Any]):
    """What gunicorn's ``SafeAtoms`` holds (quotes escaped, "-" for an atom there is not),
    each atom made when the format first names it, with its tracking codes redacted."""

    def __init__(self, logger: Logger, resp: Any, req: Any, environ: dict[str, Any], took: timedelta) -> None:
        super().__init__(l="-")  # (never empty: logging takes its argument as a mapping only then)
        self._of = (logger, resp, req, environ, took)

    def __missing__(self, key: str) -> Any:
        logger, resp, req, environ, took = self._of
        if key.startswith("{"):
            value = "-"
            braced = _BRACED.match(key.lower())
            if braced is not None:
                name, kind = braced.groups()
                if kind == "i":
                    pairs = _items(getattr(req, "headers", req))
                elif kind == "o":
                    pairs = _items(resp.headers)
                else:
                    pairs = environ.items()
                for header, given in pairs:  # (the last of repeated headers, as gunicorn's)
                    if header.lower() == name:
                        value = given
        else:
            make = _ATOMS.get(key)
            value = "-" if make is None else make(logger, resp, environ, took)
        if isinstance(value, str):
            value = redact_path(value).replace('"', '\\"') if "/t" in value else value.replace('"', '\\"')
        self[key] = value
        return value


class RedactingLogger(Logger):  # type: ignore[misc]
    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        if not self.access_log_enabled:
            return
        try:
            self.access_log.info(self.cfg.access_log_format, _Atoms(self, resp, req, environ, request_time))
        except Exception:
            self.error(traceback.format_exc())
