"""Endpoint declarations that serve twice: they wrap the view (auth, body validation, the
unit of work) and they are the source of the OpenAPI document, so the document cannot
drift from what the endpoints accept and return."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, request
from flask_babel import gettext
from pydantic import BaseModel, ValidationError

from queue_server.auth import requires
from queue_server.errors import N_, ValidationFailed
from queue_server.unit_of_work import transactional


@dataclass
class Endpoint:
    rule: str
    method: str
    summary: str
    admits: tuple[str, ...]
    body: type[BaseModel] | None
    responses: dict[int, type[BaseModel] | None]
    errors: tuple[int, ...]
    tag: str
    view_name: str = ""
    params: dict[str, str] = field(default_factory=dict)


ENDPOINTS: list[Endpoint] = []
PUBLIC = ("anyone",)


def parse_body(model: type[BaseModel]) -> BaseModel:
    data = request.get_json(silent=True)
    if data is None:
        data = {} if not request.get_data() else None
    if not isinstance(data, dict):
        raise ValidationFailed(N_("Send a JSON object."), code="malformed")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise ValidationFailed(
            N_("Invalid %(field)s: %(problem)s"), field=where, problem=first.get("msg", "")
        ) from exc


def endpoint(
    bp: Blueprint,
    rule: str,
    method: str,
    *,
    summary: str,
    admits: tuple[str, ...],
    body: type[BaseModel] | None = None,
    responses: dict[int, type[BaseModel] | None] | None = None,
    errors: tuple[int, ...] = (),
    tag: str = "queue",
    write: bool | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare and register an API endpoint. The view receives the validated body as
    ``body=`` when a model is given; it runs in one unit of work when it writes."""
    write = method != "GET" if write is None else write

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def with_body(*args: Any, **kwargs: Any) -> Any:
            if body is not None:
                kwargs["body"] = parse_body(body)
            return view(*args, **kwargs)

        wrapped: Callable[..., Any] = transactional(with_body) if write else with_body
        if admits != PUBLIC:
            wrapped = requires(*admits)(wrapped)
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapped, methods=[method])
        params = dict(re.findall(r"<(?:(\w+):)?(\w+)>", rule)[i][::-1] for i in range(rule.count("<")))
        ENDPOINTS.append(
            Endpoint(
                rule,
                method,
                summary,
                admits,
                body,
                responses or {200: None},
                errors,
                tag,
                view.__name__,
                params,
            )
        )
        return wrapped

    return decorate


def openapi_document(prefix: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas[name] = sub
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    error_ref = ref(ErrorBody)
    paths: dict[str, Any] = {}
    for ep in ENDPOINTS:
        path = prefix + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", ep.rule)
        op: dict[str, Any] = {
            "summary": ep.summary,
            "operationId": ep.view_name,
            "tags": [ep.tag],
            "x-admits": list(ep.admits),
            "parameters": [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer" if conv == "int" else "string"},
                }
                for name, conv in ep.params.items()
            ],
            "responses": {},
        }
        if ep.admits != PUBLIC:
            op["security"] = [{"bearer": []}, {"session": []}]
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(ep.body)}},
            }
        for status, model in ep.responses.items():
            entry: dict[str, Any] = {"description": "No content" if status == 204 else "OK"}
            if model is not None:
                entry["content"] = {"application/json": {"schema": ref(model)}}
            op["responses"][str(status)] = entry
        statuses = set(ep.errors) | ({400} if ep.body else set())
        if ep.admits != PUBLIC:
            statuses |= {401, 403}
        for status in sorted(statuses):
            op["responses"][str(status)] = {
                "description": "Error",
                "content": {"application/json": {"schema": error_ref}},
            }
        paths.setdefault(path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Khidmat Queue API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A staff API key or a device key",
                },
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }


class ErrorBody(BaseModel):
    error: str
    message: str


def translated(text: str) -> str:
    return gettext(text)
