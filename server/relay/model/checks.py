"""Checks of a definition as a whole, after its models have been built.

These are the checks no single field can make: unique step ids, `needs` that name real
steps and form no cycle, expressions that parse and name real steps, input defaults of
the declared type, and (given an `ActionCatalog`) actions that relay can run, with params
their action accepts. Each finding is a located `Problem`; all of them are collected.
"""

import difflib
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from relay.errors import ExpressionError, Problem
from relay.model.expressions import (
    check_expression,
    condition_source,
    find_expressions,
    has_unterminated_expression,
    referenced_steps,
)
from relay.model.inputs import conform
from relay.model.problems import Reporter
from relay.model.source import DataPath
from relay.model.workflow import EventTrigger, Step, Workflow


class ActionCatalog(Protocol):
    """What the loader needs to know about the actions relay can run."""

    def params_model(self, action: str) -> type[BaseModel] | None:
        """The params model of `action`, or None when relay has no such action."""
        ...

    def missing_action_hint(self, action: str) -> str:
        """A sentence saying how to provide the missing `action`."""
        ...

    def names(self) -> list[str]:
        """Every action relay can run here (to suggest the nearest to a misspelt one)."""
        ...


def check_workflow(
    workflow: Workflow, reporter: Reporter, catalog: ActionCatalog | None
) -> list[Problem]:
    """Every whole-definition problem of `workflow`."""
    duplicates = list(_duplicate_ids(workflow, reporter))
    problems = [
        *duplicates,
        *_unknown_needs(workflow, reporter),
        *([] if duplicates else _cycles(workflow, reporter)),  # ids are ambiguous otherwise
        *_expressions(workflow, reporter),
        *_input_defaults(workflow, reporter),
        *_trigger_inputs(workflow, reporter),
        *_idle_approval_settings(workflow, reporter),
    ]
    if catalog is not None:
        problems += _actions(workflow, reporter, catalog)
    return problems


def _duplicate_ids(workflow: Workflow, reporter: Reporter) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for index, step in enumerate(workflow.steps):
        if step.id not in first:
            first[step.id] = index
            continue
        other = first[step.id]
        explicit = reporter.has_key(("steps", index, "id"))
        origin = "" if explicit else f" (derived from its name {step.name!r})"
        reason = (
            f"duplicate step id {step.id!r}{origin}; {reporter.step_words(other)} at line "
            f"{reporter.line(('steps', other))} has it too, so give one of them another id"
        )
        where = ("steps", index, "id" if explicit else "name")
        yield reporter.problem(where, reason, about_key=True)


def _unknown_needs(workflow: Workflow, reporter: Reporter) -> Iterator[Problem]:
    ids = [step.id for step in workflow.steps]
    for index, step in enumerate(workflow.steps):
        for position, need in enumerate(step.needs or ()):
            if need not in ids:
                reason = f"no step has id {need!r}{_did_you_mean(need, ids)}"
                yield reporter.problem(("steps", index, "needs", position), reason, about_key=True)


def _did_you_mean(word: str, choices: list[str], cutoff: float = 0.6) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


# An action's name is often a new word (`deploy`), not a slip: suggest only close names
# (`shel`, `aproval`), not the merely similar (`delay`).
ACTION_CUTOFF = 0.75


def _cycles(workflow: Workflow, reporter: Reporter) -> Iterator[Problem]:
    ids = {step.id for step in workflow.steps}
    graph = {key: [d for d in deps if d in ids] for key, deps in workflow.dependencies().items()}
    index_of = {step.id: index for index, step in enumerate(workflow.steps)}
    for cycle in find_cycles(graph):
        start = min(cycle, key=index_of.__getitem__)
        turn = cycle.index(start)
        ordered = [*cycle[turn:], *cycle[:turn], start]
        where: DataPath = ("steps", index_of[start])
        if reporter.has_key((*where, "needs")):
            where = (*where, "needs")
        reason = "dependency cycle: " + " needs ".join(repr(s) for s in ordered)
        yield reporter.problem(where, reason, about_key=True)


