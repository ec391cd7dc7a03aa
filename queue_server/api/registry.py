"""Endpoint declarations that serve twice: they wrap the view (auth, input validation, the
unit of work) and they are the source of the OpenAPI document, so the document cannot
drift from what the endpoints accept and return.

Whatever reaches an endpoint is checked before the view runs: path ids out of the
database's range or strings with NUL bytes are a 404, a body that is not a JSON object or
does not match its model is a 400 naming the field, a body over ``BODY_LIMIT`` is a 413.
A value the database still refuses (a ``DataError``) is a 400 too, never a 500.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, request
from flask_babel import gettext
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DataError

from queue_server.auth import requires
from queue_server.errors import N_, NotFound, ValidationFailed
from queue_server.models.types import MAX_ID
from queue_server.unit_of_work import end_reading, transactional

log = logging.getLogger(__name__)


MAX_PATH_TEXT = 200
BODY_LIMIT = 64 * 1024
PUBLIC = ("anyone",)


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
    path: str = ""  # the full URL rule: the blueprint's prefix plus the rule
    query: type[BaseModel] | None = None
    write: bool = False
    csrf: bool = False  # a browser session must send the CSRF token (set for non-GET staff calls)

    @property
    def documented_statuses(self) -> set[int]:
        """Every status this endpoint may answer with (as the OpenAPI document lists them)."""
        # 400: a malformed body or query, or an operation refusing a value
        statuses = set(self.responses) | set(self.errors) | {400}
        if self.body is not None:
            statuses.add(413)
        if self.params:
            statuses.add(404)
        if self.admits != PUBLIC:
            statuses |= {401, 403}
        if self.write:
            statuses.add(503)
        return statuses


ENDPOINTS: list[Endpoint] = []


class BodyInvalid(ValidationFailed):
    """The body does not match the endpoint's model; ``field`` names the first bad field."""

    def __init__(self, message: str, *, where: str, **params: Any) -> None:
        super().__init__(message, **params)
        self.where = where

    def extra(self) -> dict[str, Any]:
        return {"field": self.where}


def _first_error(exc: ValidationError, default: str) -> BodyInvalid:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or default
    return BodyInvalid(
        N_("Invalid %(field)s: %(problem)s"), where=where, field=where, problem=first.get("msg", "")
    )


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _whole_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def parse_body(model: type[BaseModel]) -> BaseModel:
    """The body as ``model``, validated strictly as JSON (no ``true`` for a number, no
    ``0`` for a boolean, no ``"5"`` for an id): exactly what the document says."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # absurdly deep nesting: the parser gives up, so do we
        data = None
    if data is None:
        data = {} if not request.get_data() else None
    if not isinstance(data, dict):
        raise ValidationFailed(N_("Send a JSON object."), code="malformed")
    if _has_nul(data):
        raise BodyInvalid(N_("Text may not contain NUL characters."), where="body")
    try:
        if not data:
            return model.model_validate({}, strict=True)
        # JSON has one kind of number: 5.0 is the integer 5 (as JSON Schema says)
        return model.model_validate_json(json.dumps(_whole_numbers(data)), strict=True)
    except ValidationError as exc:
        raise _first_error(exc, "body") from exc


def parse_query(model: type[BaseModel]) -> BaseModel:
    data = {key: request.args.get(key) for key in request.args}
    if _has_nul(data):
        raise BodyInvalid(N_("Text may not contain NUL characters."), where="query")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc, "query") from exc


def check_path(kwargs: dict[str, Any]) -> None:
    """Path values the database cannot hold name nothing that exists."""
    for value in kwargs.values():
        if isinstance(value, int) and not 0 <= value <= MAX_ID:
            raise NotFound(N_("Not found."))
        if isinstance(value, str) and (len(value) > MAX_PATH_TEXT or "\x00" in value):
            raise NotFound(N_("Not found."))


def endpoint(
    bp: Blueprint,
    rule: str,
    method: str,
    *,
    summary: str,
    admits: tuple[str, ...],
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    responses: dict[int, type[BaseModel] | None] | None = None,
    errors: tuple[int, ...] = (),
    tag: str = "queue",
    write: bool | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare and register an API endpoint. The view receives the validated body as
    ``body=`` and the validated query string as ``query=`` when models are given; it runs
    in one unit of work when it writes (default: every method but GET)."""
    write = method != "GET" if write is None else write

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            check_path(kwargs)
            request.max_content_length = BODY_LIMIT
            if body is not None:
                kwargs["body"] = parse_body(body)
            if query is not None:
                kwargs["query"] = parse_query(query)
            return view(*args, **kwargs)

        inner: Callable[..., Any] = transactional(checked) if write else checked

        @functools.wraps(inner)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return inner(*args, **kwargs)
            except DataError as exc:
                end_reading()  # a read's failed statement (a write was rolled back already)
                log.warning("database refused a value on %s %s: %s", request.method, request.path, exc.orig)
                raise ValidationFailed(N_("A value is out of range or not allowed.")) from exc

        wrapped: Callable[..., Any] = guarded
        if admits != PUBLIC:
            wrapped = requires(*admits)(wrapped)
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapped, methods=[method])
        params = {name: conv or "string" for conv, name in re.findall(r"<(?:(\w+):)?(\w+)>", rule)}
        ENDPOINTS.append(
            Endpoint(
                rule=rule,
                method=method,
                summary=summary,
                admits=admits,
                body=body,
                responses=responses or {200: None},
                errors=errors,
                tag=tag,
                view_name=f"{bp.name}.{view.__name__}",
                params=params,
                path=(bp.url_prefix or "") + rule,
                query=query,
                write=write,
                # a node pushes with its key only: no browser session is ever a node
                csrf=admits not in (PUBLIC, ("node",)) and method != "GET",
            )
        )
        return wrapped

    return decorate


