"""Loading YAML into a Workflow: the seed's files, YAML quirks, located problems."""

from pathlib import Path

import pytest

from relay.errors import InvalidWorkflow, Problem
from relay.model.loading import ActionCatalog, load_workflow, load_workflow_file
from relay.model.workflow import EventTrigger, ScheduleTrigger, Workflow

SEED_MISSING_ACTIONS = {
    "automated_testing_pipeline.yaml": {
        "run_tests",
        "generate_report",
        "request_approval",
        "deploy",
        "health_check",
        "notify",
    },
    "cross_chat_coordination.yaml": {
        "notify",
        "process_results",
        "trigger_external",
        "mcp_gather_context",
        "claude_synthesis",
    },
    "nba_data_synthesis.yaml": {
        "mcp_query_database",
        "mcp_fetch_s3_data",
        "deepseek_synthesis",
        "claude_synthesis",
        "generate_report",
        "notify",
    },
}


def problems_of(text: str, **options: object) -> list[Problem]:
    with pytest.raises(InvalidWorkflow) as info:
        load_workflow(text, **options)  # type: ignore[arg-type]
    return list(info.value.problems)


@pytest.mark.parametrize("file_name", sorted(SEED_MISSING_ACTIONS))
def test_seed_files_fail_only_once_per_action_relay_lacks(
    seed_workflows: Path, catalog: ActionCatalog, file_name: str
) -> None:
    with pytest.raises(InvalidWorkflow) as info:
        load_workflow_file(seed_workflows / file_name, catalog=catalog, environ={})
    missing = SEED_MISSING_ACTIONS[file_name]
    assert len(info.value.problems) == len(missing)
    named = {p.message.split("unknown action ")[1].split("'")[1] for p in info.value.problems}
    assert named == missing


def test_an_unknown_action_names_the_step_the_line_and_how_to_provide_it(
    seed_workflows: Path, catalog: ActionCatalog
) -> None:
    path = seed_workflows / "automated_testing_pipeline.yaml"
    with pytest.raises(InvalidWorkflow) as info:
        load_workflow_file(path, catalog=catalog)
    first = info.value.problems[0]
    assert (first.line, first.step, first.field) == (14, "run_unit_tests", "action")
    assert str(first).startswith(f"{path}:14:5: step 'run_unit_tests': unknown action 'run_tests'")
    assert "also used by step 'run_integration_tests' (line 26)" in first.message
    assert first.message.endswith("in a module RELAY_PLUGINS names.")


def test_seed_files_load_without_a_catalog(seed_workflows: Path) -> None:
    workflow = load_workflow_file(seed_workflows / "automated_testing_pipeline.yaml")
    assert workflow.id == "automated-testing-pipeline"
    assert workflow.steps[0].id == "run_unit_tests"
    assert workflow.steps[0].retry is not None
    assert workflow.steps[0].retry.max_attempts == 2
    assert workflow.steps[4].retry is None
    assert workflow.source_path == str(seed_workflows / "automated_testing_pipeline.yaml")
    assert workflow.location(("steps", 3, "requires_approval")) == (51, 5)


def test_seed_env_defaults_are_filled_only_when_an_environment_is_given(
    seed_workflows: Path,
) -> None:
    path = seed_workflows / "nba_data_synthesis.yaml"
    filled = load_workflow_file(path, environ={"CLAUDE_MODEL": "claude-opus"})
    defaulted = load_workflow_file(path, environ={})
    untouched = load_workflow_file(path)
    assert filled.step("run_claude_synthesis").params["model"] == "claude-opus"
    assert defaulted.step("run_claude_synthesis").params["model"] == "claude-3-7-sonnet-20250219"
    assert untouched.step("run_claude_synthesis").params["model"].startswith("${CLAUDE_MODEL:-")


def test_the_id_of_a_file_defaults_to_its_name(tmp_path: Path) -> None:
    path = tmp_path / "nightly-build.yaml"
    path.write_text("steps:\n  - id: a\n    action: log\n", encoding="utf-8")
    assert load_workflow_file(path).id == "nightly-build"


