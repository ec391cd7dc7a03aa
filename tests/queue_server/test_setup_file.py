"""``khidmat config export|import``: one YAML file, all or nothing, bad rows by line."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queue_server.audit import verify_chain
from queue_server.models import Centre, Counter, Device, Event, Service, Staff
from queue_server.seed import SeedResult

BAD_FILE = """\
centres:
  - code: west
    name_en: West
    name_ur: مغرب
    day_starts_at: "25:00"
    services:
      - character
      - no_such_service
      - code: tenant
        prefix: A
    counters:
      - number: 1
        profile:
          character: 12
      - number: 2
        profile: {character: 2}
      - number: 2
    staff:
      - username: clerk1
      - username: west.clerk
        role: wizard
    devices:
      - name: Kiosk
        kind: toaster
  - code: Bad Code
    name_en: X
    name_ur: X
"""


def rename(text: str, old: str, new: str) -> str:
    out = text.replace(f"- code: {old}\n", f"- code: {new}\n")
    for prefix in ("clerk", "manager"):
        out = out.replace(f"username: {prefix}", f"username: {new}.{prefix}")
    return out


def test_an_export_imported_under_a_new_code_is_an_equivalent_centre(
    runner, session: Session, demo: SeedResult, tmp_path: Path
) -> None:
    exported = runner.invoke(args=["config", "export", "--centre", "demo", "-o", str(tmp_path / "demo.yaml")])
    assert exported.exit_code == 0, exported.output
    text = (tmp_path / "demo.yaml").read_text(encoding="utf-8")
    assert text.count("- code: demo\n") == 1 and "\ncentres:\n" in text
    (tmp_path / "copy.yaml").write_text(rename(text, "demo", "copy"), encoding="utf-8")
    before = session.scalar(select(func.count(Event.id)))
    session.rollback()
    dry = runner.invoke(args=["config", "import", str(tmp_path / "copy.yaml"), "--dry-run"])
    assert dry.exit_code == 0 and "would create 1" in dry.output
    assert session.scalar(select(func.count(Event.id))) == before
    assert session.scalar(select(Centre).where(Centre.code == "copy")) is None
    session.rollback()
    done = runner.invoke(args=["config", "import", str(tmp_path / "copy.yaml")])
    assert done.exit_code == 0, done.output
    assert done.output.count("key kq_dev_") == 2
    again = runner.invoke(args=["config", "export", "--centre", "copy"])
    assert again.output == rename(text, "demo", "copy")
    copy = session.scalar(select(Centre).where(Centre.code == "copy"))
    assert copy is not None and verify_chain(session, copy.id).ok
    assert session.scalar(select(func.count(Service.id)).where(Service.centre_id == copy.id)) == 19
    assert session.scalar(select(func.count(Counter.id)).where(Counter.centre_id == copy.id)) == 8
    assert session.scalar(select(func.count(Staff.id)).where(Staff.centre_id == copy.id)) == 9
    assert session.scalar(select(func.count(Device.id)).where(Device.centre_id == copy.id)) == 2
    session.rollback()
    events = session.scalar(select(func.count(Event.id)))
    session.rollback()
    unchanged = runner.invoke(args=["config", "import", str(tmp_path / "copy.yaml")])
    assert unchanged.exit_code == 0 and "updated 1" in unchanged.output
    assert session.scalar(select(func.count(Event.id))) == events, (
        "importing the same file again changes nothing"
    )


def test_a_file_with_bad_rows_changes_nothing_and_names_every_line(
    runner, session: Session, demo: SeedResult, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_FILE, encoding="utf-8")
    before = session.scalar(select(func.count(Event.id))), session.scalar(select(func.count(Centre.id)))
    session.rollback()
    result = runner.invoke(args=["config", "import", str(path)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith(str(path))]
    by_line = {int(line.split(":")[1]): line for line in lines}
    assert 5 in by_line and "day_starts_at" in by_line[5]
    # the centre refused, its rows cannot be tried; the other centre's code is bad too
    assert 25 in by_line and "code" in by_line[25]
    assert "nothing was changed" in result.output
    assert (
        session.scalar(select(func.count(Event.id))),
        session.scalar(select(func.count(Centre.id))),
    ) == before


def test_rows_of_a_good_centre_are_each_reported(
    runner, session: Session, demo: SeedResult, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        BAD_FILE.replace('    day_starts_at: "25:00"\n', "    opens_at: '07:30'\n"), encoding="utf-8"
    )
    result = runner.invoke(args=["config", "import", str(path)])
    assert result.exit_code == 1
    by_line = {
        int(line.split(":")[1]): line for line in result.output.splitlines() if line.startswith(str(path))
    }
    assert "no_such_service" in by_line[8]
    assert "prefix" in by_line[10] and "Prefix A" in by_line[10]
    assert "profile.character" in by_line[14] and "between 1 and 9" in by_line[14]
    assert "listed twice" in by_line[17]
    assert "username" in by_line[19] and "taken" in by_line[19]
    assert "role" in by_line[21]
    assert "kind" in by_line[24]
    assert "code" in by_line[25]
    assert session.scalar(select(Centre).where(Centre.code == "west")) is None


def test_yaml_that_does_not_parse_names_its_line(runner, demo: SeedResult, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("centres:\n  - code: x\n    name_en: [unclosed\n", encoding="utf-8")
    result = runner.invoke(args=["config", "import", str(path)])
    assert result.exit_code == 1 and f"{path}:4: not valid YAML" in result.output
    path.write_text("centres:\n  - code: x\n    code: y\n", encoding="utf-8")
    result = runner.invoke(args=["config", "import", str(path)])
    assert result.exit_code == 1 and f"{path}:3: code: given twice" in result.output
