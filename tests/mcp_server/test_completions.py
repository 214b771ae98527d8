"""`completion/complete`: what a client offers while a person types an argument, in both
protocol eras."""

from mcp import Client
from mcp.types import PromptReference, ResourceTemplateReference
from mcp_harness import call


async def values(client: Client, ref: object, name: str, typed: str, **known: str) -> list[str]:
    result = await client.complete(ref, {"name": name, "value": typed}, known or None)  # type: ignore[arg-type]
    return list(result.completion.values)


async def test_a_prompts_run_id_completes_with_run_ids_newest_first(client: Client) -> None:
    first = await call(client, "start_workflow", workflow="hello", wait_seconds=10)
    second = await call(client, "start_workflow", workflow="hello", wait_seconds=10)
    ref = PromptReference(type="ref/prompt", name="review_run")
    found = await values(client, ref, "run_id", "")
    assert found[:2] == [second["run_id"], first["run_id"]]
    assert await values(client, ref, "run_id", first["run_id"][:8]) == [first["run_id"]]


async def test_a_prompts_workflow_and_participant_complete(client: Client) -> None:
    workflow = PromptReference(type="ref/prompt", name="run_workflow")
    assert await values(client, workflow, "workflow", "ga") == ["gated"]
    await call(client, "start_workflow", workflow="handoff", wait_seconds=10)  # a task to pycharm
    handoff = PromptReference(type="ref/prompt", name="handoff")
    assert "pycharm" in await values(client, handoff, "to", "py")


async def test_both_resource_templates_complete(client: Client) -> None:
    workflows = ResourceTemplateReference(type="ref/resource", uri="relay://workflows/{id}")
    assert await values(client, workflows, "id", "he") == ["hello"]
    run = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
    runs = ResourceTemplateReference(type="ref/resource", uri="relay://runs/{run_id}")
    assert run["run_id"] in await values(client, runs, "run_id", "")
    outputs = ResourceTemplateReference(
        type="ref/resource", uri="relay://runs/{run_id}/steps/{step_id}/output"
    )
    steps = await values(client, outputs, "step_id", "", run_id=run["run_id"])
    assert steps == ["build", "gate", "ship"]


async def test_an_argument_relay_does_not_know_completes_with_nothing(client: Client) -> None:
    ref = PromptReference(type="ref/prompt", name="handoff")
    assert await values(client, ref, "task", "") == []
