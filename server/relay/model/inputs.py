"""A workflow's typed inputs: checking the values a run is given, and parsing CLI text.

Input types are JSON Schema's (string, integer, number, boolean, object, array). Values
come from MCP tool calls and triggers as JSON data (`validate_inputs`) or from the command
line as `key=value` text (`parse_input_assignments`), and every mistake is a one-line
`UsageError` that names the input.
"""

import copy
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from relay.errors import UsageError
from relay.model.workflow import InputSpec, Workflow

_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BOOLEAN_TEXT = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)


def _unknown_input(workflow: Workflow, key: str) -> UsageError:
    if not workflow.inputs:
        return UsageError(f"unknown input {key!r}: workflow {workflow.id!r} declares no inputs")
    declared = ", ".join(sorted(workflow.inputs))
    return UsageError(f"unknown input {key!r}; declared inputs: {declared}")


def conform(spec: InputSpec, value: Any) -> Any:
    """`value` as input type `spec.type` (3.0 -> 3 for an integer), or raise ValueError."""
    kind = spec.type
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)
    if kind == "array" and isinstance(value, tuple):
        value = list(value)
    if not _has_type(kind, value):
        raise ValueError(f"expected {kind}, got {_shown(value)}")
    if spec.enum is not None and value not in spec.enum:
        raise ValueError(f"expected one of {_shown(spec.enum)}, got {_shown(value)}")
    return value


def _has_type(kind: str, value: Any) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    checks: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
        "object": dict,
        "array": list,
    }
    return isinstance(value, checks[kind])


def validate_inputs(workflow: Workflow, given: Mapping[str, Any]) -> dict[str, Any]:
    """The run's inputs: `given` checked against the declarations, defaults filled in.

    Every declared input appears in the result (None when optional and not given); a
    given None counts as not given.

    Raises:
        UsageError: an unknown input, a missing required one, or a value of the wrong type.
    """
    for key in given:
        if key not in workflow.inputs:
            raise _unknown_input(workflow, key)
    result: dict[str, Any] = {}
    for key, spec in workflow.inputs.items():
        value = given.get(key)
        if value is None:
            if spec.is_required:
                raise UsageError(f"input {key!r} is required ({spec.type})")
            result[key] = copy.deepcopy(spec.default)
            continue
        try:
            result[key] = conform(spec, value)
        except ValueError as exc:
            raise UsageError(f"input {key!r}: {exc}") from exc
    return result


def parse_input_text(workflow: Workflow, key: str, text: str) -> Any:
    """The value of CLI text `text` for input `key`, parsed by its declared type.

    Raises:
        UsageError: `key` is not declared, or `text` does not spell a value of its type.
    """
    spec = workflow.inputs.get(key)
    if spec is None:
        raise _unknown_input(workflow, key)
    try:
        return _parse_text(spec.type, text)
    except ValueError:
        raise UsageError(f"input {key!r}: expected {spec.type}, got {text!r}") from None


def _parse_text(kind: str, text: str) -> Any:
    if kind == "string":
        return text
    if kind == "integer" and _INTEGER_TEXT.fullmatch(text):
        return int(text)
    if kind == "number" and _INTEGER_TEXT.fullmatch(text):
        return int(text)
    if kind == "number" and _NUMBER_TEXT.fullmatch(text):
        return float(text)
    if kind == "boolean" and text.lower() in _BOOLEAN_TEXT:
        return _BOOLEAN_TEXT[text.lower()]
    if kind in {"object", "array"}:
        value = json.loads(text)  # JSONDecodeError is a ValueError
        if _has_type(kind, value):
            return value
    raise ValueError(text)


def parse_input_assignments(workflow: Workflow, items: Sequence[str]) -> dict[str, Any]:
    """Inputs from CLI `key=value` strings (each value parsed by its input's type).

    Raises:
        UsageError: an item without `=`, a key given twice, or a bad key or value.
    """
    result: dict[str, Any] = {}
    for item in items:
        key, equals, text = item.partition("=")
        if not equals or not key:
            raise UsageError(f"expected key=value, got {item!r}")
        if key in result:
            raise UsageError(f"input {key!r} is given more than once")
        result[key] = parse_input_text(workflow, key, text)
    return result
