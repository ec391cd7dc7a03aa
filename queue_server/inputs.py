"""What every request body is built on: strict validation as the API document says it.

Shared by the JSON API's bodies (``queue_server.api.schemas``) and the action registry's
inputs (``queue_server.actions``), which the socket and the CLI validate with too.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator


def say_stripped(schema: dict[str, Any], _model: type[BaseModel]) -> None:
    """What the document says of text, as the API checks it: no NUL character anywhere (the
    database cannot hold it), and a required text must hold something other than spaces
    (text is stripped after its length is checked)."""

    def mark(option: dict[str, Any]) -> None:
        for inner in option.get("anyOf", ()):
            mark(inner)
        if option.get("type") == "array" and isinstance(option.get("items"), dict):
            mark(option["items"])
        if option.get("type") != "string" or "pattern" in option or "enum" in option or "const" in option:
            return
        required = option.get("minLength", 0) >= 1
        option["pattern"] = r"^[^\x00]*[^\x00\s][^\x00]*$" if required else r"^[^\x00]*$"

    for prop in schema.get("properties", {}).values():
        mark(prop)


class Strict(BaseModel):
    """A request body: unknown fields refused. Text is checked as sent (length, choices),
    then stripped; a required text of nothing but spaces is refused."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=say_stripped)

    @field_validator("*", mode="after")
    @classmethod
    def _stripped(cls, value: Any, info: ValidationInfo) -> Any:
        if type(value) is not str:  # enums and literals are checked exactly as sent
            return value
        stripped = value.strip()
        name = info.field_name or ""
        if value and not stripped and _min_length(cls.model_fields.get(name)) >= 1:
            raise ValueError("must hold more than spaces")
        return stripped


def _min_length(field: Any) -> int:
    return max((getattr(m, "min_length", 0) or 0 for m in getattr(field, "metadata", ())), default=0)


class NoNulls(Strict):
    """Optional fields that may be left out but not sent as null."""

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                if value is None and name in cls.model_fields:
                    raise ValueError(f"{name} may be left out, not null")
        return data
