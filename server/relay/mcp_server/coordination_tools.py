"""The coordination tools: the shared event log, approvals, tasks handed to participants,
participants themselves, and Slack. Each is one call into the service layer, acting as
the calling participant (RELAY_PARTICIPANT, else the client's name)."""

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from relay.mcp_server.context import WAIT_SCHEMA, Ctx, RunId, add_tool, check_wait, progress_of
from relay.mcp_server.errors import tool_errors
from relay.mcp_server.schemas import (
    ApprovalInfo,
    ApprovalList,
    Decision,
    Emitted,
    EventInfo,
    EventList,
    EventWaitResult,
    ParticipantInfo,
    ParticipantList,
    SlackResult,
    TaskDone,
    TaskInfo,
    TaskList,
)
from relay.mcp_server.state import McpState, caller
from relay.service.follow import FOLLOW_DECISION_SECONDS
from relay.service.views import event_view, participant_view, task_view

EventType = Annotated[
    str, Field(description="The event's type, e.g. process_complete, test_complete, manual")
]
Match = Annotated[
    dict[str, Any] | None,
    Field(
        description="Dotted paths into the event and the values they must equal, e.g. "
        '{"source": "claude_code", "data.process_name": "fix"}'
    ),
]
TaskId = Annotated[str, Field(description="The task's id, from list_tasks")]


@tool_errors
async def emit_event(
    ctx: Ctx,
    type: EventType,  # noqa: A002 - the tool's documented parameter
    data: Annotated[dict[str, Any] | None, Field(description="The event's payload")] = None,
    source: Annotated[
        str | None, Field(description="Who it comes from; default: you (this participant)")
    ] = None,
    correlation_id: Annotated[
        str | None, Field(description="Ties related events together, e.g. a run id")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Field(description="Emitting again with the same key returns the first event"),
    ] = None,
) -> Emitted:
    """Append an event to the shared log that every participant reads. Runs waiting for
    a matching event resume, and workflows triggered by it start; both are listed."""
    relay, who = await caller(ctx)
    result = await relay.events.emit(
        type,
        data,
        source=source,
        correlation_id=correlation_id,
        idempotency_key=idempotency_key,
        by=who,
        follow_seconds=FOLLOW_DECISION_SECONDS,
    )
    return Emitted.model_validate(result.view())


@tool_errors
async def wait_for_event(
    ctx: Ctx,
    type: EventType,  # noqa: A002 - the tool's documented parameter
    match: Match = None,
    after_seq: Annotated[
        int | None,
        Field(
            description="Look at events after this seq (a last_seq from list_events); "
            "default: only events appended after this call begins"
        ),
    ] = None,
    timeout_seconds: Annotated[
        float,
        Field(description="Give up after this many seconds (0-300)", json_schema_extra=WAIT_SCHEMA),
    ] = 60,
) -> EventWaitResult:
    """Wait for the first event of `type` that matches `match`. Returns it, or
    `timed_out: true` with no event when the time is up (call again to keep waiting)."""
    relay, _ = await caller(ctx)
    event = await relay.events.wait_for_event(
        type,
        match,
        after_seq=after_seq,
        timeout_seconds=check_wait(timeout_seconds, "wait_for_event", "timeout_seconds"),
        progress=progress_of(ctx),
    )
    info = None if event is None else EventInfo.model_validate(event_view(event))
    return EventWaitResult(event=info, timed_out=event is None)


@tool_errors
async def list_events(
    ctx: Ctx,
    type: Annotated[str | None, Field(description="Only events of this type")] = None,  # noqa: A002
    source: Annotated[str | None, Field(description="Only events from this source")] = None,
    correlation_id: Annotated[str | None, Field(description="Only this correlation id")] = None,
    after_seq: Annotated[
        int | None,
        Field(description="Only events after this seq; default: the newest ones"),
    ] = None,
    limit: Annotated[int, Field(description="At most this many (1-1000)")] = 50,
) -> EventList:
    """Read the shared event log in seq order. `last_seq` is the position to pass as
    after_seq next time (to wait_for_event too) so that nothing is missed."""
    relay, _ = await caller(ctx)
    events, last_seq = await relay.events.event_page(type, source, correlation_id, after_seq, limit)
    return EventList(
        events=[EventInfo.model_validate(event_view(e)) for e in events], last_seq=last_seq
    )


@tool_errors
async def approve(
    ctx: Ctx,
    run_id: RunId,
    step: Annotated[
        str | None,
        Field(description="The gate's step id; may be left out when only one gate waits"),
    ] = None,
    approved: Annotated[bool, Field(description="true approves, false rejects")] = True,
    approver: Annotated[
        str, Field(description="Who decides; default: you (this participant)")
    ] = "",
    comment: Annotated[str, Field(description="Recorded with the decision")] = "",
) -> Decision:
    """Approve (or, with approved=false, reject) a run waiting at an approval gate. The
    first decision wins; a rejected gate fails its step. Returns where the run stands once
    the engine has acted on the decision, with its next `next` hint if it waits again."""
    relay, who = await caller(ctx)
    decided = await relay.coordination.approve(
        run_id, step, by=who, approved=approved, approver=approver, comment=comment
    )
    return Decision.model_validate(decided)


