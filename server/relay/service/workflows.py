"""Workflow definitions as callers see them: the catalog's files, an inline definition a
model passes (untrusted: no code), validation with the lines of every problem."""

from pathlib import Path
from typing import Any

from relay.catalog import WorkflowCatalog
from relay.engine.actions import ActionRegistry
from relay.errors import InvalidWorkflow, Problem, UsageError, WorkflowNotFound
from relay.model.graph import to_mermaid
from relay.model.loading import load_workflow
from relay.model.workflow import EventTrigger, Workflow
from relay.service.details import graph_view
from relay.service.views import problem_view

CODE_ACTIONS = ("shell", "python")
INLINE = "<inline>"

INLINE_CODE = (
    "step {step!r} uses {what}, which runs code on this machine; inline definitions may not "
    "do that unless the server runs with RELAY_ALLOW_INLINE_CODE=1 (or put the workflow in a "
    "file on RELAY_WORKFLOWS_PATH)"
)
INLINE_CODE_WARNING = (
    "step {step!r} uses {what}, which runs code on this machine: this definition can run only "
    "from a file on RELAY_WORKFLOWS_PATH (or when the server runs with "
    "RELAY_ALLOW_INLINE_CODE=1)"
)


class Workflows:
    def __init__(
        self, catalog: WorkflowCatalog, actions: ActionRegistry, *, allow_inline_code: bool
    ) -> None:
        self.catalog = catalog
        self.actions = actions
        self.allow_inline_code = allow_inline_code

    def list_workflows(self) -> dict[str, Any]:
        """Every workflow that loads, and every file that does not, with its problems."""
        workflows, problems = self.catalog.scan()
        return {
            "workflows": [workflow_view(wf, path) for wf, path in workflows.values()],
            "errors": [problem_view(p) for p in problems],
        }

    def get(self, workflow_id: str) -> Workflow:
        """The catalog's workflow `workflow_id` (WorkflowNotFound, InvalidWorkflow)."""
        return self.catalog.get(workflow_id)

    def resolve(self, workflow_or_file: str) -> Workflow:
        """A workflow id from the catalog, or a YAML file path (the user's own: trusted)."""
        return self.catalog.resolve(workflow_or_file)

    def load_inline(self, text: str) -> Workflow:
        """A definition passed as text by a caller (a model): untrusted."""
        workflow = load_workflow(text, path=INLINE, catalog=self.actions)
        if not self.allow_inline_code:
            problems = inline_code_problems(workflow, self.actions)
            if problems:
                raise InvalidWorkflow(problems)
        return workflow

    def workflow_for(self, workflow: str | None = None, definition: str | None = None) -> Workflow:
        """A catalog workflow by id, or an inline (untrusted) definition: exactly one."""
        if (workflow is None) == (definition is None):
            raise UsageError(
                "give exactly one of `workflow` (the id of a workflow file; list_workflows "
                "shows them) or `definition` (a whole workflow as YAML text)"
            )
        if definition is not None:
            return self.load_inline(definition)
        return self.catalog.get(workflow or "")

    def workflow_source(self, workflow_id: str) -> str:
        """The YAML text of the workflow file that declares `workflow_id`."""
        path = self.catalog.path_of(workflow_id)
        if path is None:
            self.catalog.get(workflow_id)  # raises: not found, or the file does not load
            raise WorkflowNotFound(workflow_id)
        return path.read_text(encoding="utf-8")

    def validate(self, definition: str) -> dict[str, Any]:
        """A definition's problems (`errors`) and, for inline text that would run code
        here, why it can run only from a file (`warnings`): as `validate_workflow` says."""
        inline = "\n" in definition or ":" in definition
        try:
            if inline:
                workflow = load_workflow(definition, path=INLINE, catalog=self.actions)
            else:
                workflow = self.catalog.get(definition)
        except InvalidWorkflow as exc:
            return {"valid": False, "id": None, "errors": [problem_view(p) for p in exc.problems]}
        warnings = []
        if inline and not self.allow_inline_code:
            warnings = inline_code_problems(workflow, self.actions, INLINE_CODE_WARNING)
        return {
            "valid": True,
            "id": workflow.id,
            "errors": [],
            "warnings": [problem_view(p) for p in warnings],
        }

    def workflow_detail(self, workflow_id: str) -> dict[str, Any]:
        """A catalog workflow: its view, YAML text, step graph and Mermaid diagram."""
        workflow = self.catalog.get(workflow_id)  # WorkflowNotFound, InvalidWorkflow
        return {
            "workflow": workflow_view(workflow, self.catalog.path_of(workflow_id)),
            "source": self.workflow_source(workflow_id),
            "graph": graph_view(workflow),
            "mermaid": to_mermaid(workflow),
        }

    def has_files(self) -> bool:
        """Whether any workflow file is on the path at all (loading or not)."""
        return bool(self.catalog.files())

    def searched(self) -> str:
        """The folders looked in (see `WorkflowCatalog.searched`)."""
        return self.catalog.searched()


def workflow_view(workflow: Workflow, path: Path | None) -> dict[str, Any]:
    triggers: list[dict[str, Any]] = []
    for trigger in workflow.on:
        if isinstance(trigger, EventTrigger):
            triggers.append({"event": trigger.event, "match": trigger.match})
        else:
            triggers.append({"schedule": trigger.schedule, "tz": trigger.tz})
    return {
        "id": workflow.id,
        "name": workflow.name,
        "description": workflow.description,
        "inputs": {k: v.model_dump(exclude_none=True) for k, v in workflow.inputs.items()},
        "steps": [{"id": s.id, "name": s.name, "action": s.action} for s in workflow.steps],
        "triggers": triggers,
        "path": None if path is None else str(path),
    }


def inline_code_problems(
    workflow: Workflow, actions: ActionRegistry, template: str = INLINE_CODE
) -> list[Problem]:
    """The steps of a definition from a model that would run code (shell, python, an
    mcp_call that spawns a command), each located at its `action:` line."""
    problems = []
    for index, step in enumerate(workflow.steps):
        alias = workflow.actions.get(step.action)
        name = alias.uses if alias else step.action
        spec = actions.get(name)
        params = alias.params if alias else step.params
        if name in CODE_ACTIONS or (spec is not None and spec.runs_code_with(params)):
            what = f"{name!r} with `command`" if spec and not spec.runs_code else repr(name)
            line, column = workflow.location(("steps", index, "action")) or (None, None)
            message = template.format(step=step.id, what=what)
            path = workflow.source_path or INLINE
            problems.append(Problem(path, line, column, message, step=step.id, field="action"))
    return problems
