"""The ${{ }} expression language: finding, checking, evaluating, rendering."""

from typing import Any

import pytest

from relay.errors import ExpressionError, MissingEnvironmentVariable
from relay.model.expressions import (
    check_expression,
    condition_source,
    evaluate,
    evaluate_condition,
    find_expressions,
    is_whole_expression,
    referenced_steps,
    render,
    substitute_env,
)

CONTEXT: dict[str, Any] = {
    "inputs": {"suite": "tests/", "count": 3, "flags": ["a", "b"]},
    "steps": {
        "a": {"status": "completed", "output": {"items": [1, 2, 3], "exit_code": 0, "ok": True}},
        "b": {"status": "failed", "output": None, "error": "boom"},
    },
    "run": {"id": "run-1", "workflow": "wf"},
    "env": {"REGION": "eu"},
}


def test_find_expressions_walks_strings_mappings_and_lists() -> None:
    value = {"a": "${{ inputs.x }}", "b": ["x ${{ 1 + 1 }} y ${{ run.id }}", 3], "c": None}
    assert [s.strip() for s in find_expressions(value)] == ["inputs.x", "1 + 1", "run.id"]


@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("${{ x }}", True),
        ("  ${{ x }}\n", True),
        ("a ${{ x }}", False),
        ("${{ a }}${{ b }}", False),
    ],
)
def test_is_whole_expression(text: str, whole: bool) -> None:
    assert is_whole_expression(text) is whole


def test_a_whole_expression_keeps_its_type() -> None:
    assert render("${{ steps.a.output.items }}", CONTEXT) == [1, 2, 3]
    assert render("${{ inputs.count * 2 }}", CONTEXT) == 6
    assert render("${{ steps.a.output.ok }}", CONTEXT) is True


def test_embedded_expressions_are_interpolated_as_text() -> None:
    text = (
        "n=${{ inputs.count }} ok=${{ steps.a.output.ok }} "
        "none=${{ steps.b.output }} l=${{ inputs.flags }}"
    )
    assert render(text, CONTEXT) == 'n=3 ok=true none= l=["a","b"]'


def test_render_walks_mappings_and_lists_and_leaves_other_values_alone() -> None:
    value = {"cmd": ["pytest", "${{ inputs.suite }}"], "n": 5, "flag": None}
    assert render(value, CONTEXT) == {"cmd": ["pytest", "tests/"], "n": 5, "flag": None}


def test_dotted_access_on_a_mapping_reads_the_key_never_a_method() -> None:
    assert evaluate("steps.a.output.items", CONTEXT) == [1, 2, 3]
    assert evaluate("steps.a.output.keys", CONTEXT) is None


def test_missing_keys_and_attributes_of_none_give_none() -> None:
    assert evaluate("steps.nope.output.x.y", CONTEXT) is None
    assert evaluate("steps.b.output.anything", CONTEXT) is None
    assert evaluate("steps['a']['output']['missing']", CONTEXT) is None


def test_a_root_name_absent_from_the_context_gives_none() -> None:
    assert evaluate("event.data", CONTEXT) is None


def test_subscripts_work_on_lists_and_an_index_out_of_range_gives_none() -> None:
    assert evaluate("steps.a.output['items'][-1]", CONTEXT) == 3
    assert evaluate("inputs.flags[5]", CONTEXT) is None


def test_attribute_access_on_a_non_mapping_is_an_error() -> None:
    with pytest.raises(ExpressionError, match=r"cannot read \.upper of a string"):
        evaluate("inputs.suite.upper", CONTEXT)


@pytest.mark.parametrize(
    "source",
    [
        "().__class__",
        "inputs.__class__.__mro__",
        "''.__class__.__subclasses__()",
        "inputs.suite.format()",
        "(lambda: 1)()",
        "[x for x in inputs.flags]",
        "__import__('os')",
        "open('/etc/passwd')",
        "getattr(inputs, 'x')",
        "(y := 1)",
    ],
)
def test_sandbox_escapes_are_refused(source: str) -> None:
    assert check_expression(source) is not None
    with pytest.raises(ExpressionError):
        evaluate(source, CONTEXT)


