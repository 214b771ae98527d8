"""Mermaid diagrams of a workflow's steps."""

from relay.model.graph import to_mermaid
from relay.model.workflow import Workflow


def make_workflow() -> Workflow:
    return Workflow.model_validate(
        {
            "id": "diagram",
            "steps": [
                {"id": "build", "name": 'Build "app" <fast> #1', "action": "shell"},
                {"id": "gate", "name": "Approve", "action": "log", "requires_approval": True},
                {"id": "deploy", "action": "http", "needs": ["gate", "build"], "if": "${{ true }}"},
                {"id": "end", "action": "log", "needs": []},
            ],
        }
    )


def test_diagram_has_one_node_per_step_and_one_edge_per_dependency() -> None:
    assert to_mermaid(make_workflow()).splitlines() == [
        "flowchart TD",
        '    s1["Build #quot;app#quot; #lt;fast#gt; #35;1<br/><small>shell</small>"]',
        '    s2{{"Approve<br/><small>log</small><br/><small>approval gate</small>"}}',
        '    s3["deploy<br/><small>http</small>'
        '<br/><small>if: $#123;#123; true #125;#125;</small>"]',
        '    s4["end<br/><small>log</small>"]',
        "    s1 --> s2",
        "    s2 -.-> s3",
        "    s1 -.-> s3",
    ]


def test_diagram_is_deterministic() -> None:
    assert to_mermaid(make_workflow()) == to_mermaid(make_workflow())
