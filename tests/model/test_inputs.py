"""Typed inputs: validating given values and parsing `-i key=value` text."""

from typing import Any

import pytest

from relay.errors import UsageError
from relay.model.inputs import parse_input_assignments, parse_input_text, validate_inputs
from relay.model.workflow import Workflow


@pytest.fixture
def workflow() -> Workflow:
    return Workflow.model_validate(
        {
            "id": "typed",
            "inputs": {
                "suite": {"type": "string", "default": "tests/"},
                "count": {"type": "integer"},
                "ratio": {"type": "number", "default": 0.5},
                "dry_run": {"type": "boolean", "default": False},
                "options": {"type": "object", "default": {"a": 1}},
                "targets": {"type": "array", "required": False},
                "level": {"type": "string", "enum": ["low", "high"], "default": "low"},
            },
            "steps": [{"id": "a", "action": "log"}],
        }
    )


def test_defaults_fill_the_inputs_not_given(workflow: Workflow) -> None:
    assert validate_inputs(workflow, {"count": 2}) == {
        "suite": "tests/",
        "count": 2,
        "ratio": 0.5,
        "dry_run": False,
        "options": {"a": 1},
        "targets": None,
        "level": "low",
    }


def test_a_default_is_copied_so_a_run_cannot_change_the_definition(workflow: Workflow) -> None:
    validate_inputs(workflow, {"count": 1})["options"]["a"] = 99
    assert workflow.inputs["options"].default == {"a": 1}


def test_an_unknown_input_is_refused_listing_the_declared_ones(workflow: Workflow) -> None:
    with pytest.raises(UsageError, match="unknown input 'cuont'; declared inputs: count, dry_run"):
        validate_inputs(workflow, {"count": 1, "cuont": 2})


def test_a_workflow_without_inputs_refuses_any_input() -> None:
    bare = Workflow.model_validate({"id": "bare", "steps": [{"id": "a", "action": "log"}]})
    assert validate_inputs(bare, {}) == {}
    with pytest.raises(UsageError, match="declares no inputs"):
        validate_inputs(bare, {"x": 1})


def test_a_missing_required_input_is_refused(workflow: Workflow) -> None:
    with pytest.raises(UsageError, match="input 'count' is required"):
        validate_inputs(workflow, {})


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"count": "abc"}, "input 'count': expected integer, got 'abc'"),
        ({"count": True}, "input 'count': expected integer, got true"),
        ({"count": 1.5}, "input 'count': expected integer, got 1.5"),
        ({"count": 1, "ratio": "x"}, "input 'ratio': expected number, got 'x'"),
        ({"count": 1, "dry_run": "yes"}, "input 'dry_run': expected boolean"),
        ({"count": 1, "options": [1]}, "input 'options': expected object"),
        ({"count": 1, "targets": {"a": 1}}, "input 'targets': expected array"),
        (
            {"count": 1, "level": "mid"},
            "input 'level': expected one of [\"low\", \"high\"], got 'mid'",
        ),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(
    workflow: Workflow, given: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError) as info:
        validate_inputs(workflow, given)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_whole_float_counts_as_an_integer_and_an_int_as_a_number(workflow: Workflow) -> None:
    result = validate_inputs(workflow, {"count": 4.0, "ratio": 2})
    assert (result["count"], result["ratio"]) == (4, 2)
    assert isinstance(result["count"], int)


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("suite", "  spaced text ", "  spaced text "),
        ("count", "-12", -12),
        ("ratio", "2.5e3", 2500.0),
        ("ratio", "3", 3),
        ("dry_run", "YES", True),
        ("dry_run", "0", False),
        ("options", '{"a": [1]}', {"a": [1]}),
        ("targets", '["x", "y"]', ["x", "y"]),
    ],
)
def test_cli_text_is_parsed_by_the_declared_type(
    workflow: Workflow, key: str, text: str, value: Any
) -> None:
    assert parse_input_text(workflow, key, text) == value


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("count", "1.0"),
        ("count", "ten"),
        ("ratio", "nan"),
        ("dry_run", "maybe"),
        ("options", "[1]"),
        ("targets", "x,y"),
    ],
)
def test_cli_text_of_the_wrong_type_is_refused(workflow: Workflow, key: str, text: str) -> None:
    with pytest.raises(UsageError, match=f"input '{key}': expected"):
        parse_input_text(workflow, key, text)


def test_cli_text_for_an_unknown_input_is_refused(workflow: Workflow) -> None:
    with pytest.raises(UsageError, match="unknown input 'nope'"):
        parse_input_text(workflow, "nope", "1")


def test_assignments_split_at_the_first_equals_sign(workflow: Workflow) -> None:
    parsed = parse_input_assignments(workflow, ["count=3", "suite=a=b"])
    assert parsed == {"count": 3, "suite": "a=b"}


def test_an_assignment_without_equals_sign_is_refused_naming_it(workflow: Workflow) -> None:
    with pytest.raises(UsageError, match="expected key=value, got 'count'"):
        parse_input_assignments(workflow, ["count"])


def test_an_input_assigned_twice_is_refused(workflow: Workflow) -> None:
    with pytest.raises(UsageError, match="more than once"):
        parse_input_assignments(workflow, ["count=1", "count=2"])
