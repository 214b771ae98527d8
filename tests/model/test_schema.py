"""The JSON Schema of workflow files, and the copy shipped for editors."""

import json
from pathlib import Path

import pytest
import yaml

from relay.model.schema import workflow_json_schema, workflow_json_schema_text

SHIPPED = Path(__file__).parents[2] / "docs" / "workflow.schema.json"
REGENERATE = (
    ".venv/bin/python -c 'from relay.model.schema import workflow_json_schema_text as t; "
    'open("docs/workflow.schema.json", "w").write(t())\''
)


def test_shipped_schema_file_equals_the_generated_schema() -> None:
    assert SHIPPED.read_text(encoding="utf-8") == workflow_json_schema_text(), REGENERATE


def test_schema_declares_its_dialect_title_and_id() -> None:
    schema = workflow_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "relay workflow"
    assert schema["$id"]


def test_schema_uses_the_yaml_key_names_and_the_seed_spellings() -> None:
    schema = workflow_json_schema()
    step = schema["$defs"]["Step"]["properties"]
    assert {"on", "workflow_id", "steps"} <= schema["properties"].keys()
    assert {"if", "retry_count", "retry_delay_seconds"} <= step.keys()
    assert "if_" not in step


def test_schema_requires_only_steps_since_the_id_can_come_from_the_file_name() -> None:
    schema = workflow_json_schema()
    assert schema["required"] == ["steps"]
    assert schema["$defs"]["Step"]["required"] == ["action"]


def test_schema_text_is_the_schema_as_json_ending_with_a_newline() -> None:
    text = workflow_json_schema_text()
    assert text.endswith("}\n")
    assert json.loads(text) == workflow_json_schema()


def test_the_seed_workflows_satisfy_the_schema(seed_workflows: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(workflow_json_schema())
    for path in sorted(seed_workflows.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert list(validator.iter_errors(data)) == [], path.name


def test_the_schema_rejects_an_unknown_step_key() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    data = {"id": "x", "steps": [{"id": "a", "action": "log", "retries": 3}]}
    assert not jsonschema.Draft202012Validator(workflow_json_schema()).is_valid(data)
