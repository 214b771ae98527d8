"""`completion/complete`: what a client offers while a person types a prompt's argument or
a resource template's variable. Workflow ids for `workflow` and `id`, run ids (newest
first) for `run_id`, participant names for `to`, and a run's step ids for `step_id`."""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.types import CompleteRequestParams, CompleteResult, Completion

from relay.errors import RelayError
from relay.mcp_server.handle import RelayHandle

if TYPE_CHECKING:
    from relay.service.services import Services

# The protocol's own cap on the values of one completion.
MAX_VALUES = 100
RECENT_RUNS = 200

Values = Callable[["Services", dict[str, str]], Awaitable[list[str]]]


async def workflow_ids(relay: "Services", known: dict[str, str]) -> list[str]:
    return sorted(w["id"] for w in relay.workflows.list_workflows()["workflows"])


async def run_ids(relay: "Services", known: dict[str, str]) -> list[str]:
    return [run.id for run in await relay.runs.list_runs(limit=RECENT_RUNS)]


async def participant_names(relay: "Services", known: dict[str, str]) -> list[str]:
    names = {p.name for p in await relay.presence.list_participants()}
    names |= {t.to for t in await relay.coordination.list_tasks("*", "all")}
    return sorted(names)


async def step_ids(relay: "Services", known: dict[str, str]) -> list[str]:
    run_id = known.get("run_id")
    if not run_id:
        return []
    return [step.id for step in (await relay.runs.get_run(run_id)).steps]


# Which values complete which argument (prompts) or variable (resource templates).
BY_NAME: dict[str, Values] = {
    "workflow": workflow_ids,
    "id": workflow_ids,
    "run_id": run_ids,
    "to": participant_names,
    "step_id": step_ids,
}


def completion(values: list[str], typed: str) -> Completion:
    """The values that start with what was typed, at most MAX_VALUES of them."""
    matching = [v for v in values if v.startswith(typed)]
    return Completion(
        values=matching[:MAX_VALUES], total=len(matching), has_more=len(matching) > MAX_VALUES
    )


def register(server: MCPServer[Any], handle: RelayHandle) -> None:
    """Serve `completion/complete` (which also declares the completions capability)."""

    async def complete(
        ctx: ServerRequestContext[Any, Any], params: CompleteRequestParams
    ) -> CompleteResult:
        return CompleteResult(completion=await complete_argument(handle, params))

    # MCPServer's own decorator is untyped; the low-level hook is what it registers.
    low = server._lowlevel_server
    low.add_request_handler("completion/complete", CompleteRequestParams, complete)


async def complete_argument(handle: RelayHandle, params: CompleteRequestParams) -> Completion:
    """The values for one argument of a prompt or variable of a resource template."""
    values = BY_NAME.get(params.argument.name)
    if values is None:
        return Completion(values=[])
    known: dict[str, str] = dict(params.context.arguments or {}) if params.context else {}
    try:
        found = await values(await handle.relay(), known)
    except RelayError:
        return Completion(values=[])  # e.g. an unknown run id typed so far: nothing to offer
    return completion(found, params.argument.value)
