"""How long ``khidmat config import`` takes for a province of 150 centres.

Run: .venv/bin/python bench/bench_config_import.py [--centres 150]
     [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/SCRATCH_DB]

Builds one YAML file like an export of the demo centre repeated under 150 codes (the
catalogue of 19 services; per centre 19 services, 8 counters with profiles, 9 staff and 2
devices), then imports it into a fresh database: always SQLite (a temporary file), and
PostgreSQL when ``--database-url`` names a scratch database (its tables are dropped and
rebuilt). Each import is one transaction, as the command runs it, with every row checked
and audited. Prints seconds per database; the target is under 60 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, select, text


def province_file(centres: int, work: Path) -> str:
    """The demo centre's export, repeated under ``centres`` codes (usernames renamed)."""
    from queue_server.app import create_app
    from queue_server.extensions import db
    from queue_server.seed import seed_demo
    from queue_server.setup_file import export_yaml
    from queue_server.unit_of_work import run_in_transaction

    url = f"sqlite:///{work / 'source.sqlite3'}"
    fresh(url, work)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "INSTANCE_PATH": work})
    with app.app_context():
        run_in_transaction(lambda s: seed_demo(s))
        text_ = export_yaml(db.session(), ["demo"])
        db.session.rollback()
        db.engine.dispose()
    head, _, centre = text_.partition("centres:\n")
    body = []
    for i in range(1, centres + 1):
        code = f"c{i:03d}"
        item = centre.replace("- code: demo\n", f"- code: {code}\n", 1)
        item = item.replace("username: clerk", f"username: {code}.clerk").replace(
            "username: manager", f"username: {code}.manager"
        )
        body.append(item)
    return head + "centres:\n" + "".join(body)


def fresh(url: str, instance: Path) -> None:
    from flask_migrate import upgrade

    from queue_server.app import create_app
    from queue_server.extensions import db

    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "INSTANCE_PATH": instance})
    with app.app_context():
        upgrade()
        db.engine.dispose()


def run_import(url: str, yaml_text: str, instance: Path) -> tuple[float, int, int]:
    from queue_server.actors import SYSTEM
    from queue_server.app import create_app
    from queue_server.extensions import db
    from queue_server.models import Centre, Event
    from queue_server.setup_file import import_yaml
    from queue_server.unit_of_work import run_in_transaction

    fresh(url, instance)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "INSTANCE_PATH": instance})
    with app.app_context():
        started = time.perf_counter()
        run_in_transaction(lambda s: import_yaml(s, SYSTEM, yaml_text))
        seconds = time.perf_counter() - started
        s = db.session()
        centres = s.scalar(select(func.count(Centre.id))) or 0
        events = s.scalar(select(func.count(Event.id))) or 0
        s.rollback()
        db.engine.dispose()
    return seconds, centres, events


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--centres", type=int, default=150)
    parser.add_argument("--database-url", default="", help="a scratch PostgreSQL database (dropped!)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        yaml_text = province_file(args.centres, work)
        print(f"file: {args.centres} centres, {yaml_text.count(chr(10))} lines, {len(yaml_text) // 1024} KiB")
        targets = [("SQLite", f"sqlite:///{work / 'bench.sqlite3'}")]
        if args.database_url:
            targets.append(("PostgreSQL", args.database_url))
        for name, url in targets:
            seconds, centres, events = run_import(url, yaml_text, work)
            print(f"{name:10}: {seconds:6.1f} s for {centres} centres ({events} audited events); target < 60 s")


if __name__ == "__main__":
    main()