LINKS: dict[str, dict[int, dict[str, Any]]] = {}


def link(
    source: str,
    status: int,
    name: str,
    target: str,
    *,
    parameters: dict[str, Any] | None = None,
    request_body: Any = None,
    description: str = "",
) -> None:
    """Declare an OpenAPI link: what a response of operation ``source`` lets a client (or a
    stateful test) do next with operation ``target`` (operation ids, e.g. ``api_issue``)."""
    entry: dict[str, Any] = {"operationId": target}
    if parameters:
        entry["parameters"] = parameters
    if request_body is not None:
        entry["requestBody"] = request_body
    if description:
        entry["description"] = description
    LINKS.setdefault(source, {}).setdefault(status, {})[name] = entry


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def openapi_document(prefix: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every declared endpoint under ``prefix``."""
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas[name] = _without_null_defaults(sub)
        schemas[model.__name__] = _without_null_defaults(schema)
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    error_ref = ref(ErrorBody)
    paths: dict[str, Any] = {}
    for ep in ENDPOINTS:
        if not ep.path.startswith(prefix):
            continue
        op: dict[str, Any] = {
            "summary": ep.summary,
            "operationId": ep.view_name.replace(".", "_"),
            "tags": [ep.tag],
            "x-admits": list(ep.admits),
            "parameters": [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": (
                        {"type": "integer", "minimum": 0, "maximum": MAX_ID}
                        if conv == "int"
                        else {"type": "string", "maxLength": MAX_PATH_TEXT}
                    ),
                }
                for name, conv in ep.params.items()
            ],
            "responses": {},
        }
        if ep.query is not None:
            query_schema = ep.query.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in query_schema.pop("$defs", {}).items():
                schemas[name] = sub
            required = set(query_schema.get("required", []))
            for name, prop in query_schema.get("properties", {}).items():
                op["parameters"].append(
                    {"name": name, "in": "query", "required": name in required, "schema": prop}
                )
        if ep.admits != PUBLIC:
            op["security"] = [{"bearer": []}, {"session": []}]
        if ep.csrf:
            op["x-csrf"] = "A browser session sends its CSRF token in the X-CSRFToken header."
        if ep.body is not None:
            op["requestBody"] = {
                # an empty body stands for {}: required only when the model has required fields
                "required": any(ep.body.model_json_schema().get(k) for k in ("required", "oneOf")),
                "content": {"application/json": {"schema": ref(ep.body)}},
            }
        for status in sorted(ep.documented_statuses):
            if status in ep.responses:
                model = ep.responses[status]
                entry: dict[str, Any] = {"description": "No content" if status == 204 else "OK"}
                if model is not None:
                    entry["content"] = {"application/json": {"schema": ref(model)}}
            else:
                entry = {"description": "Error", "content": {"application/json": {"schema": error_ref}}}
            links = LINKS.get(op["operationId"], {}).get(status)
            if links:
                entry["links"] = links
            op["responses"][str(status)] = entry
        paths.setdefault(openapi_path(ep.path), {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Khidmat Queue API",
            "version": "1",
            "description": "Every error is {error, message} with a 4xx status.",
        },
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


def _without_null_defaults(schema: Any) -> Any:
    """Drop a ``default: null`` that the property's own type refuses (pydantic writes one
    for a field typed ``Any`` whose schema is given by hand); OpenAPI requires defaults
    to be valid."""
    if isinstance(schema, list):
        return [_without_null_defaults(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _without_null_defaults(v) for k, v in schema.items()}
    kinds = out.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds] if kinds else None
    if "default" in out and out["default"] is None and kinds is not None and "null" not in kinds:
        del out["default"]
    return out


class ErrorBody(BaseModel):
    error: str
    message: str
    field: str | None = None  # a body or query field that failed validation
    current_state: str | None = None  # an illegal transition: the token's state now


def translated(text: str) -> str:
    return gettext(text)
