"""`relay notifications`: the outbox's pending and dead notifications, from the CLI."""

from pathlib import Path

import pytest
from tests.test_cli import Cli

from relay.model.notification import NewNotification
from relay.store import connect_store


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_cli_lists_pending_and_dead_notifications(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    (tmp_path / "home").mkdir(mode=0o700)
    store = await connect_store(f"sqlite:///{tmp_path / 'home' / 'relay.db'}")
    try:
        [first] = await store.outbox.enqueue_notification(NewNotification("C1", {"text": "hello"}))
        await store.outbox.enqueue_notification(NewNotification("C2", {"text": "bye"}))
        await store.outbox.dead_letter_destination(
            "slack", "C2", "Slack chat.postMessage failed: x"
        )
    finally:
        await store.aclose()
    [pending] = cli.json("notifications")["notifications"]
    assert (pending["id"], pending["status"], pending["text"]) == (first, "pending", "hello")
    [dead] = cli.json("notifications", "--status", "dead")["notifications"]
    assert dead["channel"] == "C2"
    assert "failed: x" in dead["last_error"]
    table = cli("notifications", "--status", "all")
    assert table.returncode == 0
    assert "hello" in table.stdout
    assert "failed: x" in table.stdout
    bad = cli("notifications", "--status", "lost")
    assert bad.returncode != 0
    assert "pending, sent, dead or all" in bad.stderr
