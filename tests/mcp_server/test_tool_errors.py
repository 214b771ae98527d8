"""Every failure is a tool error that says what was wrong and what to do next."""

from mcp import Client
from mcp_harness import call, fail


async def test_an_unknown_run_id_points_to_list_runs(client: Client) -> None:
    for tool in ("get_status", "cancel_workflow", "resume_workflow", "approve"):
        message = await fail(client, tool, run_id="nope")
        assert message == "no run with id 'nope'; list_runs shows recent runs and their ids"


async def test_an_unknown_workflow_lists_the_known_ones(client: Client) -> None:
    message = await fail(client, "start_workflow", workflow="nope")
    assert message.startswith("no workflow 'nope'; known workflows: ")
    assert "gated" in message
    assert "hello" in message
    assert "list_workflows" in message
    assert (await fail(client, "validate_workflow", definition="nope")).startswith(
        "no workflow 'nope'"
    )


async def test_a_workflow_file_that_does_not_load_names_its_line(client: Client) -> None:
    message = await fail(client, "start_workflow", workflow="broken")
    assert message.startswith("the workflow definition is invalid:\n- ")
    assert "broken.yaml:4:" in message
    assert "no_such_action" in message
    assert message.endswith("validate_workflow(definition=...).")


async def test_an_invalid_inline_definition_lists_each_problem_with_its_line(
    client: Client,
) -> None:
    text = "id: two\nsteps:\n  - id: a\n    action: log\n  - id: a\n    action: nope\n"
    message = await fail(client, "start_workflow", definition=text)
    problems = [line for line in message.splitlines() if line.startswith("- <inline>:")]
    assert len(problems) >= 2, message


async def test_bad_inputs_say_which_and_why(client: Client) -> None:
    unknown = await fail(client, "start_workflow", workflow="hello", inputs={"nmae": "x"})
    assert "nmae" in unknown
    typed = await fail(client, "start_workflow", workflow="hello", inputs={"name": 3})
    assert "name" in typed
    both = await fail(client, "start_workflow", workflow="hello", definition="id: x")
    assert both.startswith("give exactly one of `workflow`")
    assert (await fail(client, "start_workflow")).startswith("give exactly one of `workflow`")
    assert "unknown status 'sleeping'" in await fail(client, "list_runs", status="sleeping")
    assert "limit must be between 1 and 1000" in await fail(client, "list_events", limit=0)


async def test_waits_are_bounded_with_a_clear_error(client: Client) -> None:
    run = await call(client, "start_workflow", workflow="hello")
    for tool, arguments in [
        ("get_status", {"run_id": run["run_id"]}),
        ("start_workflow", {"workflow": "hello"}),
    ]:
        message = await fail(client, tool, wait_seconds=301, **arguments)
        assert message.startswith("wait_seconds must be between 0 and 300 (got 301)")
    message = await fail(client, "wait_for_event", type="x", timeout_seconds=-1)
    assert message.startswith("timeout_seconds must be between 0 and 300 (got -1)")


async def test_a_missing_argument_is_a_validation_error(client: Client) -> None:
    message = await fail(client, "get_status")
    assert "run_id" in message
    assert "Field required" in message


async def test_approving_a_run_that_waits_for_nothing_says_what_it_is_doing(
    client: Client,
) -> None:
    run = await call(client, "start_workflow", workflow="hello", wait_seconds=10)
    message = await fail(client, "approve", run_id=run["run_id"])
    assert message == f"run {run['run_id']!r} (completed) is not waiting for any approval"


async def test_a_decided_gate_refuses_a_second_decision_naming_the_first(client: Client) -> None:
    run = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
    await call(client, "approve", run_id=run["run_id"], step="gate", approved=False)
    message = await fail(client, "approve", run_id=run["run_id"], step="gate")
    assert "step 'gate' was already rejected by claude_code via mcp" in message
    assert "no step 'nope'" in await fail(client, "approve", run_id=run["run_id"], step="nope")


async def test_resuming_a_run_that_has_not_failed_is_refused(client: Client) -> None:
    run = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
    message = await fail(client, "resume_workflow", run_id=run["run_id"])
    assert "only a failed or cancelled run can be resumed" in message


async def test_unknown_tasks_point_to_list_tasks(client: Client) -> None:
    for tool in ("claim_task", "complete_task"):
        message = await fail(client, tool, task_id="t-nope")
        assert message.startswith("no task with id 't-nope'; list_tasks shows your open tasks")
