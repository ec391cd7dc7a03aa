"""One vocabulary (issue 11): text people read is in the Babel catalogues, not written in
Urdu in Python. What is left in Python is data, not wording: the voice's lexicon (the words
the announcer speaks, one recording each), the demo centre's names, and the glyphs and
digits the ticket renderer measures and maps."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from queue_server.i18n import both

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("queue_server", "counters", "kiosk", "display")
URDU = re.compile("[\u0600-\u06ff]")
DATA_MODULES = {"display/announce.py", "queue_server/seed.py"}
DATA_NAMES = {"kiosk/ticket.py": {"_URDU_DIGITS", "_VERTICAL_REFERENCE"}}


def urdu_literals(path: Path, allowed_names: set[str]) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for statement in tree.body:
        targets = statement.targets if isinstance(statement, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id in allowed_names for t in targets):
            continue
        for node in ast.walk(statement):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and URDU.search(node.value)
            ):
                found.append(node.lineno)
    return found


def test_no_urdu_is_written_in_python() -> None:
    scanned, written = 0, []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            if name in DATA_MODULES or "migrations" in path.parts:
                continue
            scanned += 1
            written += [f"{name}:{line}" for line in urdu_literals(path, DATA_NAMES.get(name, set()))]
    assert scanned > 50, "the scan found the modules"
    assert written == [], f"Urdu written in Python (put it in the package's catalogue): {written}"


def test_both_languages_come_from_the_catalogues_without_an_app() -> None:
    # printed tickets and alerts sent from background tasks carry both languages at once
    english, urdu = both("No token %(id)s.", id=7)
    assert english == "No token 7." and urdu == "ٹوکن 7 موجود نہیں۔"
    assert both("Scan to follow your turn")[1] == "اپنی باری جاننے کے لیے اسکین کریں"


def sources() -> list[tuple[str, str]]:
    return [
        (str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    ]


def test_one_province_admin_rule() -> None:
    """An administrator of no centre oversees them all: written once (``states``), asked as
    ``actor.is_province_admin`` everywhere else."""
    rule = re.compile(r"role\s*==\s*Role\.ADMIN\s+and\s+(?:\w+\.)?centre_id\s+is\s+None|centre_id\s+is\s+None\s+and\s+\S*role\s*==\s*Role\.ADMIN")
    found = [name for name, text in sources() if rule.search(text)]
    assert found == ["queue_server/states.py"], found


def test_one_class_per_name_for_field_errors_and_ids() -> None:
    """One ``FieldInvalid`` (``errors``) and one ``MAX_ID`` (``models.types``)."""
    defined: dict[str, list[str]] = {"FieldInvalid": [], "MAX_ID": []}
    for name, text in sources():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.name in defined:
                defined[node.name].append(name)
            if isinstance(node, ast.Assign):
                defined["MAX_ID"] += [name for t in node.targets if isinstance(t, ast.Name) and t.id == "MAX_ID"]
    assert defined == {"FieldInvalid": ["queue_server/errors.py"], "MAX_ID": ["queue_server/models/types.py"]}
