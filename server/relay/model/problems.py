"""Wording and locating the problems of a workflow definition.

A `Reporter` turns a data path such as `("steps", 3, "retry", "max_attempts")` into a
`Problem` at that key's line, whose message names the step (`step 'deploy'`) and the
field (`retry.max_attempts`). It also translates pydantic's validation errors into plain
words: "unknown key 'retries' (did you mean 'retry'?)" rather than "Extra inputs are not
permitted".
"""

import difflib
import json
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from relay.errors import Problem
from relay.model.source import DataPath, Position, SourceMap
from relay.model.workflow import Step, Workflow, derive_step_id

_EXPECTED: Mapping[str, str] = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
_BOUNDS: Mapping[str, str] = {
    "greater_than": "greater than {gt}",
    "greater_than_equal": "at least {ge}",
    "less_than": "less than {lt}",
    "less_than_equal": "at most {le}",
}
# Seed spellings that the models fold away, but that are valid keys in a file.
_SEED_KEYS: Mapping[type[BaseModel], tuple[str, ...]] = {
    Workflow: ("workflow_id",),
    Step: ("retry_count", "retry_delay_seconds"),
}


def shown(value: Any) -> str:
    """A value as a message shows it: repr for text, JSON for the rest, cut short."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def dotted(path: DataPath) -> str:
    """`("params", "checks", 2)` -> `params.checks[2]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


class Reporter:
    """Makes located, worded problems for one document."""

    def __init__(self, path: str, source_map: SourceMap, data: Any) -> None:
        self.path = path
        self.source_map = source_map
        steps = data.get("steps") if isinstance(data, Mapping) else None
        self._step_ids = [_raw_step_id(raw) for raw in steps] if isinstance(steps, list) else []

    def line(self, where: DataPath) -> int | None:
        found = self.source_map.locate(where)
        return None if found is None else found[0]

    def has_key(self, where: DataPath) -> bool:
        return where in self.source_map.keys

    def step_words(self, index: int) -> str:
        """How messages name step number `index`: `step 'deploy'` or `step #4`."""
        step_id = self._step_ids[index] if index < len(self._step_ids) else None
        return f"step {step_id!r}" if step_id else f"step #{index + 1}"

    def problem(
        self,
        where: DataPath,
        reason: str,
        *,
        position: Position | None = None,
        about_key: bool = False,
    ) -> Problem:
        """A problem at data path `where`, its message prefixed by step and field.

        With `about_key`, the problem is about the last key of `where` itself (unknown,
        missing, duplicate...), so the message names only the mapping that holds it.
        """
        line, column = position or self.source_map.locate(where) or (None, None)
        step: str | None = None
        parts: list[str] = []
        rest = where[2:]
        if len(where) >= 2 and where[0] == "steps" and isinstance(where[1], int):
            index = where[1]
            step = self._step_ids[index] if index < len(self._step_ids) else None
            parts.append(self.step_words(index))
        elif len(where) >= 2 and where[0] in _SUBJECTS:
            parts.append(_SUBJECTS[str(where[0])].format(where[1], _plus_one(where[1])))
        else:
            rest = where
        field = dotted(rest) or None
        shown_field = dotted(rest[:-1]) if about_key else field
        if shown_field:
            parts.append(shown_field)
        message = ": ".join([*parts, reason])
        return Problem(self.path, line, column, message, step=step, field=field)

    def validation_problems(
        self,
        errors: Iterable[ErrorDetails],
        *,
        base: DataPath = (),
        model: type[BaseModel] = Workflow,
        noun: str = "key",
        note: str = "",
    ) -> list[Problem]:
        """Problems for pydantic `errors` of validating `model` from the data at `base`."""
        problems = []
        for error in errors:
            loc = _data_path(error["loc"])
            if error["type"] == "relay_field":
                ctx = error.get("ctx") or {}
                loc = (*loc, str(ctx["field"]))
                problems.append(self.problem((*base, *loc), str(ctx["reason"])))
                continue
            reason, about_key = _reason(error, loc, model, noun, note)
            problems.append(self.problem((*base, *loc), reason, about_key=about_key))
        return problems


