"""The token actions, once: name, operation, input and who may take it.

The JSON API (``POST /api/v1/tokens/<id>/<name>``, and its OpenAPI entry), the realtime
hub's ``token_action``, the counter console's ``console_action`` and ``khidmat token`` all
take their token actions from ``TOKEN_ACTIONS``. A new action is one operation in
``queue_server.operations``, one entry here, and a test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError
from sqlalchemy.orm import Session

from queue_server import operations
from queue_server.actors import Actor
from queue_server.errors import N_, ValidationFailed
from queue_server.inputs import Strict
from queue_server.models import Token


class RecallIn(Strict):
    reason: str = Field(default="", max_length=200)  # needed past the centre's recall limit


class CompleteIn(Strict):
    outcome: Literal["served", "referred", "documents_missing", "not_eligible", "other"] = "served"


class CancelIn(Strict):
    reason: str = Field(default="", max_length=200)


@dataclass(frozen=True)
class TokenAction:
    name: str  # as in the API's path: "no-show"
    operation: Callable[..., Token]  # (session, token_id, actor, **input) -> the token
    summary: str
    body: type[Strict] | None = None  # the input besides the token, if any
    admits: tuple[str, ...] = ("staff",)

    @property
    def key(self) -> str:
        """The name as sockets and the console send it: "no_show"."""
        return self.name.replace("-", "_")

    def inputs(self, data: Mapping[str, Any] | None) -> dict[str, Any]:
        """The operation's keyword arguments from what a socket or the CLI sent (only the
        fields ``body`` names; the API validates its body itself)."""
        if self.body is None:
            return {}
        given = {k: v for k, v in (data or {}).items() if k in self.body.model_fields and v not in (None, "")}
        try:
            return self.body.model_validate(given, strict=True).model_dump()
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or self.name
            raise ValidationFailed(
                N_("Invalid %(field)s: %(problem)s"), field=where, problem=first.get("msg", "")
            ) from exc

    def run(self, session: Session, token_id: int, actor: Actor, **inputs: Any) -> Token:
        return self.operation(session, token_id, actor, **inputs)


TOKEN_ACTIONS: dict[str, TokenAction] = {
    action.name: action
    for action in (
        TokenAction("recall", operations.recall, "Call a called token again", RecallIn),
        TokenAction("no-show", operations.no_show, "The called citizen did not come"),
        TokenAction("start", operations.start, "Start serving a called token"),
        TokenAction("park", operations.park, "Set a token in service aside"),
        TokenAction("unpark", operations.unpark, "Take a parked token back into service"),
        TokenAction("complete", operations.complete, "Finish serving a token, with its outcome", CompleteIn),
        TokenAction("cancel", operations.cancel, "Cancel a waiting or called token", CancelIn),
        TokenAction("requeue", operations.requeue, "Put a no-show back in the queue"),
    )
}


def token_action(name: Any) -> TokenAction:
    """The action a socket or the CLI names, in either spelling ("no-show", "no_show")."""
    found = TOKEN_ACTIONS.get(str(name).replace("_", "-")) if isinstance(name, str) else None
    if found is None:
        raise ValidationFailed(N_("Unknown action."))
    return found