def _unorderable(graph: Mapping[str, list[str]]) -> set[str]:
    """The nodes left after peeling off everything that can be ordered (Kahn's algorithm,
    linear in the graph's size): the cycles and the nodes that need them."""
    needs = {node: {d for d in deps if d in graph} for node, deps in graph.items()}
    dependants: dict[str, list[str]] = {node: [] for node in graph}
    for node, deps in needs.items():
        for dep in deps:
            dependants[dep].append(node)
    waiting = {node: len(deps) for node, deps in needs.items()}
    free = [node for node, count in waiting.items() if count == 0]
    remaining = set(graph)
    while free:
        node = free.pop()
        remaining.discard(node)
        for dependant in dependants[node]:
            waiting[dependant] -= 1
            if waiting[dependant] == 0:
                free.append(dependant)
    return remaining


def find_cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """Dependency cycles of `graph` (node -> nodes it needs), each as a list of nodes."""
    remaining = _unorderable(graph)
    cycles: list[list[str]] = []
    visited: set[str] = set()
    for start in graph:
        if start not in remaining or start in visited:
            continue
        path, node = [start], start
        while True:
            node = next(d for d in graph[node] if d in remaining)
            if node in path or node in visited:
                break
            path.append(node)
        visited.update(path)
        if node in path:
            cycles.append(path[path.index(node) :])
    return cycles


def _strings(value: Any, where: DataPath) -> Iterator[tuple[DataPath, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*where, index))


def _expression_fields(workflow: Workflow) -> Iterator[tuple[DataPath, str, bool]]:
    """(where, text, is_condition) for every field whose text may hold expressions."""
    for index, step in enumerate(workflow.steps):
        yield from _step_expression_fields(step, ("steps", index))
    for index, trigger in enumerate(workflow.on):
        for where, text in _strings(trigger.inputs, ("on", index, "inputs")):
            yield where, text, False
        if isinstance(trigger, EventTrigger) and trigger.if_ is not None:
            yield ("on", index, "if"), trigger.if_, True
    for name, alias in workflow.actions.items():
        for where, text in _strings(alias.params, ("actions", name, "params")):
            yield where, text, False
    for where, text in _strings(workflow.outputs, ("outputs",)):
        yield where, text, False


def _step_expression_fields(step: Step, base: DataPath) -> Iterator[tuple[DataPath, str, bool]]:
    for where, text in _strings(step.params, (*base, "params")):
        yield where, text, False
    if step.if_ is not None:
        yield (*base, "if"), step.if_, True
    if step.approval is not None and step.approval.message is not None:
        yield (*base, "approval", "message"), step.approval.message, False


def _expressions(workflow: Workflow, reporter: Reporter) -> Iterator[Problem]:
    ids = {step.id for step in workflow.steps}
    for where, text, is_condition in _expression_fields(workflow):
        if has_unterminated_expression(text):
            yield reporter.problem(where, "'${{' without a closing '}}'")
            continue
        try:
            sources = [condition_source(text)] if is_condition else find_expressions(text)
        except ExpressionError as exc:
            yield reporter.problem(where, exc.reason)
            continue
        for source in sources:
            reason = _expression_reason(source, ids)
            if reason is not None:
                yield reporter.problem(where, f"expression ${{{{ {source.strip()} }}}}: {reason}")


def _expression_reason(source: str, ids: set[str]) -> str | None:
    reason = check_expression(source)
    if reason is not None:
        return reason
    unknown = sorted(referenced_steps(source) - ids)
    if unknown:
        return f"refers to unknown step {unknown[0]!r}{_did_you_mean(unknown[0], sorted(ids))}"
    return None


