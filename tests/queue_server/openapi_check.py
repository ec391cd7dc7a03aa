"""Checking real requests and responses against the served OpenAPI document.

A small JSON Schema (2020-12) validator for the keywords pydantic emits, so the suite does
not depend on an extra package; and helpers that build sample bodies from a schema and
fill in an endpoint's URL.
"""

from __future__ import annotations

import math
import re
from typing import Any

from queue_server.api.registry import Endpoint

TYPES: dict[str, Any] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/"), f"only local references: {ref}"
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node  # type: ignore[no-any-return]


def errors(instance: Any, schema: dict[str, Any] | bool, root: dict[str, Any], at: str = "$") -> list[str]:
    """Every way ``instance`` breaks ``schema`` (empty: valid)."""
    if schema is True:
        return []
    if schema is False:
        return [f"{at}: nothing is allowed here"]
    out: list[str] = []
    if "$ref" in schema:
        out += errors(instance, resolve(root, schema["$ref"]), root, at)
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[k](instance) for k in kinds):
            return [*out, f"{at}: {instance!r:.60} is not {kinds}"]
    if "enum" in schema and not any(_same(instance, v) for v in schema["enum"]):
        out.append(f"{at}: {instance!r:.60} not in {schema['enum']}")
    if "const" in schema and not _same(instance, schema["const"]):
        out.append(f"{at}: {instance!r:.60} is not {schema['const']!r}")
    if "anyOf" in schema and all(errors(instance, s, root, at) for s in schema["anyOf"]):
        out.append(f"{at}: matches none of anyOf")
    if "oneOf" in schema and sum(not errors(instance, s, root, at) for s in schema["oneOf"]) != 1:
        out.append(f"{at}: does not match exactly one of oneOf")
    for sub in schema.get("allOf", []):
        out += errors(instance, sub, root, at)
    if isinstance(instance, str):
        if len(instance) < schema.get("minLength", 0):
            out.append(f"{at}: shorter than {schema['minLength']}")
        if len(instance) > schema.get("maxLength", math.inf):
            out.append(f"{at}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            out.append(f"{at}: does not match {schema['pattern']}")
    if TYPES["number"](instance):
        if instance < schema.get("minimum", -math.inf) or instance > schema.get("maximum", math.inf):
            out.append(f"{at}: {instance} out of range")
        if "exclusiveMinimum" in schema and instance <= schema["exclusiveMinimum"]:
            out.append(f"{at}: {instance} not above {schema['exclusiveMinimum']}")
        if "exclusiveMaximum" in schema and instance >= schema["exclusiveMaximum"]:
            out.append(f"{at}: {instance} not below {schema['exclusiveMaximum']}")
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0) or len(instance) > schema.get("maxItems", math.inf):
            out.append(f"{at}: {len(instance)} items out of range")
        prefix = schema.get("prefixItems", [])
        for i, item in enumerate(instance):
            sub = prefix[i] if i < len(prefix) else schema.get("items", True)
            out += errors(item, sub, root, f"{at}[{i}]")
    if isinstance(instance, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in instance:
                out.append(f"{at}: missing {name}")
        for name, value in instance.items():
            if name in props:
                out += errors(value, props[name], root, f"{at}.{name}")
            elif "additionalProperties" in schema:
                out += errors(value, schema["additionalProperties"], root, f"{at}.{name}")
    return out


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b or (TYPES["number"](a) and TYPES["number"](b) and a == b)


def operation(doc: dict[str, Any], ep: Endpoint) -> dict[str, Any]:
    path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", ep.path)
    return doc["paths"][path][ep.method.lower()]  # type: ignore[no-any-return]


def response_problems(doc: dict[str, Any], ep: Endpoint, status: int, body: Any) -> list[str]:
    """Why this real answer disagrees with the document (empty: it agrees)."""
    op = operation(doc, ep)
    entry = op["responses"].get(str(status))
    if entry is None:
        return [f"{ep.method} {ep.path}: status {status} is not documented ({sorted(op['responses'])})"]
    schema = entry.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return [] if body is None else [f"{ep.method} {ep.path} {status}: documented without a body"]
    if body is None:
        return [f"{ep.method} {ep.path} {status}: no JSON body"]
    return [f"{ep.method} {ep.path} {status}: {e}" for e in errors(body, schema, doc)]


def body_schema(doc: dict[str, Any], ep: Endpoint) -> dict[str, Any] | None:
    body = operation(doc, ep).get("requestBody")
    if body is None:
        return None
    return body["content"]["application/json"]["schema"]  # type: ignore[no-any-return]


def sample(schema: dict[str, Any] | bool, root: dict[str, Any], hints: dict[str, Any], name: str = "") -> Any:
    """A value the schema accepts: hints by property name first, then the schema's own
    default, enum or bounds; only required properties are filled in."""
    if schema is True or schema is False:
        return hints.get(name, "x")
    if "$ref" in schema:
        return sample(resolve(root, schema["$ref"]), root, hints, name)
    if name in hints and not errors(hints[name], schema, root):
        return hints[name]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if schema.get("type") == "object" and "oneOf" in schema:  # one of these sets of fields
        props = schema.get("properties", {})
        wanted = [*schema.get("required", []), *schema["oneOf"][0].get("required", [])]
        return {p: sample(props[p], root, hints, p) for p in wanted}
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return sample(options[0], root, hints, name)
    kind = schema.get("type", "string")
    kind = next((k for k in kind if k != "null"), "null") if isinstance(kind, list) else kind
    if kind == "object":
        props = schema.get("properties", {})
        return {p: sample(props[p], root, hints, p) for p in schema.get("required", [])}
    if kind == "array":
        return [sample(schema.get("items", True), root, hints, name)] * schema.get("minItems", 0)
    if kind in ("integer", "number"):
        return max(int(schema.get("minimum", 1)), 1) if "maximum" not in schema else schema["maximum"]
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = "abc" if "pattern" not in schema or re.search(schema["pattern"], "abc") else "a"
    return text.ljust(schema.get("minLength", 0), "x")[: schema.get("maxLength", 1000)]


def url_for(ep: Endpoint, values: dict[str, Any]) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), ep.path)
