"""`start_workflow`, and the approval it may ask for in the chat (elicitation).

The SDK's resolvers run before a tool's body, with its arguments; a gate only exists once
the run has started. So the starting and the asking are a chain of resolvers, and the
body records the answer:

    start_run (start, wait until the run settles) -> find_gate -> ask_gate (Elicit)

On a 2025-era connection the chain runs once: `ask_gate`'s `Elicit` goes to the client
mid-call (`elicitation/create`) and the body gets the answer. On 2026-07-28 the SDK
turns the `Elicit` into an `InputRequiredResult` and the client calls the tool again
with the answer; every resolver runs again, so the retry must find the run that the
first round started instead of starting another. The SDK's `request_state` carries
only its own record (a digest of the question), so `AskedGates` (in `McpState`) keeps,
in this process,
which run each caller's identical call asked about; the SDK accepts the answer only
if `ask_gate` renders the very same question again, so a stale or mixed-up entry can
re-ask but never approve the wrong run.
"""

import json
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server.mcpserver import AcceptedElicitation, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, Field

from relay.mcp_server.context import WAIT_SCHEMA, Ctx, check_wait, progress_of
from relay.mcp_server.errors import tool_errors
from relay.mcp_server.schemas import RunInfo, run_info
from relay.mcp_server.state import AskedGates, caller, state_of
from relay.model.run import Approval, Run
from relay.service.follow import Progress

CHANNEL = "elicitation"
ELICITATION_KEY = "relay:approval"  # the question's key in a 2026-07-28 InputRequiredResult


class GateDecision(BaseModel):
    """The form the user fills in (elicitation schemas allow primitive fields only)."""

    approved: bool = Field(description="Approve (true) or reject (false) this step")
    comment: str = Field(default="", description="Optional comment recorded with the decision")


@dataclass(frozen=True)
class Started:
    run_id: str
    call_key: str  # the caller and the call's arguments: what a 2026-era retry repeats


def can_elicit(ctx: Ctx) -> bool:
    """The client declared form elicitation (a bare `elicitation: {}` counts), and the
    question can reach it: a 2026-era client gets it in the tool's result, a 2025-era one
    as a request mid-call, which needs a back-channel (none over stateless HTTP)."""
    caps = ctx.client_capabilities
    elicitation = None if caps is None else caps.elicitation
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return False
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS or ctx.session.can_send_request


def question(gate: Approval) -> str:
    return (
        f"Run {gate.run_id} of workflow {gate.workflow!r} waits for your approval at step "
        f"{gate.step_id!r}:\n\n{gate.message}\n\nApprove it?"
    )


def _call_key(who: str, arguments: dict[str, Any]) -> str:
    return json.dumps([who, arguments], sort_keys=True, default=str)


@tool_errors
async def start_run(
    ctx: Ctx,
    workflow: str | None,
    definition: str | None,
    inputs: dict[str, Any] | None,
    idempotency_key: str | None,
    wait_seconds: float,
) -> Started:
    (relay, who), state = await caller(ctx), state_of(ctx)
    arguments = [workflow, definition, inputs, idempotency_key, wait_seconds]
    key = _call_key(who, {"args": arguments})
    if ctx.request_state is not None:  # a 2026-era retry carrying the user's answer
        return Started(_recall(state.asked, key), key)
    wait = check_wait(wait_seconds, "get_status(run_id, wait_seconds=...)")
    run, _ = await relay.runs.start_run(
        relay.workflows.workflow_for(workflow, definition),
        inputs,
        idempotency_key=idempotency_key,
        by=who,
    )
    await state.logs.follow(ctx, relay, run.id)
    if wait > 0:
        async with state.logs.during(ctx, relay, run.id, progress_of(ctx)) as progress:
            run = await relay.runs.wait_run(run.id, wait, progress)
    return Started(run.id, key)


