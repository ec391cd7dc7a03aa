"""The ``khidmat`` command line: a Flask command group over ``create_app`` (the commands that
work on an application are in ``queue_server.cli``, registered on ``app.cli``), and ``serve``,
which starts gunicorn and builds the application in its workers (``queue_server.serving``).

Keeping these two here is what keeps the core free of import cycles: ``app`` imports
``cli``, and neither imports this module or the server.
"""

from __future__ import annotations

import click
from flask.cli import FlaskGroup

from queue_server import serving
from queue_server.app import create_app


@click.group(
    cls=FlaskGroup, create_app=create_app, add_version_option=False, load_dotenv=False, set_debug_flag=False
)
def main() -> None:
    """Khidmat Queue: kiosk and queue-token system."""


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--workers",
    default=None,
    type=int,
    help="Processes (needs PostgreSQL and KHIDMAT_REDIS_URL when more than one).",
)
@click.option(
    "--threads",
    default=200,
    show_default=True,
    type=int,
    help="Threads per process in threading mode: one per open screen.",
)
@click.option(
    "--async-mode",
    type=click.Choice(["threading", "gevent"]),
    default=None,
    help="Default: threading on SQLite, gevent on PostgreSQL.",
)
def serve(host: str, port: int, workers: int | None, threads: int, async_mode: str | None) -> None:
    """Run the production server (gunicorn)."""
    serving.run(host=host, port=port, workers=workers, threads=threads, async_mode=async_mode)
