"""Turn pydantic validation errors into a dotted field name and a readable allowed range.

The allowed range comes from the request model's own field constraints (``ge``/``le``,
lengths, ``Literal`` choices), so a 422 for ``search.n_trials = 0`` says ``1..1000``
rather than only the violated bound; when the field cannot be found in the model the
error's ``ctx`` (the violated bound) is used instead.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Sequence
from typing import Any

import annotated_types as at
from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.fields import FieldInfo

__all__ = [
    "allowed_for_loc",
    "allowed_range",
    "body_model",
    "dotted_field",
    "field_info_at",
]

_SOURCES = ("body", "query", "path", "header", "cookie", "form")


def dotted_field(loc: Sequence[Any]) -> str | None:
    """``("body", "search", "n_trials")`` → ``"search.n_trials"``; list indices as ``[i]``.

    Returns None when the location is the whole body.
    """
    parts = list(loc)
    if parts and parts[0] in _SOURCES:
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or None


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    return str(value)


def _choices(annotation: Any) -> list[Any] | None:
    """The allowed values of a ``Literal``/``Enum`` annotation (through ``Optional``)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return list(typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _choices(arg)
            if found is not None:
                return found
    if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
        return [member.value for member in annotation]
    return None


def allowed_range(info: FieldInfo) -> str | None:
    """The readable allowed range of one model field, e.g. ``"1..1000"`` or ``"one of: ..."``.

    Args:
        info: The pydantic field (its ``metadata`` holds ``annotated_types`` bounds).

    Returns:
        The range text, or None when the field has no bounds or choices.
    """
    lo: str | None = None
    hi: str | None = None
    lo_open = hi_open = False
    min_len: int | None = None
    max_len: int | None = None
    for item in info.metadata:
        if isinstance(item, at.Ge):
            lo = _fmt(item.ge)
        elif isinstance(item, at.Gt):
            lo, lo_open = _fmt(item.gt), True
        elif isinstance(item, at.Le):
            hi = _fmt(item.le)
        elif isinstance(item, at.Lt):
            hi, hi_open = _fmt(item.lt), True
        elif isinstance(item, at.MinLen):
            min_len = item.min_length
        elif isinstance(item, at.MaxLen):
            max_len = item.max_length
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if isinstance(extra.get("allowed"), str):  # a field that says it in words
        return str(extra["allowed"])
    if lo is None and "minimum" in extra:
        lo = _fmt(extra["minimum"])
    if hi is None and "maximum" in extra:
        hi = _fmt(extra["maximum"])
    if lo is not None or hi is not None:
        if lo is not None and hi is not None and not lo_open and not hi_open:
            return f"{lo}..{hi}"
        parts = []
        if lo is not None:
            parts.append(f"{'>' if lo_open else '>='} {lo}")
        if hi is not None:
            parts.append(f"{'<' if hi_open else '<='} {hi}")
        return " and ".join(parts)
    choices = _choices(info.annotation)
    if choices is not None:
        return "one of: " + ", ".join(repr(c) for c in choices)
    if min_len is not None or max_len is not None:
        return f"length {min_len or 0}..{max_len if max_len is not None else 'any'}"
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def field_info_at(model: type[BaseModel], path: Sequence[Any]) -> FieldInfo | None:
    """The pydantic field reached by following ``path`` (names; list indices skipped)."""
    current: type[BaseModel] | None = model
    info: FieldInfo | None = None
    for part in path:
        if isinstance(part, int):
            continue
        if current is None:
            return None
        info = current.model_fields.get(str(part))
        if info is None:
            return None
        current = _model_in(info.annotation)
    return info


def body_model(request: Request) -> type[BaseModel] | None:
    """The pydantic model of the current route's body (``None``: none, or unknown)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return None
    try:
        hints = typing.get_type_hints(route.endpoint)
    except Exception:  # unresolvable forward references: fall back to ctx
        return None
    for name, annotation in hints.items():
        if name != "return":
            model = _model_in(annotation)
            if model is not None:
                return model
    return None


def _from_ctx(ctx: dict[str, Any]) -> str | None:
    if "lo" in ctx and "hi" in ctx:  # studies.spec's "out_of_range" errors
        return f"{_fmt(ctx['lo'])}..{_fmt(ctx['hi'])}"
    for key, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if key in ctx:
            return f"{op} {_fmt(ctx[key])}"
    if "expected" in ctx:
        return f"one of: {ctx['expected']}"
    if "min_length" in ctx:
        return f"length >= {ctx['min_length']}"
    if "max_length" in ctx:
        return f"length <= {ctx['max_length']}"
    if "pattern" in ctx:
        return f"matching {ctx['pattern']}"
    return None


def allowed_for_loc(request: Request, loc: Sequence[Any], ctx: dict[str, Any]) -> str | None:
    """The allowed range for the field at ``loc`` of the current request, if known.

    Body fields are looked up in the route's body model; anything else (or a field the
    model does not describe) falls back to the bound in the error's ``ctx``.
    """
    if loc and loc[0] == "body" and len(loc) > 1:
        model = body_model(request)
        if model is not None:
            info = field_info_at(model, list(loc[1:]))
            if info is not None:
                found = allowed_range(info)
                if found is not None:
                    return found
    return _from_ctx(ctx)
