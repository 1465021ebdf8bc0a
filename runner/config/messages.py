"""Turn pydantic validation errors into located findings with plain messages."""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from runner.config.models import NAME_PATTERN, JobFile
from runner.config.yamlsource import PathKey, YamlDocument
from runner.errors import Finding

_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list",
}


def findings_from_validation(
    document: YamlDocument, error: ValidationError
) -> list[Finding]:
    """Return one finding per pydantic error, located at the node that is wrong."""
    trapped = {(f.line, f.column) for f in document.findings}
    details = [
        (detail, _data_path(document.data, detail["loc"], _keyed(detail)))
        for detail in error.errors(include_url=False)
    ]
    misspelled = _misspelled_keys(details)
    findings: list[Finding] = []
    for detail, loc in details:
        if detail["type"] == "missing" and loc in misspelled:
            continue  # the unknown-key message already suggests this key
        line, column = _position(document, detail, loc)
        if (line, column) in trapped:
            continue  # the YAML trap message at this node already explains it
        message = _message(detail, loc)
        findings.append(Finding(document.file, line, column, message))
    return findings


def _keyed(detail: ErrorDetails) -> bool:
    return detail["type"] in ("missing", "extra_forbidden")


def _misspelled_keys(details: list[tuple[ErrorDetails, PathKey]]) -> set[PathKey]:
    """Return the paths of missing keys that an unknown key's suggestion names."""
    suggested: set[PathKey] = set()
    for detail, loc in details:
        if detail["type"] == "extra_forbidden" and loc:
            close = _suggestion(str(loc[-1]), loc[:-1])
            if close is not None:
                suggested.add((*loc[:-1], close))
    return suggested


def _data_path(data: Any, loc: tuple[int | str, ...], keyed: bool) -> PathKey:
    """Drop the segments that pydantic adds for union members and validators.

    ``keyed`` errors (missing or unknown keys) end in a key that the data lacks
    or that no model allows, so their last segment is kept.
    """
    path: list[str | int] = []
    current = data
    for index, segment in enumerate(loc):
        last = index == len(loc) - 1
        if segment == "[key]":
            path.append(segment)
            continue
        if isinstance(current, dict) and segment in current:
            current = current[segment]
            path.append(segment)
        elif isinstance(current, list) and isinstance(segment, int):
            current = current[segment] if segment < len(current) else None
            path.append(segment)
        elif last and keyed and isinstance(current, dict):
            path.append(segment)
    return tuple(path)


def _position(
    document: YamlDocument, detail: ErrorDetails, loc: PathKey
) -> tuple[int, int]:
    """Locate an error: at the key for a mapping or list, else at the value."""
    if loc and loc[-1] == "[key]":
        return document.source.locate(loc[:-1], prefer_key=True)
    if detail["type"] == "missing":
        return document.source.locate(loc[:-1], prefer_key=True)
    if detail["type"] == "extra_forbidden":
        return document.source.locate(loc, prefer_key=True)
    collection = isinstance(_value_at(document.data, loc), dict | list)
    return document.source.locate(loc, prefer_key=collection)


def _value_at(data: Any, loc: PathKey) -> Any:
    current = data
    for segment in loc:
        if isinstance(current, dict) and segment in current:
            current = current[segment]
        elif isinstance(current, list) and isinstance(segment, int):
            current = current[segment] if segment < len(current) else None
        else:
            return None
    return current


