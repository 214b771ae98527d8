"""The workflow and run tools; `register` adds every relay tool to the server.

Each tool is one call into the service layer (`relay.service`, on behalf of
the calling participant) and returns one of `schemas`' models. The docstrings and the
parameter descriptions are what the model reads: they say when to use the tool.
"""

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from relay.mcp_server import chat_approval, coordination_tools
from relay.mcp_server.context import WAIT_SCHEMA, Ctx, RunId, add_tool, check_wait, progress_of
from relay.mcp_server.errors import tool_errors
from relay.mcp_server.schemas import (
    RunInfo,
    RunList,
    RunSummary,
    Validation,
    WorkflowList,
    run_info,
)
from relay.mcp_server.state import McpState, caller, state_of
from relay.service.views import run_summary


@tool_errors
async def list_workflows(ctx: Ctx) -> WorkflowList:
    """List the workflows this server can start: id, name, description, inputs (with
    types and defaults), steps and triggers. Files that fail to load are listed under
    `errors` with the line and the reason; the others still load."""
    relay, _ = await caller(ctx)
    return WorkflowList.model_validate(relay.workflows.list_workflows())


@tool_errors
async def validate_workflow(
    ctx: Ctx,
    definition: Annotated[
        str,
        Field(
            description="A whole workflow as YAML text, or the id of a workflow file to re-check"
        ),
    ],
) -> Validation:
    """Check a workflow definition without running it. Returns `valid`, and every
    problem with its line; an inline definition may not use shell or python steps unless
    the server allows inline code."""
    relay, _ = await caller(ctx)
    return Validation.model_validate(relay.workflows.validate(definition))


@tool_errors
async def list_runs(
    ctx: Ctx,
    status: Annotated[
        str | None,
        Field(
            description="Only runs in this status: pending, running, waiting, completed, "
            "failed or cancelled"
        ),
    ] = None,
    workflow: Annotated[str | None, Field(description="Only runs of this workflow id")] = None,
    limit: Annotated[int, Field(description="At most this many (1-1000), newest first")] = 20,
) -> RunList:
    """Recent runs, newest first, as summaries (get_status shows one in full)."""
    relay, _ = await caller(ctx)
    runs = await relay.runs.list_runs(status, workflow, limit)
    return RunList(runs=[RunSummary.model_validate(run_summary(r)) for r in runs])


@tool_errors
async def cancel_workflow(
    ctx: Ctx,
    run_id: RunId,
    reason: Annotated[str, Field(description="Why; recorded in the run's history")] = "",
) -> RunInfo:
    """Cancel a run: running steps are stopped, waiting ones abandoned. A cancelled run
    can be resumed later with resume_workflow."""
    relay, who = await caller(ctx)
    return run_info(await relay.runs.cancel(run_id, reason, by=who))


@tool_errors
async def get_status(
    ctx: Ctx,
    run_id: RunId,
    wait_seconds: Annotated[
        float,
        Field(
            description="Wait up to this many seconds (0-300) for the run to finish or to "
            "stop at something a participant must supply (an approval, an event, a task); "
            "0 answers at once",
            json_schema_extra=WAIT_SCHEMA,
        ),
    ] = 0,
) -> RunInfo:
    """A run's status: its steps (status, attempts, short outputs), `waiting_for` and a
    one-line `next` naming the call that would unblock it. With wait_seconds, returns
    once the run finishes or waits for someone (a run that already does returns at
    once), with progress notifications for the steps in between: the way to follow a
    run without push notifications."""
    (relay, _), logs = await caller(ctx), state_of(ctx).logs
    wait = check_wait(wait_seconds, "get_status")
    await logs.follow(ctx, relay, run_id)
    if wait == 0:
        return run_info(await relay.runs.get_run(run_id))
    async with logs.during(ctx, relay, run_id, progress_of(ctx)) as progress:
        return run_info(await relay.runs.wait_run(run_id, wait, progress))


@tool_errors
async def resume_workflow(ctx: Ctx, run_id: RunId) -> RunInfo:
    """Retry a failed or cancelled run from its failed (or unfinished) steps, keeping the
    outputs of the steps that completed."""
    relay, who = await caller(ctx)
    resumed = await relay.runs.resume(run_id, by=who)
    await state_of(ctx).logs.follow(ctx, relay, run_id)
    return run_info(resumed)


READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)


def register(server: MCPServer[McpState]) -> None:
    """Add every relay tool to `server`."""
    add_tool(server, list_workflows, title="List workflows", annotations=READ_ONLY)
    add_tool(server, validate_workflow, title="Validate a workflow", annotations=READ_ONLY)
    add_tool(
        server,
        chat_approval.start_workflow,
        name="start_workflow",
        title="Start a workflow",
        # Each call starts a new run, unless it repeats an idempotency_key.
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    add_tool(
        server, get_status, name="get_status", title="Get a run's status", annotations=READ_ONLY
    )
    add_tool(server, list_runs, title="List runs", annotations=READ_ONLY)
    add_tool(
        server,
        cancel_workflow,
        title="Cancel a run",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
        ),
    )
    add_tool(
        server,
        resume_workflow,
        name="resume_workflow",
        title="Resume a failed or cancelled run",
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    coordination_tools.register(server)