def test_an_inline_definition_needs_an_id() -> None:
    [problem] = problems_of("steps:\n  - id: a\n    action: log\n")
    assert (problem.line, problem.message) == (1, "missing required key 'id'")


def test_on_yes_and_dates_stay_strings() -> None:
    workflow = load_workflow(
        "id: quirks\n"
        "on:\n"
        "  - event: yes\n"
        "    match: {data.day: 2024-01-02, data.flag: off}\n"
        "  - schedule: '0 9 * * 1-5'\n"
        "steps:\n"
        "  - id: a\n"
        "    action: log\n"
        "    params: {message: no, ok: true}\n"
    )
    event, schedule = workflow.on
    assert isinstance(event, EventTrigger)
    assert isinstance(schedule, ScheduleTrigger)
    assert (event.event, event.match) == ("yes", {"data.day": "2024-01-02", "data.flag": "off"})
    assert workflow.steps[0].params == {"message": "no", "ok": True}


def test_yaml_merge_keys_are_supported() -> None:
    workflow = load_workflow(
        "id: merged\n"
        "steps:\n"
        "  - &base {id: a, action: log, timeout_seconds: 5}\n"
        "  - <<: *base\n"
        "    id: b\n"
    )
    assert [(s.id, s.timeout_seconds) for s in workflow.steps] == [("a", 5), ("b", 5)]


def test_a_yaml_syntax_error_stands_alone() -> None:
    [problem] = problems_of("id: x\nsteps: [\n  - unknown_key: 1\n")
    assert problem.message.startswith("YAML syntax error")
    assert problem.line is not None


def test_problems_are_collected_in_one_pass_and_sorted_by_line(catalog: ActionCatalog) -> None:
    problems = problems_of(
        "id: many\n"
        "steps:\n"
        "  - id: a\n"
        "    action: teleport\n"
        "  - id: b\n"
        "    action: log\n"
        "    needs: [zz]\n"
        "    params: {message: '${{ secrets.x }}'}\n"
        "  - id: a\n"
        "    action: delay\n"
        "    params: {seconds: soon}\n",
        catalog=catalog,
    )
    assert [p.line for p in problems] == [4, 7, 8, 9, 11]
    assert [p.step for p in problems] == ["a", "b", "b", "a", "a"]


def test_a_problem_names_its_step_and_field() -> None:
    [problem] = problems_of(
        "id: x\nsteps:\n  - name: Deploy it\n    action: log\n    retry: {max_attempts: 0}\n"
    )
    assert problem.step == "deploy_it"
    assert problem.field == "retry.max_attempts"
    assert problem.message == "step 'deploy_it': retry.max_attempts: must be at least 1, got 0"
    assert (problem.line, problem.column) == (5, 13)


def test_an_unknown_key_suggests_the_key_that_was_meant() -> None:
    [problem] = problems_of("id: x\nsteps:\n  - id: a\n    action: log\n    retries: 3\n")
    assert problem.message == "step 'a': unknown key 'retries' (did you mean 'retry'?)"
    assert (problem.line, problem.field) == (5, "retries")


def test_a_missing_key_points_at_the_mapping_that_lacks_it() -> None:
    [problem] = problems_of("id: x\nsteps:\n  - id: a\n    params: {}\n")
    assert (problem.line, problem.message) == (3, "step 'a': missing required key 'action'")


def test_params_holding_expressions_are_left_for_run_time(catalog: ActionCatalog) -> None:
    workflow = load_workflow(
        "id: x\n"
        "inputs: {n: {type: number, default: 1}}\n"
        "steps:\n"
        "  - id: wait\n"
        "    action: delay\n"
        "    params: {seconds: '${{ inputs.n }}'}\n"
        "  - id: call\n"
        "    action: http\n"
        "    params: {url: http://x, headers: '${{ steps.wait.output }}'}\n",
        catalog=catalog,
    )
    assert workflow.step("wait").params == {"seconds": "${{ inputs.n }}"}


