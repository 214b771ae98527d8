"""Helpers for the engine tests: inline definitions, starting runs, and bounded waits."""

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from relay.model.loading import load_workflow
from relay.model.run import Run
from relay.model.workflow import Workflow
from relay.service.services import Services

# A run in these tests finishes in well under a second; this bounds every wait so that a
# hung engine fails the test instead of the whole suite.
RUN_TIMEOUT_SECONDS = 15.0


def define(relay: Services, text: str) -> Workflow:
    """An inline workflow definition, loaded with the actions this process has."""
    return load_workflow(text, catalog=relay.runtime.actions)


async def start(relay: Services, text: str, inputs: dict[str, Any] | None = None, **kw: Any) -> Run:
    run, _ = await relay.runs.start_run(define(relay, text), inputs or {}, **kw)
    return run


async def finished(
    relay: Services, run_id: str, within_seconds: float = RUN_TIMEOUT_SECONDS
) -> Run:
    """The run once it is completed, failed or cancelled; fails the test if that takes
    longer than `within_seconds`."""
    with anyio.fail_after(within_seconds):
        while True:
            run = await relay.runs.wait_run(run_id, 1.0)
            if run.status.is_final:
                return run


async def eventually(
    check: Callable[[], Awaitable[Any]], within_seconds: float = RUN_TIMEOUT_SECONDS
) -> Any:
    """Poll `check` (every 10 ms) until it returns something truthy; fails the test if
    that takes longer than `within_seconds`."""
    with anyio.fail_after(within_seconds):
        # Polling on purpose: what is checked (a file, another process's commit) has no
        # event to wait on.
        while not (result := await check()):  # noqa: ASYNC110
            await anyio.sleep(0.01)
        return result


async def waiting_step(relay: Services, run_id: str, step_id: str) -> Run:
    """The run once step `step_id` waits (for an approval, event, task, timer or run)."""

    async def check() -> Run | None:
        run = await relay.store.runs.get_run(run_id)
        return run if run.step(step_id).status.value == "waiting" else None

    result: Run = await eventually(check)
    return result


def step_statuses(run: Run) -> dict[str, str]:
    return {s.id: s.status.value for s in run.steps}