@tool_errors
async def find_gate(
    ctx: Ctx, started: Annotated[Started, Resolve(start_run)], wait_seconds: float
) -> Approval | None:
    if wait_seconds <= 0 or not can_elicit(ctx):
        return None
    (relay, who), asked = await caller(ctx), state_of(ctx).asked
    gate = await relay.coordination.decidable_gate(started.run_id, CHANNEL, by=who)
    held = asked.recall(started.call_key)
    if gate is None or (held not in (None, started.run_id) and await _still_asked(ctx, held)):
        return None  # an identical call's question is still open: `next` says what to do
    asked.remember(started.call_key, started.run_id)
    return gate


async def ask_gate(
    gate: Annotated[Approval | None, Resolve(find_gate)],
) -> Elicit[GateDecision] | None:
    return None if gate is None else Elicit(question(gate), GateDecision)


# The SDK keys the question on the wire by the resolver's `module:qualname`: a short,
# stable name instead of this module's Python path.
ask_gate.__module__, ask_gate.__qualname__ = ELICITATION_KEY.split(":")

WorkflowArg = Annotated[
    str | None, Field(description="The id of a workflow to run (list_workflows shows them)")
]
DefinitionArg = Annotated[
    str | None,
    Field(
        description="Instead of `workflow`: a whole workflow as YAML text. It may not use "
        "shell or python steps unless the server allows inline code"
    ),
]
InputsArg = Annotated[
    dict[str, Any] | None, Field(description="Values for the workflow's declared inputs, by name")
]
IdempotencyArg = Annotated[
    str | None,
    Field(
        description="Any string; a second start with the same key returns the first run "
        "instead of starting another"
    ),
]
WaitArg = Annotated[
    float,
    Field(
        description="Wait up to this many seconds (0-300) for the run to finish or to stop "
        "at something it waits for (an approval, an event, a task); 0 returns at once",
        json_schema_extra=WAIT_SCHEMA,
    ),
]


@tool_errors
async def start_workflow(
    ctx: Ctx,
    started: Annotated[Started, Resolve(start_run)],
    gate: Annotated[Approval | None, Resolve(find_gate)],
    answer: Annotated[ElicitationResult[Any], Resolve(ask_gate)],
    workflow: WorkflowArg = None,
    definition: DefinitionArg = None,
    inputs: InputsArg = None,
    idempotency_key: IdempotencyArg = None,
    wait_seconds: WaitArg = 0,
) -> RunInfo:
    """Start a workflow run: a workflow id from list_workflows, or an inline YAML
    definition. Returns the run; with wait_seconds it returns once the run finishes,
    stops to wait for something (`waiting_for`, and `next` names the call that
    unblocks it), or time is up. When the run stops at an approval gate and your
    client supports it, the user is asked to approve or reject right here."""
    (relay, who), state = await caller(ctx), state_of(ctx)
    state.asked.forget(started.call_key, started.run_id)
    decision = answer.data if isinstance(answer, AcceptedElicitation) else None
    if gate is None or not isinstance(decision, GateDecision):
        return run_info(await relay.runs.get_run(started.run_id))
    await relay.coordination.approve(
        gate.run_id,
        gate.step_id,
        approved=decision.approved,
        comment=decision.comment,
        channel=CHANNEL,
        by=who,
    )
    async with state.logs.during(ctx, relay, gate.run_id, progress_of(ctx)) as progress:
        return run_info(await _wait_past(ctx, gate, wait_seconds, progress))


async def _still_asked(ctx: Ctx, run_id: str | None) -> bool:
    if run_id is None:
        return False
    relay, who = await caller(ctx)
    return await relay.coordination.decidable_gate(run_id, CHANNEL, by=who) is not None


def _recall(gates: AskedGates, key: str) -> str:
    run_id = gates.recall(key)
    if run_id is None:
        raise ToolError(
            "the approval asked in this chat has expired or was asked by another server "
            "process; its run keeps waiting: list_approvals shows it and "
            "approve(run_id=..., step=...) decides it"
        )
    return run_id


async def _wait_past(ctx: Ctx, gate: Approval, wait_seconds: float, progress: Progress) -> Run:
    """The run once it settles somewhere other than the gate just decided."""
    relay, _ = await caller(ctx)
    return await relay.runs.wait_run(gate.run_id, wait_seconds, progress, leaving=gate.step_id)
