"""YAML text or file to a validated `Workflow`, or every problem with its line.

Loading runs in three passes that each add to one list of problems: reading the YAML
(syntax errors stop here, alone), building the pydantic models (their errors are
translated and located), and whole-definition checks (ids, needs, cycles, expressions
and, given an `ActionCatalog`, actions and their params). Any problem raises
`InvalidWorkflow` carrying them all, sorted by line. This is the one module of
`relay.model` that reads a file.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from relay.errors import InvalidWorkflow, Problem
from relay.model.checks import ActionCatalog, check_workflow
from relay.model.problems import Reporter
from relay.model.source import SourceMap, parse_yaml
from relay.model.workflow import Workflow

__all__ = ["ActionCatalog", "load_workflow", "load_workflow_file"]


def load_workflow(
    text: str,
    *,
    path: str = "<inline>",
    catalog: ActionCatalog | None = None,
    environ: Mapping[str, str] | None = None,
    default_id: str | None = None,
) -> Workflow:
    """The workflow that YAML `text` defines.

    `path` names the text in problems; `environ`, when given, fills `${VAR:-default}`;
    `default_id` is the id of a definition that gives none (a file's stem).

    Raises:
        InvalidWorkflow: with every problem found, each located by line and column.
    """
    data, source_map, issues = parse_yaml(text, path=path, environ=environ)
    reporter = Reporter(path, source_map, data)
    problems = [
        reporter.problem(i.path, i.message, position=i.position, about_key=i.about_key)
        for i in issues
    ]
    shape = _shape_problem(data, path, source_map)
    if shape is not None:
        raise InvalidWorkflow(_in_order([*problems, shape]))
    if default_id is not None and "id" not in data and "workflow_id" not in data:
        data = {"id": default_id, **data}
    try:
        workflow = Workflow.model_validate(data)
    except ValidationError as exc:
        problems += reporter.validation_problems(exc.errors(include_url=False))
        raise InvalidWorkflow(_in_order(problems)) from None
    problems += check_workflow(workflow, reporter, catalog)
    if problems:
        raise InvalidWorkflow(_in_order(problems))
    workflow.attach_source(path, source_map)
    return workflow


def load_workflow_file(
    path: Path,
    *,
    catalog: ActionCatalog | None = None,
    environ: Mapping[str, str] | None = None,
) -> Workflow:
    """The workflow defined in file `path`; its id defaults to the file name's stem.

    Raises:
        InvalidWorkflow: the file cannot be read, is not UTF-8, or does not load.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        problem = Problem(str(path), None, None, f"cannot read the file: {reason}")
        raise InvalidWorkflow([problem]) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        message = f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x})"
        raise InvalidWorkflow([Problem(str(path), line, 1, message)]) from exc
    return load_workflow(
        text, path=str(path), catalog=catalog, environ=environ, default_id=path.stem
    )


def _shape_problem(data: Any, path: str, source_map: SourceMap) -> Problem | None:
    if data is None:
        message = "the file is empty; a workflow is a mapping with at least 'steps'"
        return Problem(path, 1, 1, message)
    if not isinstance(data, dict):
        line, column = source_map.locate(()) or (1, 1)
        kind = "a list" if isinstance(data, list) else f"the value {data!r}"
        message = f"the top level must be a mapping of workflow keys (id, steps...), not {kind}"
        return Problem(path, line, column, message)
    return None


def _in_order(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))