@tool_errors
async def list_approvals(
    ctx: Ctx,
    status: Annotated[
        str,
        Field(description="pending (default), approved, rejected, expired, cancelled or all"),
    ] = "pending",
) -> ApprovalList:
    """Approval gates across all runs: by default those waiting for a decision."""
    relay, _ = await caller(ctx)
    approvals = await relay.coordination.list_approvals(status)
    return ApprovalList(approvals=[ApprovalInfo.model_validate(a) for a in approvals])


@tool_errors
async def list_tasks(
    ctx: Ctx,
    participant: Annotated[
        str | None,
        Field(description="Whose tasks; default: yours. '*' lists everyone's"),
    ] = None,
    status: Annotated[
        str,
        Field(description="open (default), claimed, completed, failed, cancelled, expired or all"),
    ] = "open",
) -> TaskList:
    """Tasks that workflows handed to participants (handoff steps): by default your own
    open ones. Take one with claim_task and finish it with complete_task."""
    relay, who = await caller(ctx)
    tasks = await relay.coordination.list_tasks(participant or who, status)
    return TaskList(tasks=[TaskInfo.model_validate(task_view(t)) for t in tasks])


@tool_errors
async def claim_task(ctx: Ctx, task_id: TaskId) -> TaskInfo:
    """Take an open task, so that other participants see it is being done."""
    relay, who = await caller(ctx)
    return TaskInfo.model_validate(task_view(await relay.coordination.claim_task(task_id, by=who)))


@tool_errors
async def complete_task(
    ctx: Ctx,
    task_id: TaskId,
    result: Annotated[
        dict[str, Any] | None,
        Field(description="The outcome; it becomes the handoff step's output"),
    ] = None,
    failed: Annotated[bool, Field(description="true when the task could not be done")] = False,
    error: Annotated[str, Field(description="Why it failed (with failed=true)")] = "",
) -> TaskDone:
    """Finish a task handed to you: its run resumes with `result` as the step's output
    (or, with failed=true, the step fails with `error`)."""
    relay, who = await caller(ctx)
    task, run = await relay.coordination.complete_task(
        task_id, result or {}, by=who, failed=failed, error=error
    )
    return TaskDone.model_validate(
        {"task_id": task.id, "run_id": task.run_id, "run_status": run["status"], "run": run}
    )


@tool_errors
async def list_participants(ctx: Ctx) -> ParticipantList:
    """Participants (chats, scripts, workers) seen recently, with when they were last
    active and how many open tasks they have: is anyone there to do the work?"""
    relay, _ = await caller(ctx)
    participants = await relay.presence.list_participants()
    return ParticipantList(
        participants=[ParticipantInfo.model_validate(participant_view(p)) for p in participants]
    )


@tool_errors
async def notify_slack(
    ctx: Ctx,
    message: Annotated[str, Field(description="The text to post")],
    title: Annotated[str | None, Field(description="A bold title above it")] = None,
    status: Annotated[
        str | None, Field(description="success, failure, warning or info: the colour")
    ] = None,
    run_id: Annotated[str | None, Field(description="Post in this run's Slack thread")] = None,
    fields: Annotated[
        dict[str, str] | None, Field(description="Short label/value pairs shown as a table")
    ] = None,
    channel: Annotated[str | None, Field(description="A channel other than the default")] = None,
) -> SlackResult:
    """Post a message to Slack through relay's durable outbox (threaded under a run when
    run_id is given)."""
    relay, who = await caller(ctx)
    queued = await relay.notifications.notify_slack(
        message,
        by=who,
        title=title,
        status=status,
        run_id=run_id,
        fields=fields,
        channel=channel,
    )
    return SlackResult.model_validate(queued)


def _hints(*, read_only: bool, idempotent: bool, open_world: bool = False) -> ToolAnnotations:
    return ToolAnnotations(
        read_only_hint=read_only,
        destructive_hint=False,
        idempotent_hint=idempotent,
        open_world_hint=open_world,
    )


def register(server: MCPServer[McpState]) -> None:
    read = _hints(read_only=True, idempotent=True)
    # A repeated emit appends another event unless it repeats its idempotency_key.
    add_tool(
        server,
        emit_event,
        title="Emit an event",
        annotations=_hints(read_only=False, idempotent=False),
    )
    add_tool(server, wait_for_event, title="Wait for an event", annotations=read)
    add_tool(server, list_events, title="List events", annotations=read)
    # The first decision wins; repeating it is refused and changes nothing.
    add_tool(
        server,
        approve,
        title="Approve or reject a gate",
        annotations=_hints(read_only=False, idempotent=True),
    )
    add_tool(server, list_approvals, title="List approvals", annotations=read)
    add_tool(server, list_tasks, title="List tasks", annotations=read)
    add_tool(
        server,
        claim_task,
        title="Claim a task",
        annotations=_hints(read_only=False, idempotent=True),
    )
    add_tool(
        server,
        complete_task,
        title="Complete a task",
        annotations=_hints(read_only=False, idempotent=True),
    )
    add_tool(server, list_participants, title="List participants", annotations=read)
    # Slack is outside relay: the one tool that reaches an open world.
    add_tool(
        server,
        notify_slack,
        title="Post to Slack",
        annotations=_hints(read_only=False, idempotent=False, open_world=True),
    )
