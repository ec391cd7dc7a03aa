"""Third-party browser assets and fonts, served by the server itself (no internet needed);
and the version of the screens' own client.

The Socket.IO client and chart library come from the npm registry through package.json
and its lock file (installed by setup into node_modules/); the Urdu and Latin fonts from
Debian's fonts-noto-core. Nothing third-party is committed.

A hall display or a kiosk stays open for weeks. ``client_version`` is a digest of every
page's scripts, styles and templates: each page carries the one it was served with (a
``khidmat-client`` meta tag, ``base.html``), each screen join answers the server's, and
the shared client (``live.js``) reloads a page whose version the server no longer has,
after an upgrade, when it joins again on reconnecting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from flask import Blueprint, Flask, current_app, send_from_directory
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

bp = Blueprint("assets", __name__, static_folder="static", static_url_path="/static/core")

VENDOR_FILES = {
    "socket.io.min.js": ("socket.io-client", "dist/socket.io.min.js"),
    "chart.umd.min.js": ("chart.js", "dist/chart.umd.min.js"),
}
FONT_DIRS = ("/usr/share/fonts/truetype/noto",)
FONTS = {
    "NotoNastaliqUrdu-Regular.ttf",
    "NotoNastaliqUrdu-Bold.ttf",
    "NotoNaskhArabic-Regular.ttf",
    "NotoNaskhArabic-Bold.ttf",
    "NotoSans-Regular.ttf",
    "NotoSans-Bold.ttf",
}


_CLIENT_SUFFIXES = {".js", ".css", ".html"}


def client_version(app: Flask) -> str:
    """A short digest of the scripts, styles and templates of the app and its blueprints,
    read once per process (its files change with a restart): it changes when an upgrade
    changes what a screen runs."""
    folders = {app.static_folder, app.template_folder and str(Path(app.root_path) / app.template_folder)}
    for blueprint in app.blueprints.values():
        folders.add(blueprint.static_folder)
        if blueprint.template_folder:
            folders.add(str(Path(blueprint.root_path) / blueprint.template_folder))
    found = frozenset(f for f in folders if f)
    if found not in _DIGESTS:
        _DIGESTS[found] = digest_of(Path(f) for f in found)
    return _DIGESTS[found]


_DIGESTS: dict[frozenset[str], str] = {}


def digest_of(folders: Iterable[Path]) -> str:
    """The digest of the client files in ``folders``: of what they hold, not of where."""
    files = sorted(
        hashlib.sha256(path.name.encode() + b"\0" + path.read_bytes()).digest()
        for folder in set(folders)
        for path in folder.rglob("*")
        if path.suffix in _CLIENT_SUFFIXES and path.is_file()
    )
    return hashlib.sha256(b"".join(files)).hexdigest()[:16]


@bp.get("/favicon.ico", endpoint="favicon")
def favicon() -> Response:
    """Browsers ask for /favicon.ico whatever the page says: the same icon (SVG)."""
    return send_from_directory(Path(__file__).parent / "static", "favicon.svg", max_age=7 * 86400)


@bp.get("/vendor/<name>")
def vendor(name: str) -> Response:
    if name not in VENDOR_FILES:
        raise NotFound()
    package, relative = VENDOR_FILES[name]
    path = Path(current_app.config["ASSETS_DIR"]) / package / relative
    if not path.is_file():
        raise NotFound()
    return send_from_directory(path.parent, path.name, max_age=86400)


@bp.get("/fonts/<name>")
def font(name: str) -> Response:
    if name not in FONTS:
        raise NotFound()
    for folder in current_app.config.get("FONT_DIRS", FONT_DIRS):
        if (Path(folder) / name).is_file():
            return send_from_directory(folder, name, max_age=7 * 86400)
    raise NotFound()
