"""Prompts that help a model use relay well: hand work to another participant, review a
run's failure from its history, coordinate through events."""

import json
import re
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from relay.mcp_server.context import Ctx
from relay.mcp_server.errors import as_prompt_errors
from relay.mcp_server.prose import prose
from relay.mcp_server.state import McpState, caller
from relay.model.run import HistoryEntry
from relay.service.views import run_view

# A handed-off task waits this long for its participant before the step fails.
HANDOFF_TIMEOUT_SECONDS = 86_400


def handoff_definition(to: str, task: str) -> str:
    """An inline workflow with one `handoff` step (no code: allowed inline)."""
    import yaml  # loaded on use: `relay serve` answers its first requests without it

    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", to).strip("-.") or "participant"
    workflow = {
        "id": f"handoff-to-{slug}",
        "name": f"Hand a task to {to}",
        "steps": [
            {
                "id": "handoff",
                "action": "handoff",
                "params": {"to": to, "task": task, "timeout_seconds": HANDOFF_TIMEOUT_SECONDS},
            }
        ],
        "outputs": {"result": "${{ steps.handoff.output }}"},
    }
    return yaml.safe_dump(workflow, sort_keys=False, allow_unicode=True)


def handoff(
    to: Annotated[str, Field(description="The participant to hand the task to, e.g. pycharm")],
    task: Annotated[str, Field(description="What they should do, in one or two sentences")],
) -> str:
    """Hand a task to another participant (another chat, a script) and wait for its result."""
    definition = handoff_definition(to, task)
    return f"""Hand this task to the participant {to!r} through relay and wait for the result.

Task: {task}

1. Call list_participants and check that {to!r} was seen recently. If it was not, tell
   the user: the task will wait until {to!r} connects (its chat's RELAY_PARTICIPANT).
2. Start a run that hands the task over:
   start_workflow(definition=<the YAML below>, wait_seconds=10)
   The run stops at the handoff: `waiting_for.kind` is "task" and `next` names the
   complete_task call that unblocks it.

```yaml
{definition}```

3. Tell the user to ask {to!r}'s chat to run list_tasks, then claim_task(task_id=...) and,
   when done, complete_task(task_id=..., result={{...}}) (or failed=true with an error).
4. Follow the run with get_status(run_id=..., wait_seconds=120), again while it is still
   waiting. When it is completed, the task's result is the `handoff` step's output (and
   the run's `outputs.result`); report it. If it failed, say why (the step's `error`).

If you are the one who received a task instead: list_tasks shows your open tasks;
claim_task takes one, complete_task finishes it and hands the result back."""


def _history_line(entry: HistoryEntry) -> str:
    step = f" [{entry.step_id}]" if entry.step_id else ""
    data = f" {json.dumps(entry.data, default=str)}" if entry.data else ""
    return f"{entry.at.isoformat(timespec='seconds')} {entry.kind}{step}{data}"


async def review_run(
    ctx: Ctx,
    run_id: Annotated[str, Field(description="The id of the run to review")],
) -> str:
    """Explain a run's failure (or where it stands) from its state and its history."""
    relay, _ = await caller(ctx)
    with as_prompt_errors():
        run = await relay.runs.get_run(run_id)
        history = await relay.runs.history(run_id)
    view = json.dumps(run_view(run), indent=2, default=str)
    lines = "\n".join(_history_line(e) for e in history) or "(no history)"
    return f"""Review relay run {run_id} of workflow {run.workflow!r} (status: {run.status.value}).

Explain to the user, briefly:
- what happened, step by step, from the history below;
- if it failed: which step failed, after how many attempts, and the likely cause from the
  step's `error` and output; whether retrying could help (resume_workflow(run_id=
  "{run_id}") retries from the failed steps, keeping completed outputs) or what must
  change first (an input, the workflow file, something outside relay);
- if it is waiting: what for, and the call that would unblock it (the run's `next`);
- if it completed: its outputs.
Large step outputs are cut; read relay://runs/{run_id}/steps/<step id>/output for one.

The run:
```json
{view}
```

Its history (oldest first):
```
{lines}
```"""


def run_workflow(
    workflow: Annotated[str, Field(description="The id of the workflow to run")],
) -> str:
    """Run a workflow and see it through: inputs, approvals, handoffs, its outcome."""
    return f"""Run the relay workflow {workflow!r} and see it through.

1. Read relay://workflows/{workflow} (or list_workflows) for its inputs and steps. Ask the
   user for any input without a default, unless the conversation already gives it.
2. start_workflow(workflow="{workflow}", inputs={{...}}, wait_seconds=60).
3. While the run is not finished, act on its `waiting_for` and `next`:
   - approval: ask the user (or they approve in this chat when asked); then approve(...)
     with their decision and comment;
   - task: the work is handed to a participant; if it is you, claim_task and complete_task;
   - event: it waits for someone else; tell the user what it waits for;
   - otherwise: get_status(run_id=..., wait_seconds=60) to follow it.
4. Report the outcome: its `outputs` when it completed; the failed step and its `error`
   when it failed, and whether resume_workflow(run_id=...) could help."""


def coordinate() -> str:
    """How to coordinate with other chats and scripts through relay's shared event log."""
    return """Coordinate with the other participants (chats, scripts, CI) through relay.

- Say that something happened: emit_event(type=..., data={...}). Your participant name is
  the event's `source`. Workflows waiting for it resume; workflows triggered by it start.
- Wait for someone else: wait_for_event(type=..., match={"source": ..., "data.x": ...},
  timeout_seconds=60). To not miss an event that lands between two calls, pass
  after_seq=<last_seq from list_events> instead of waiting from "now".
- See what happened: list_events(type=..., source=..., after_seq=...).
- See who is around: list_participants; work handed to you: list_tasks.
- Gates waiting for a person: list_approvals, then approve(run_id=..., step=...).
Prefer a workflow (start_workflow) when the coordination has several steps: it is
durable, survives restarts, and every participant can follow it with get_status."""


def register(server: MCPServer[McpState]) -> None:
    for fn, title in (
        (handoff, "Hand a task to another participant"),
        (review_run, "Review a run"),
        (run_workflow, "Run a workflow and see it through"),
        (coordinate, "Coordinate through events"),
    ):
        server.prompt(title=title, description=prose(fn.__doc__))(fn)
