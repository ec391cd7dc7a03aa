"""The benchmark floor route exists only when KHIDMAT_BENCH_FLOOR asks for it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from queue_server.app import create_app
from queue_server.extensions import db
from queue_server.floor import create_table, floor_rows


def test_a_normal_server_has_no_floor_route(client: Any) -> None:
    assert client.post("/bench/floor").status_code == 404


def test_the_bench_setting_serves_one_insert(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "BENCH_FLOOR": True})
    with app.app_context():
        create_table()
        client = app.test_client()
        assert client.post("/bench/floor").status_code == 201
        assert client.post("/bench/floor").status_code == 201
        assert db.session.scalar(select(func.count()).select_from(floor_rows)) == 2
        db.session.remove()
        db.engine.dispose()
