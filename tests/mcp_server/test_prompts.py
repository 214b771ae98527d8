"""The prompts render, with what a model needs to act."""

import pytest
import yaml
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_harness import call


async def prompt_text(client: Client, name: str, **arguments: str) -> str:
    [message] = (await client.get_prompt(name, arguments)).messages
    assert message.role == "user"
    return message.content.text  # type: ignore[union-attr]


async def test_prompts_are_listed_with_their_arguments(client: Client) -> None:
    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == {"handoff", "review_run", "run_workflow", "coordinate"}
    handoff = prompts["handoff"]
    assert [(a.name, a.required) for a in handoff.arguments or []] == [
        ("to", True), ("task", True)
    ]  # fmt: skip
    assert all(p.description for p in prompts.values())


async def test_run_workflow_says_how_to_see_a_run_through(client: Client) -> None:
    text = await prompt_text(client, "run_workflow", workflow="gated")
    assert 'start_workflow(workflow="gated"' in text
    assert "relay://workflows/gated" in text
    for call_name in ("approve(", "complete_task", "get_status(", "resume_workflow("):
        assert call_name in text


async def test_handoff_gives_a_runnable_inline_workflow(client: Client) -> None:
    text = await prompt_text(client, "handoff", to="pycharm", task="Review: a.py's retries")
    assert "list_participants" in text
    assert "complete_task" in text
    assert "get_status" in text
    definition = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert yaml.safe_load(definition)["steps"][0]["params"]["task"] == "Review: a.py's retries"
    run = await call(client, "start_workflow", definition=definition, wait_seconds=10)
    assert run["waiting_for"]["kind"] == "task"
    assert run["waiting_for"]["detail"]["to"] == "pycharm"


async def test_review_run_shows_the_run_and_its_history(client: Client) -> None:
    run = await call(client, "start_workflow", workflow="fails", wait_seconds=10)
    assert run["status"] == "failed"
    text = await prompt_text(client, "review_run", run_id=run["run_id"])
    assert f"Review relay run {run['run_id']} of workflow 'fails' (status: failed)" in text
    assert "the disk is full" in text  # the step's error
    assert "run.created" in text
    assert "[check]" in text
    assert f'resume_workflow(run_id=\n  "{run["run_id"]}")' in text or "resume_workflow" in text


async def test_review_run_of_an_unknown_run_says_so(client: Client) -> None:
    with pytest.raises(MCPError) as raised:
        await client.get_prompt("review_run", {"run_id": "nope"})
    assert raised.value.error.message == (
        "no run with id 'nope'; list_runs shows recent runs and their ids"
    )


async def test_coordinate_names_the_event_tools(client: Client) -> None:
    text = await prompt_text(client, "coordinate")
    for tool in ("emit_event", "wait_for_event", "list_events", "list_tasks", "approve"):
        assert tool in text