# How a message names the subject of a path like ("actions", "run_tests", "params").
_SUBJECTS: Mapping[str, str] = {
    "actions": "action {0!r}",
    "inputs": "input {0!r}",
    "on": "trigger #{1}",
}


def _plus_one(part: str | int) -> str | int:
    return part + 1 if isinstance(part, int) else part


def _raw_step_id(raw: Any) -> str | None:
    if not isinstance(raw, Mapping):
        return None
    if isinstance(raw.get("id"), str):
        return str(raw["id"])
    if isinstance(raw.get("name"), str):
        return derive_step_id(raw["name"]) or None
    return None


def _data_path(loc: tuple[int | str, ...]) -> DataPath:
    # A trigger's loc names the union member as well: ("on", 0, "event", "match").
    if len(loc) >= 3 and loc[0] == "on" and loc[2] in {"event", "schedule"}:
        return (*loc[:2], *loc[3:])
    return tuple(loc)


def _reason(
    error: ErrorDetails, loc: DataPath, model: type[BaseModel], noun: str, note: str
) -> tuple[str, bool]:
    """Plain words for one pydantic error, and whether it is about the key itself."""
    kind, value = error["type"], error.get("input")
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    key = loc[-1] if loc else ""
    if kind == "missing":
        return f"missing required {noun} {key!r}{note}", True
    if kind == "extra_forbidden":
        return f"unknown {noun} {key!r}{note}{_suggestion(model, loc)}", True
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {shown(value)}", False
    if kind in _BOUNDS:
        bounds = {k: _number(v) for k, v in ctx.items()}
        return f"must be {_BOUNDS[kind].format(**bounds)}, got {shown(value)}", False
    return _special_reason(kind, value, ctx, key) or str(error["msg"]), False


def _number(value: Any) -> Any:
    """0.0 -> 0 in messages, since a YAML author wrote 0."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _special_reason(kind: str, value: Any, ctx: Mapping[str, Any], key: str | int) -> str | None:
    if kind == "literal_error":
        return f"expected {ctx['expected']}, got {shown(value)}"
    if kind == "string_pattern_mismatch" and key == "id":
        return f"invalid id {shown(value)}: use only letters, digits, '_', '.' and '-'"
    if kind == "string_pattern_mismatch":
        return f"{shown(value)} does not match the pattern {ctx['pattern']}"
    if kind == "too_short" and key == "steps":
        return "a workflow needs at least one step"
    if kind == "too_short":
        return f"needs at least {ctx['min_length']} item(s)"
    if kind == "value_error":
        return str(ctx["error"])
    return None


def _suggestion(model: type[BaseModel], loc: DataPath) -> str:
    owner = _model_at(model, loc[:-1])
    if owner is None or not loc or not isinstance(loc[-1], str):
        return ""
    keys = [info.alias or name for name, info in owner.model_fields.items()]
    keys += _SEED_KEYS.get(owner, ())
    close = difflib.get_close_matches(loc[-1], keys, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _model_at(model: type[BaseModel], path: DataPath) -> type[BaseModel] | None:
    """The model class that validates the data at `path` under `model`, when there is one."""
    current: Any = model
    for part in path:
        current = _unwrap(current)
        if isinstance(part, str) and _is_model(current):
            field = _field_by_key(current, part)
            current = None if field is None else field
        elif typing.get_origin(current) in {list, dict}:
            current = typing.get_args(current)[-1]
        else:
            return None
    current = _unwrap(current)
    return current if _is_model(current) else None


def _field_by_key(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in {name, info.alias}:
            return info.annotation
    return None


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X; anything else (a union of models, say) as it is."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return members[0] if len(members) == 1 else annotation
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
