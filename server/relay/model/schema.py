"""The JSON Schema of workflow files, generated from the models.

Editors' YAML language servers use it (docs/workflow.schema.json is this output, and a
test keeps the two equal). pydantic describes the models' own fields; this module adds
what the models accept but fold away before validation: the seed's `workflow_id`,
`retry_count` and `retry_delay_seconds`, a step's `name` standing in for its `id`, and a
file's name standing in for the workflow's id.
"""

import copy
import json
from typing import Any

from relay.model.workflow import ID_PATTERN, Workflow

SCHEMA_ID = "urn:relay-mcp:workflow-schema:1"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def workflow_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a workflow definition, with YAML key names."""
    schema = copy.deepcopy(Workflow.model_json_schema(by_alias=True, mode="validation"))
    _add_seed_workflow_keys(schema)
    _add_seed_step_keys(schema["$defs"]["Step"])
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": SCHEMA_ID,
        **schema,
        "title": "relay workflow",
    }


def workflow_json_schema_text() -> str:
    """The schema as the shipped file spells it (sorted keys, 2-space indent, final newline)."""
    return json.dumps(workflow_json_schema(), indent=2, sort_keys=True) + "\n"


def _add_seed_workflow_keys(schema: dict[str, Any]) -> None:
    schema["required"] = ["steps"]  # id: else workflow_id, else the file name
    schema["properties"]["workflow_id"] = {
        "description": "The seed's spelling of id (give one of them, not both).",
        "pattern": ID_PATTERN,
        "title": "Workflow Id",
        "type": "string",
    }


def _add_seed_step_keys(step: dict[str, Any]) -> None:
    step["required"] = ["action"]
    step["anyOf"] = [{"required": ["id"]}, {"required": ["name"]}]
    step["properties"]["needs"]["anyOf"].insert(0, {"type": "string"})
    step["properties"]["retry_count"] = {
        "description": "The seed's retries: retry.max_attempts = retry_count + 1.",
        "minimum": 0,
        "title": "Retry Count",
        "type": "integer",
    }
    step["properties"]["retry_delay_seconds"] = {
        "description": "With retry_count: the first retry's delay, doubling after (default 5).",
        "minimum": 0,
        "title": "Retry Delay Seconds",
        "type": "number",
    }
