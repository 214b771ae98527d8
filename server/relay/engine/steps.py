"""One step's action: resolving aliases, rendering params, and running one attempt."""

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from pydantic import BaseModel, ValidationError

from relay.engine.actions import ActionContext, ActionSpec, LogLine
from relay.engine.runtime import json_safe
from relay.errors import ExpressionError, ParamsError, StepFailed
from relay.model.expressions import render
from relay.model.notification import NewNotification
from relay.model.workflow import Step, Workflow


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended."""

    step_id: str
    ok: bool
    output: Any = None
    error: str | None = None
    cancelled: bool = False
    notices: tuple[NewNotification, ...] = ()  # committed with the step's completion
    lines: tuple[LogLine, ...] = ()  # the action's log lines, recorded with the attempt's end


def resolve_action(workflow: Workflow, step: Step, registry: Any) -> tuple[ActionSpec, bool]:
    """The action spec a step runs, and whether it came through an `actions:` alias."""
    alias = workflow.actions.get(step.action)
    spec = registry.get(alias.uses if alias else step.action)
    if spec is None:
        raise ParamsError(
            f"step {step.id!r}: no action {step.action!r} is registered in this process"
        )
    return spec, alias is not None


def render_params(
    workflow: Workflow, step: Step, spec: ActionSpec, context: dict[str, Any]
) -> BaseModel:
    """Render `${{ }}` in the step's params (through its alias) and validate them."""
    try:
        params = render(step.params, context, step=step.id)
        alias = workflow.actions.get(step.action)
        if alias is not None:
            params = render(alias.params, {**context, "params": params}, step=step.id)
    except ExpressionError as exc:
        raise ParamsError(str(exc)) from exc
    try:
        return spec.params_model.model_validate(params)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}" for e in exc.errors()
        )
        raise ParamsError(
            f"step {step.id!r}: invalid params for {spec.name!r}: {problems}"
        ) from exc


async def run_attempt(
    spec: ActionSpec,
    params: BaseModel,
    ctx: ActionContext,
    timeout_seconds: float | None,
    send: MemoryObjectSendStream[Outcome],
) -> None:
    """Run the action once and send its Outcome; a cancelled attempt sends one too.

    `send` is the driver's unbounded outcome stream: sending never blocks, so it needs
    no shield even from a cancelled attempt."""
    assert spec.func is not None
    outcome: Outcome | None = None
    try:
        with anyio.fail_after(timeout_seconds) if timeout_seconds else contextlib.nullcontext():
            output = await spec.func(params, ctx)
        outcome = _success(ctx.step_id, output, tuple(ctx.outbox))
    except TimeoutError:
        outcome = Outcome(ctx.step_id, False, error=f"timed out after {timeout_seconds:g} s")
    except StepFailed as exc:
        outcome = Outcome(ctx.step_id, False, output=_safe(exc.output), error=str(exc))
    except anyio.get_cancelled_exc_class():
        outcome = Outcome(ctx.step_id, False, error="cancelled", cancelled=True)
        raise
    except Exception as exc:  # noqa: BLE001 - a user action's bug is the step's failure
        outcome = Outcome(ctx.step_id, False, error=f"{type(exc).__name__}: {exc}")
    finally:
        if outcome is not None:
            if ctx.lines:
                outcome = dataclasses.replace(outcome, lines=tuple(ctx.lines))
            with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                send.send_nowait(outcome)


def _success(step_id: str, output: Any, notices: tuple[NewNotification, ...]) -> Outcome:
    try:
        return Outcome(step_id, True, output=json_safe(output), notices=notices)
    except (TypeError, ValueError) as exc:
        return Outcome(step_id, False, error=f"the action's output is not JSON-serialisable: {exc}")


def _safe(value: Any) -> Any:
    try:
        return json_safe(value)
    except (TypeError, ValueError):
        return repr(value)
