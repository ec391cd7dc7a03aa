"""The screens' client version: every page carries the one it was served with, a screen
join answers the server's (``live.js`` reloads a page an upgrade left behind; its browser
test is in tests/display/test_display_browser.py), and it follows what the pages run."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from queue_server.assets import digest_of
from tests.support.factories import socketio_client

META = re.compile(r'<meta name="khidmat-client" content="([0-9a-f]{16})">')


def test_a_page_and_a_join_tell_the_same_version(app: Flask, client: FlaskClient, keys: dict[str, str]) -> None:
    page = client.get("/counter").get_data(as_text=True)
    found = META.search(page)
    assert found, "the page carries its version"
    display = socketio_client(app, keys["display"])
    reply = display.emit("join", {"screen": "display", "centre": "demo"}, callback=True)
    assert reply["ok"] and reply["client"] == found.group(1)
    display.disconnect()


def test_the_version_follows_the_scripts_the_pages_run(tmp_path: Path, app: Flask) -> None:
    folder = Path(app.blueprints["assets"].static_folder or "")
    assert digest_of([folder]) == digest_of([folder]) != digest_of([folder, folder.parent / "templates"])
    copy = tmp_path / "elsewhere"
    shutil.copytree(folder, copy)
    assert digest_of([copy]) == digest_of([folder]), "the same files elsewhere, the same version"
    (copy / "live.js").write_text((copy / "live.js").read_text() + "\n// an upgrade\n")
    assert digest_of([copy]) != digest_of([folder]), "a changed script, a new version"
    (copy / "notes.txt").write_text("not part of a page")
    (copy / "live.js").write_text((folder / "live.js").read_text())
    assert digest_of([copy]) == digest_of([folder]), "only what a page runs counts"