def test_errors_name_the_step_and_the_expression() -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate("inputs.count / 0", CONTEXT, step="deploy")
    assert info.value.step == "deploy"
    assert "inputs.count / 0" in str(info.value)
    assert str(info.value).startswith("step 'deploy': ")


def test_huge_powers_and_strings_are_refused() -> None:
    with pytest.raises(ExpressionError):
        evaluate("9 ** 9999999", CONTEXT)
    with pytest.raises(ExpressionError):
        evaluate("'x' * 10000000", CONTEXT)


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("len(inputs.flags)", 2),
        ("str(steps.a.output.ok)", "true"),
        ("int('7') + float('0.5')", 7.5),
        ("bool(steps.b.output)", False),
        ("abs(-2) + min(3, 1) + max([4, 5]) + round(2.6)", 11),
        ("lower('AbC') + upper('d')", "abcD"),
        ("contains(inputs.flags, 'a') and contains('haystack', 'st')", True),
        ("startswith(run.id, 'run') and endswith(run.id, '-1')", True),
        ("join(inputs.flags)", "a,b"),
        ("join(inputs.flags, sep=' | ')", "a | b"),
        ("tojson({'a': [1, true]})", '{"a":[1,true]}'),
        ("fromjson('[1, 2]')[1]", 2),
        ("'yes' if steps.a.output.exit_code == 0 else 'no'", "yes"),
        ("'a' in inputs.flags and not 'z' in inputs.flags", True),
        ("env.REGION == 'eu' and null == None", True),
    ],
)
def test_whitelisted_functions_and_operators(source: str, value: Any) -> None:
    assert evaluate(source, CONTEXT) == value


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("inputs.x ==", "invalid syntax"),
        ("x = 1", "assignment is not allowed"),
        ("secrets.token", "unknown name 'secrets'"),
        ("system('ls')", "cannot call 'system'"),
        ("len", "unknown name 'len'"),
        ("{1, 2}", "Set is not allowed"),
        ("f'{inputs.x}'", "f-strings are not supported"),
        ("  ", "empty"),
    ],
)
def test_check_expression_explains_what_is_wrong(source: str, reason: str) -> None:
    found = check_expression(source)
    assert found is not None
    assert reason in found


def test_check_expression_accepts_every_root_name() -> None:
    source = "[inputs, steps, event, run, env, params, outputs, true, false, null]"
    assert check_expression(source) is None


def test_referenced_steps_reads_dotted_and_subscripted_step_ids() -> None:
    assert referenced_steps("steps.a.output and steps['b-2'].status or inputs.steps") == {
        "a",
        "b-2",
    }


def test_a_condition_may_be_wrapped_or_bare() -> None:
    assert condition_source("${{ steps.a.output.ok }}").strip() == "steps.a.output.ok"
    assert condition_source("steps.a.output.ok") == "steps.a.output.ok"
    assert evaluate_condition("steps.a.output.exit_code == 0", CONTEXT, step="x") is True
    assert evaluate_condition("${{ steps.b.output }}", CONTEXT, step="x") is False


def test_a_condition_that_mixes_text_and_expressions_is_an_error() -> None:
    with pytest.raises(ExpressionError, match="single expression"):
        condition_source("${{ steps.a.output.ok }} == true")


def test_env_substitution_fills_variables_and_defaults() -> None:
    environ = {"MODEL": "opus", "EMPTY": ""}
    text = "${MODEL} ${MISSING:-fallback} ${EMPTY:-used} ${{ inputs.x }}"
    assert substitute_env(text, environ) == "opus fallback used ${{ inputs.x }}"


def test_env_substitution_of_an_unset_variable_without_default_says_how_to_fix_it() -> None:
    with pytest.raises(MissingEnvironmentVariable, match=r"write \$\{TOKEN:-default\}"):
        substitute_env("Bearer ${TOKEN}", {})