def _input_defaults(workflow: Workflow, reporter: Reporter) -> Iterator[Problem]:
    for name, spec in workflow.inputs.items():
        if spec.default is None:
            continue
        try:
            conform(spec, spec.default)
        except ValueError as exc:
            yield reporter.problem(("inputs", name, "default"), str(exc))


def _trigger_inputs(workflow: Workflow, reporter: Reporter) -> Iterator[Problem]:
    declared = sorted(workflow.inputs)
    for index, trigger in enumerate(workflow.on):
        for name in trigger.inputs:
            if name not in workflow.inputs:
                known = f"; declared inputs: {', '.join(declared)}" if declared else ""
                reason = f"unknown input {name!r}{known}"
                yield reporter.problem(("on", index, "inputs", name), reason, about_key=True)


def _idle_approval_settings(workflow: Workflow, reporter: Reporter) -> Iterator[Problem]:
    for index, step in enumerate(workflow.steps):
        if step.approval is not None and not step.requires_approval:
            reason = "approval settings need requires_approval: true to take effect"
            yield reporter.problem(("steps", index, "approval"), reason, about_key=True)


def _actions(workflow: Workflow, reporter: Reporter, catalog: ActionCatalog) -> list[Problem]:
    problems = list(_aliases(workflow, reporter, catalog))
    unknown: dict[str, list[int]] = {}
    for index, step in enumerate(workflow.steps):
        if step.action in workflow.actions:
            continue  # the alias's params were checked; the step's own are free-form
        model = catalog.params_model(step.action)
        if model is None:
            unknown.setdefault(step.action, []).append(index)
            continue
        where = ("steps", index, "params")
        problems += _params(model, step.params, where, reporter, step.action)
    known = [*catalog.names(), *workflow.actions]
    for action, indices in unknown.items():
        problems.append(_unknown_action(action, indices, reporter, catalog, known))
    return problems


def _aliases(workflow: Workflow, reporter: Reporter, catalog: ActionCatalog) -> Iterator[Problem]:
    for name, alias in workflow.actions.items():
        where = ("actions", name)
        if catalog.params_model(name) is not None:
            reason = f"{name!r} is the name of a built-in action; give the alias another name"
            yield reporter.problem(where, reason, about_key=True)
        model = catalog.params_model(alias.uses)
        if model is None:
            hint = catalog.missing_action_hint(alias.uses)
            close = _did_you_mean(alias.uses, catalog.names(), ACTION_CUTOFF)
            reason = f"uses unknown action {alias.uses!r}{close}. {hint}"
            yield reporter.problem((*where, "uses"), reason, about_key=True)
            continue
        yield from _params(model, alias.params, (*where, "params"), reporter, alias.uses)


def _params(
    model: type[BaseModel], params: dict[str, Any], where: DataPath, reporter: Reporter, action: str
) -> list[Problem]:
    try:
        model.model_validate(params)
    except ValidationError as exc:
        errors = [e for e in exc.errors(include_url=False) if not _waits_for_run_time(e)]
        note = f" for action {action!r}"
        return reporter.validation_problems(
            errors, base=where, model=model, noun="param", note=note
        )
    return []


def _waits_for_run_time(error: ErrorDetails) -> bool:
    """Whether an error is about a value that holds an expression (checked when run)."""
    return error["type"] != "missing" and bool(find_expressions(error.get("input")))


def _unknown_action(
    action: str, indices: list[int], reporter: Reporter, catalog: ActionCatalog, known: list[str]
) -> Problem:
    first, others = indices[0], indices[1:]
    also = ", ".join(
        f"{reporter.step_words(i)} (line {reporter.line(('steps', i, 'action'))})" for i in others
    )
    reason = f"unknown action {action!r}{_did_you_mean(action, known, ACTION_CUTOFF)}"
    if also:
        reason += f"; also used by {also}"
    reason += f". {catalog.missing_action_hint(action)}"
    return reporter.problem(("steps", first, "action"), reason, about_key=True)
