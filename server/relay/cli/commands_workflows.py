"""Commands about workflow definitions: `list`, `validate`, `schema`, `graph`.

Only `list` opens the store; the others read files and need no database. The workflow
model is imported by the command that reads workflows, not when the command line is parsed.
"""

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relay.cli.output import short, table, write, write_json
from relay.cli.parsing import Subcommands, add_command
from relay.cli.session import client, resolve_offline
from relay.errors import InvalidWorkflow, Problem

if TYPE_CHECKING:
    from relay.config import Settings
    from relay.model.loading import ActionCatalog


async def list_workflows(settings: "Settings", args: argparse.Namespace) -> int:
    async with client(settings) as relay:
        found = relay.workflows.list_workflows()
    if args.json:
        write_json(found)
        return 0
    rows = [
        [
            w["id"],
            len(w["steps"]),
            ", ".join(w["inputs"]) or "-",
            short(w["name"] or "", 40),
            w["path"],
        ]
        for w in found["workflows"]
    ]
    empty = (
        f"no workflows found in {relay.workflows.searched()}; `relay init` creates "
        "workflows/ with examples in the folder it runs in"
    )
    table(["ID", "STEPS", "INPUTS", "NAME", "FILE"], rows, empty=empty)
    for error in found["errors"]:
        where = error["path"] if error["line"] is None else f"{error['path']}:{error['line']}"
        write(f"not loaded: {where}: {error['message']}")
    return 0


def _check_file(path: Path, catalog: "ActionCatalog", environ: Mapping[str, str]) -> dict[str, Any]:
    """One file's verdict, shaped like the validate_workflow tool's result plus its path."""
    from relay.model.loading import load_workflow_file

    try:
        workflow = load_workflow_file(path, catalog=catalog, environ=environ)
    except InvalidWorkflow as exc:
        return {"path": str(path), "valid": False, "id": None, "errors": list(exc.problems)}
    return {"path": str(path), "valid": True, "id": workflow.id, "errors": []}


def _error_view(problem: Problem) -> dict[str, Any]:
    return {
        "path": problem.path,
        "line": problem.line,
        "column": problem.column,
        "message": problem.message,
    }


async def validate_files(settings: "Settings", args: argparse.Namespace) -> int:
    from relay.bootstrap import build_registry
    from relay.config import process_environment

    registry = build_registry(settings)
    environ = process_environment()
    verdicts = [_check_file(Path(name), registry, environ) for name in args.files]
    if args.json:
        files = [{**v, "errors": [_error_view(p) for p in v["errors"]]} for v in verdicts]
        write_json({"files": files})
    for verdict in [] if args.json else verdicts:
        if verdict["valid"]:
            write(f"OK {verdict['path']} (workflow {verdict['id']})")
        for problem in verdict["errors"]:
            write(str(problem))  # FILE:LINE:COLUMN: message, as compilers print
    return 0 if all(v["valid"] for v in verdicts) else 1


async def print_schema(settings: "Settings", args: argparse.Namespace) -> int:
    from relay.model.schema import workflow_json_schema_text

    write(workflow_json_schema_text().rstrip("\n"))
    return 0


async def print_graph(settings: "Settings", args: argparse.Namespace) -> int:
    from relay.model.graph import to_mermaid

    write(to_mermaid(resolve_offline(settings, args.workflow)).rstrip("\n"))
    return 0


def register(commands: Subcommands) -> None:
    add_command(commands, "list", list_workflows, "list the workflows on RELAY_WORKFLOWS_PATH")

    validate = add_command(
        commands, "validate", validate_files, "check workflow files; exit 1 if any is invalid"
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="workflow YAML files")

    add_command(
        commands,
        "schema",
        print_schema,
        "print the JSON Schema of workflow files (for editors)",
        reports=False,
    )

    graph = add_command(
        commands,
        "graph",
        print_graph,
        "print a workflow's steps as a Mermaid flowchart",
        reports=False,
    )
    graph.add_argument("workflow", metavar="WORKFLOW", help="a workflow id or a YAML file")
