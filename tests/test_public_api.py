"""The public Python API is pinned: adding or removing a name is a deliberate change."""

import relay


def test_public_names_are_pinned() -> None:
    assert relay.__all__ == [
        "ActionContext",
        "ProcessSource",
        "__version__",
        "action",
        "aemit_event",
        "emit_event",
        "notify_process_completed",
        "notify_process_failed",
        "notify_process_started",
        "with_workflow_notifications",
    ]
    assert relay.__all__ == sorted(relay.__all__)
    for name in relay.__all__:
        assert hasattr(relay, name)
