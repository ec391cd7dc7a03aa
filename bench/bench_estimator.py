"""Score the wait estimate shown to citizens against the published predictors.

Run: .venv/bin/python bench/bench_estimator.py [--sim-days 5] [--replay-days 2] [--database URL --centre demo]

Simulated: --sim-days days of the demo centre (about 380 tokens, 8 counters with staggered
lunch breaks, counter 8 opening at 10:00, 5 % priority, 4 % no-shows, transfers from
verification to character certificate, fairness bound k = 3), one seed each.
Replayed: days recorded in a database. Without --database a fresh SQLite database is made,
the demo centre seeded and --replay-days past days played through the real operations
(``khidmat seed-history``; about 90 s per day here); with --database, the last
--replay-days recorded days of --centre are read from it.

For every token, at its issue, the centre's state is rebuilt from the record and each
predictor gives its figure (queue_server/simulation/predictors.py): project (the forecast
shown, in whole minutes), QL, LES, HOL (Ibrahim & Whitt 2009) and legacy (the estimate
before this change). Prints MAE / RMSE in minutes per service and overall, over the tokens
every predictor had a figure for. For replayed days it also prints the error of what was
actually stored at issue: the shown estimate (tokens.eta_minutes) and QL
(tokens.eta_ql_minutes). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from queue_server.simulation.demo import demo_plan, demo_services
from queue_server.simulation.engine import simulate
from queue_server.simulation.model import ServiceSpec
from queue_server.simulation.predictors import PREDICTORS, Prediction, predict_day, score


def table(title: str, predictions: Sequence[Prediction], codes: dict[int, str]) -> None:
    scores = score(predictions)
    print(f"\n### {title}\n")
    print("| service | n | " + " | ".join(PREDICTORS) + " |")
    print("|---|---:|" + "---:|" * len(PREDICTORS))
    keys = sorted((k for k in scores if k is not None), key=lambda k: codes.get(k, ""))
    wins = 0
    for key in [*keys, None]:
        row = scores[key]
        best_mae = min(row[p].mae for p in PREDICTORS[1:4])
        best_rmse = min(row[p].rmse for p in PREDICTORS[1:4])
        ok = row["project"].mae < best_mae and row["project"].rmse < best_rmse
        wins += ok and key is not None
        name = "**all**" if key is None else codes.get(key, str(key))
        cells = " | ".join(f"{row[p].mae:.2f} / {row[p].rmse:.2f}" for p in PREDICTORS)
        print(f"| {name} | {row['project'].n} | {cells} |")
    print(f"\nproject lowest (MAE and RMSE) vs QL, LES, HOL in {wins} of {len(keys)} services")


def simulated(days: int) -> None:
    services = demo_services()
    plan = demo_plan()
    predictions: list[Prediction] = []
    for seed in range(days):
        predictions += predict_day(simulate(services, plan, seed))
    table(
        f"Simulated: {days} demo days (seeds 0-{days - 1}), MAE / RMSE in minutes",
        predictions,
        codes(services),
    )


def codes(services: dict[int, ServiceSpec]) -> dict[int, str]:
    return {sid: s.code for sid, s in services.items()}


def replayed(database: str | None, centre_code: str, days: int) -> None:
    from sqlalchemy import select

    from queue_server.app import create_app
    from queue_server.extensions import db
    from queue_server.models import Centre, Token
    from queue_server.simulation import history
    from queue_server.simulation.centre import recorded_days, seed_history

    tmp = None
    if database is None:
        tmp = tempfile.mkdtemp(prefix="bench-estimator-")
        database = f"sqlite:///{tmp}/bench.sqlite3"
    app = create_app({"DATABASE_URL": database, "INSTANCE_PATH": tmp} if tmp else {"DATABASE_URL": database})
    with app.app_context():
        if tmp:
            from flask_migrate import upgrade

            from queue_server.clock import local_day
            from queue_server.seed import seed_demo

            upgrade()
            seed_demo(db.session)
            db.session.commit()
            centre = db.session.scalar(select(Centre).where(Centre.code == centre_code))
            print(f"playing {days} days through the operations into {database} ...", file=sys.stderr)
            seed_history(db.session, centre, days + 1, local_day(centre.tz))
        centre = db.session.scalar(select(Centre).where(Centre.code == centre_code))
        if centre is None:
            raise SystemExit(f"no centre {centre_code!r}")
        chosen = recorded_days(db.session, centre, date.max)[-days:]
        predictions: list[Prediction] = []
        stored: list[tuple[float, float, float]] = []
        for day in chosen:
            record = history.record_day(db.session, centre, day)
            predictions += predict_day(record)
            rows = db.session.execute(
                select(Token.issued_at, Token.first_called_at, Token.eta_minutes, Token.eta_ql_minutes).where(
                    Token.centre_id == centre.id, Token.business_day == day
                )
            ).all()
            for issued, called, eta, ql in rows:
                if called is not None and eta is not None and ql is not None:
                    stored.append(((called - issued).total_seconds() / 60, eta, ql))
        names = codes(history.base_services(db.session, centre))
        table(
            f"Replayed: {len(chosen)} recorded days of {centre_code} ({', '.join(d.isoformat() for d in chosen)}), "
            "MAE / RMSE in minutes",
            predictions,
            names,
        )
        if stored:
            for label, i in (("shown estimate (tokens.eta_minutes)", 1), ("QL (tokens.eta_ql_minutes)", 2)):
                errors = [row[i] - row[0] for row in stored]
                mae = sum(abs(e) for e in errors) / len(errors)
                rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
                print(
                    f"stored at issue, {label}: MAE {mae:.2f} / RMSE {rmse:.2f} min over {len(errors)} tokens"
                )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim-days", type=int, default=5)
    parser.add_argument("--replay-days", type=int, default=2)
    parser.add_argument("--database", default=None)
    parser.add_argument("--centre", default="demo")
    args = parser.parse_args()
    simulated(args.sim_days)
    if args.replay_days > 0:
        replayed(args.database, args.centre, args.replay_days)


if __name__ == "__main__":
    main()