def test_a_missing_param_is_reported_even_beside_expressions(catalog: ActionCatalog) -> None:
    [problem] = problems_of(
        "id: x\nsteps:\n  - id: call\n    action: http\n    params: {method: '${{ inputs.m }}'}\n",
        catalog=catalog,
    )
    assert problem.message == "step 'call': params: missing required param 'url' for action 'http'"


def test_an_alias_makes_an_action_from_a_built_in(catalog: ActionCatalog) -> None:
    workflow = load_workflow(
        "id: x\n"
        "actions:\n"
        "  run_tests:\n"
        "    uses: shell\n"
        "    params: {command: 'pytest ${{ params.suite }}', timeout_seconds: '${{ params.t }}'}\n"
        "steps:\n"
        "  - id: unit\n"
        "    action: run_tests\n"
        "    params: {suite: tests/, anything: [1, 2]}\n",
        catalog=catalog,
    )
    assert workflow.actions["run_tests"].uses == "shell"


def test_an_alias_params_are_checked_against_its_built_in(catalog: ActionCatalog) -> None:
    problems = problems_of(
        "id: x\n"
        "actions:\n"
        "  run_tests: {uses: shell, params: {cmd: pytest}}\n"
        "steps:\n"
        "  - {id: unit, action: run_tests}\n",
        catalog=catalog,
    )
    assert [(p.line, p.message) for p in problems] == [
        (3, "action 'run_tests': params: missing required param 'command' for action 'shell'"),
        (
            3,
            "action 'run_tests': params: unknown param 'cmd' for action 'shell'"
            " (did you mean 'cwd'?)",
        ),
    ]


def test_without_a_catalog_actions_are_not_checked() -> None:
    workflow = load_workflow("id: x\nsteps:\n  - {id: a, action: teleport, params: {to: mars}}\n")
    assert workflow.steps[0].action == "teleport"


def test_approval_settings_without_a_gate_are_reported() -> None:
    [problem] = problems_of(
        "id: x\nsteps:\n  - id: a\n    action: log\n    approval: {approvers: [ana]}\n"
    )
    assert "requires_approval: true" in problem.message


def test_a_file_that_is_not_utf8_is_a_problem_on_that_path(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"id: x\nname: caf\xe9\n")
    with pytest.raises(InvalidWorkflow) as info:
        load_workflow_file(path)
    [problem] = info.value.problems
    assert (problem.path, problem.line) == (str(path), 2)
    assert "not UTF-8" in problem.message


def test_a_missing_file_is_a_problem_on_that_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(InvalidWorkflow) as info:
        load_workflow_file(path)
    assert info.value.problems[0].path == str(path)
    assert "cannot read the file" in info.value.problems[0].message


def test_an_alias_bomb_is_refused() -> None:
    lines = ["id: x", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    [problem] = problems_of("\n".join(lines) + "\n")
    assert "more than" in problem.message


def test_duplicate_ids_are_not_also_reported_as_a_cycle() -> None:
    problems = problems_of("id: x\nsteps:\n  - {id: a, action: log}\n  - {id: a, action: log}\n")
    assert [p.message.split(";")[0] for p in problems] == ["step 'a': duplicate step id 'a'"]


def test_a_loaded_workflow_equals_its_snapshot_reloaded(seed_workflows: Path) -> None:
    path = seed_workflows / "cross_chat_coordination.yaml"
    workflow = load_workflow_file(path, environ={})
    again = Workflow.from_snapshot(workflow.snapshot())
    assert again == workflow
    assert again.location(("steps", 0)) is None
    assert again.definition_hash() == load_workflow_file(path, environ={}).definition_hash()


def test_expressions_in_outputs_and_triggers_are_checked() -> None:
    problems = problems_of(
        "id: x\n"
        "on:\n"
        "  - event: e\n"
        "    if: event.data.__class__\n"
        "steps:\n"
        "  - {id: a, action: log}\n"
        "outputs:\n"
        "  done: '${{ steps.b.status }}'\n"
    )
    assert [(p.line, p.field) for p in problems] == [(4, "if"), (8, "outputs.done")]
    assert "refers to unknown step 'b'" in problems[1].message
