"""The province's sync endpoints: a node pushes its centre's chain, reads where the
province stands, and takes its centre's configuration from the province. A node authenticates with its own key (``khidmat node register``) and
may push its own centre only."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from queue_server.api import bp
from queue_server.api.registry import endpoint
from queue_server.api.schemas import Strict
from queue_server.auth import current_caller
from queue_server.setup_file import export_yaml
from queue_server.sync import province, rows
from queue_server.unit_of_work import run_in_transaction


class SyncEventIn(BaseModel):
    seq: int
    at: str
    kind: str
    actor: str
    token_id: int | None = None
    counter_id: int | None = None
    service_id: int | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str
    hash: str


class SyncBatchIn(Strict):
    centre: str
    origin_centre_id: int
    pending: int = 0
    events: list[SyncEventIn]
    rows: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict,
        description="The rows of the tokens the events touch (tokens, requests, feedback), as they stand on the node",
    )


class SyncHeadOut(BaseModel):
    centre: str
    last_seq: int
    last_hash: str


class SyncConfigOut(BaseModel):
    centre: str
    yaml: str = Field(
        description="The catalogue and this centre (figures, hours, services, counters, staff, devices) as "
        "`khidmat config export --centre` writes it (docs/configuration.md); never passwords or keys"
    )


class SyncBatchOut(SyncHeadOut):
    stored: int
    skipped: int
    rows: int = 0


def _calling_node(s: Any, node_id: int, code: str) -> Any:
    """The calling node, refused unless ``code`` is its own centre."""
    node = s.get(province.SyncNode, node_id)
    province.check_centre(s, node, code)
    return node


def _node_id() -> int:
    actor, _ = current_caller()  # admitted as a node by the registry
    assert actor is not None and actor.id is not None
    return actor.id


@endpoint(
    bp,
    "/sync/<code>/head",
    "GET",
    summary="Node sync: the last event of the centre's chain the province holds",
    admits=("node",),
    responses={200: SyncHeadOut},
    errors=(401, 403),
    tag="sync",
)
def sync_head(code: str) -> Any:
    node_id = _node_id()

    def work(s: Any) -> dict[str, Any]:
        node = _calling_node(s, node_id, code)
        return {"centre": code, "last_seq": node.last_seq, "last_hash": node.last_hash}

    return run_in_transaction(work)


@endpoint(
    bp,
    "/sync/<code>/config",
    "GET",
    summary="Node sync: the centre's configuration, which the node applies (configuration flows from the province)",
    admits=("node",),
    responses={200: SyncConfigOut},
    errors=(401, 403),
    tag="sync",
)
def sync_config(code: str) -> Any:
    node_id = _node_id()

    def work(s: Any) -> dict[str, Any]:
        _calling_node(s, node_id, code)
        return {"centre": code, "yaml": export_yaml(s, [code], with_staff=True)}

    return run_in_transaction(work)


@endpoint(
    bp,
    "/sync/<code>/events",
    "POST",
    summary="Node sync: append a batch of the centre's chain; refused whole unless it continues the chain",
    admits=("node",),
    body=SyncBatchIn,
    responses={200: SyncBatchOut},
    errors=(401, 403, 409),
    tag="sync",
    write=False,  # its own transactions: a refused batch is rolled back, its refusal is kept
)
def sync_events(code: str, body: SyncBatchIn) -> Any:
    node_id = _node_id()
    events = [event.model_dump() for event in body.events]

    def work(s: Any) -> dict[str, Any]:
        if body.centre != code:
            raise province.Forbidden(province.N_("The batch names another centre."))
        node = _calling_node(s, node_id, code)
        result = province.append_batch(s, node, body.origin_centre_id, events, body.pending)
        written = rows.apply(s, node.centre_id, body.rows)
        return {
            "centre": code,
            "last_seq": result.last_seq,
            "last_hash": result.last_hash,
            "stored": result.stored,
            "skipped": result.skipped,
            "rows": written,
        }

    try:
        return run_in_transaction(work)
    except (province.Conflict, province.ValidationFailed) as exc:  # chain, rows or witness refused
        reason = str(exc)
        run_in_transaction(lambda s: province.record_refusal(s, node_id, reason))
        raise
