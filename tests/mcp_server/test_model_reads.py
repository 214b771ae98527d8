"""What a model reads of relay: descriptions as clients show them (raw), and resource
contents that are the document itself, in both protocol eras."""

import json
import re
from typing import Any

from mcp import Client

# A line break that neither ends a paragraph nor starts a list item: a break in a sentence.
SENTENCE_BREAK = re.compile(r"(?<!\n)\n(?!\n|- |\* |\d+[.)] )")


def descriptions(schema: dict[str, Any]) -> list[str]:
    """Every `description` in a JSON schema, nested ones included."""
    found: list[str] = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "description" and isinstance(value, str):
                found.append(value)
            else:
                found += descriptions(value)
    elif isinstance(schema, list):
        for item in schema:
            found += descriptions(item)
    return found


async def test_no_description_breaks_a_sentence(client: Client) -> None:
    texts: dict[str, str] = {"instructions": client.instructions or ""}
    for tool in (await client.list_tools()).tools:
        texts[f"tool {tool.name}"] = tool.description or ""
        for i, text in enumerate(descriptions(tool.input_schema)):
            texts[f"tool {tool.name} parameter {i}"] = text
    for resource in (await client.list_resources()).resources:
        texts[f"resource {resource.uri}"] = resource.description or ""
    for template in (await client.list_resource_templates()).resource_templates:
        texts[f"template {template.uri_template}"] = template.description or ""
    for prompt in (await client.list_prompts()).prompts:
        texts[f"prompt {prompt.name}"] = prompt.description or ""
    broken = {where: text for where, text in texts.items() if SENTENCE_BREAK.search(text)}
    assert not broken, broken
    assert "\n\n" not in texts["tool get_status"]  # one paragraph: joined, not dropped
    assert texts["tool get_status"].startswith("A run's status")


async def test_json_resources_hold_the_document_once(client: Client) -> None:
    run = await client.call_tool("start_workflow", {"workflow": "hello", "wait_seconds": 10})
    assert run.structured_content is not None
    run_id = run.structured_content["run_id"]
    uris = [str(r.uri) for r in (await client.list_resources()).resources]
    uris += [f"relay://runs/{run_id}", f"relay://runs/{run_id}/steps/greet/output"]
    for uri in uris:
        [content] = (await client.read_resource(uri)).contents
        if content.mime_type != "application/json":
            continue
        document = json.loads(getattr(content, "text", ""))
        assert isinstance(document, dict | list), f"{uri} holds {type(document).__name__}"
