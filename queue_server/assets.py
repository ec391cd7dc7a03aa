"""Third-party browser assets and fonts, served by the server itself (no internet needed).

The Socket.IO client and chart library come from the npm registry through package.json
and its lock file (installed by setup into node_modules/); the Urdu and Latin fonts from
Debian's fonts-noto-core. Nothing third-party is committed.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, send_from_directory
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