def _message(detail: ErrorDetails, loc: PathKey) -> str:
    kind = detail["type"]
    value = detail.get("input")
    ctx = detail.get("ctx") or {}
    where = _describe(loc)
    if kind == "missing":
        return f"missing required key '{loc[-1]}'{_in(loc[:-1])}"
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if loc and loc[-1] == "[key]" and kind == "value_error":
        return f"{_describe(loc[:-2])}: {ctx.get('error', detail['msg'])}"
    if loc and loc[-1] == "[key]":
        return (
            f"invalid name {value!r}{_in(loc[:-2])}; names are letters, digits, "
            "'.', '_' and '-', starting with a letter or digit"
        )
    if kind in _TYPE_WORDS:
        found = f"found {_show(value)}{_fix(kind, value)}"
        return f"{where}: expected {_TYPE_WORDS[kind]}, {found}"
    if kind == "value_error" and loc == ("version",):
        return str(ctx.get("error", detail["msg"]))
    if kind == "value_error":
        return f"{where}: {ctx.get('error', detail['msg'])}"
    if kind == "literal_error" and loc == ("version",):
        return (
            f"unsupported version: found {_show(value)}; this runner reads 'version: 1'"
        )
    if kind == "string_too_short":
        return f"{where}: the value is empty; write a value or remove the key"
    if kind in ("literal_error", "enum"):
        return f"{where}: {_show(value)} is not allowed; expected {ctx.get('expected')}"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == NAME_PATTERN:
        return (
            f"{where}: invalid name {value!r}; names are letters, digits, '.', '_' "
            "and '-', starting with a letter or digit"
        )
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{where}: {_show(value)} is out of range ({detail['msg'].lower()})"
    if kind == "too_short":
        return f"{where}: needs at least one item"
    return f"{where}: {detail['msg']}"


def _unknown_key(loc: PathKey) -> str:
    key = str(loc[-1])
    allowed = _allowed_keys(loc[:-1])
    message = f"unknown key '{key}'{_in(loc[:-1])}"
    close = _suggestion(key, loc[:-1])
    if close is not None:
        return f"{message}; did you mean '{close}'?"
    if allowed:
        return f"{message}; allowed keys: {', '.join(sorted(allowed))}"
    return message


def _suggestion(key: str, parent: PathKey) -> str | None:
    close = difflib.get_close_matches(key, _allowed_keys(parent), n=1, cutoff=0.6)
    return close[0] if close else None


def _allowed_keys(loc: PathKey) -> list[str]:
    """Return the keys that the model at ``loc`` accepts, found through the types."""
    current: Any = JobFile
    for segment in loc:
        current = _step(current, segment)
        if current is None:
            return []
    model = _unwrap_model(current)
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _step(annotation: Any, segment: str | int) -> Any:
    model = _unwrap_model(annotation)
    if model is not None and isinstance(segment, str):
        field = _field_by_key(model, segment)
        return field.annotation if field is not None else None
    container = _unwrap_container(annotation)
    if container is None:
        return None
    origin, args = container
    if origin is dict and isinstance(segment, str):
        return args[1]
    if origin is list and isinstance(segment, int):
        return args[0]
    return None


def _field_by_key(model: type[BaseModel], key: str) -> Any:
    for name, field in model.model_fields.items():
        if (field.alias or name) == key:
            return field
    return None


def _candidates(annotation: Any) -> list[Any]:
    """Flatten Annotated and Union wrappers into the plain types they admit."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _candidates(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        found: list[Any] = []
        for arg in get_args(annotation):
            found.extend(_candidates(arg))
        return found
    return [annotation]


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in _candidates(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _unwrap_container(annotation: Any) -> tuple[Any, tuple[Any, ...]] | None:
    for candidate in _candidates(annotation):
        origin = get_origin(candidate)
        if origin in (dict, list):
            return origin, get_args(candidate)
    return None


def _describe(loc: PathKey) -> str:
    """Name a location the way a person reads the file: jobs.orders.endpoints[0].url."""
    text = ""
    for segment in loc:
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            text += f".{segment}" if text else str(segment)
    return text or "file"


def _in(loc: PathKey) -> str:
    return f" in {_describe(loc)}" if loc else ""


def _show(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"{type(value).__name__} {value!r}".replace("int ", "number ").replace(
        "float ", "number "
    )


def _fix(kind: str, value: Any) -> str:
    if kind == "string_type" and isinstance(value, bool):
        return f'; quote it ("{str(value).lower()}")'
    if kind == "string_type" and isinstance(value, int | float):
        return f'; quote it ("{value}")'
    if kind in ("int_type", "float_type") and isinstance(value, str):
        return "; write the number without quotes"
    return ""
