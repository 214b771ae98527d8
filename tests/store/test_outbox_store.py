"""The outbox in the store: enqueued with the run's own save, handed out in thread order."""

import pytest
from tests.store.conftest import MakeRun

from relay.errors import LeaseLost
from relay.model.notification import NewNotification, NotificationKind, NotificationStatus
from relay.model.run import RunStatus
from relay.store.base import RunSave, Store


def note(text: str, thread: str | None = "run-1", root: str | None = None) -> NewNotification:
    root_payload = None if root is None else {"text": root}
    return NewNotification("C1", {"text": text}, thread_key=thread, root_payload=root_payload)


async def test_a_notification_commits_with_the_save_that_causes_it_or_not_at_all(
    store: Store, make_run: MakeRun
) -> None:
    run, _ = await store.create_run(make_run(owner="w1"))
    await store.save(
        RunSave(run.id, "w1", None, run={"status": RunStatus.RUNNING}, outbox=[note("started")])
    )
    with pytest.raises(LeaseLost):
        await store.save(RunSave(run.id, "w2", None, run={"status": RunStatus.FAILED},
                                 outbox=[note("failed")]))  # fmt: skip
    assert [n.payload["text"] for n in await store.list_notifications()] == ["started"]


async def test_the_first_of_a_thread_is_its_root_and_later_ones_reply_and_edit_it(
    store: Store,
) -> None:
    await store.enqueue_notification(note("a", root="status a"))
    await store.enqueue_notification(note("b", root="status b"))
    await store.enqueue_notification(note("top", thread=None))
    found = await store.list_notifications(NotificationStatus.PENDING)
    assert [(n.kind, n.payload["text"]) for n in found] == [
        (NotificationKind.ROOT, "status a"),
        (NotificationKind.REPLY, "a"),
        (NotificationKind.REPLY, "b"),
        (NotificationKind.UPDATE, "status b"),
        (NotificationKind.POST, "top"),
    ]


async def test_only_the_head_of_each_thread_is_due_and_one_at_a_time(
    store: Store, other_store: Store
) -> None:
    for text in ("a", "b", "c"):
        await store.enqueue_notification(note(text))
    await store.enqueue_notification(note("x", thread="run-2"))
    first = await store.claim_notifications("s1", 30.0, 10)
    assert [n.payload["text"] for n in first] == ["a", "x"]
    assert await other_store.claim_notifications("s2", 30.0, 10) == []  # in flight
    await store.notification_sent(first[0].id, "111.000001", "C1")
    await store.reschedule_notification(first[1].id, 60.0, "HTTP 503")
    [second] = await other_store.claim_notifications("s2", 30.0, 10)
    assert (second.payload["text"], second.thread_ts) == ("b", "111.000001")
    await other_store.dead_letter_notification(second.id, "invalid_blocks")
    [third] = await store.claim_notifications("s1", 30.0, 10)  # a dead one blocks nothing
    assert third.payload["text"] == "c"
    assert third.thread_ts == "111.000001"


async def test_a_lapsed_claim_is_handed_out_again(store: Store) -> None:
    await store.enqueue_notification(note("a"))
    [claimed] = await store.claim_notifications("gone", 0.0, 10)
    [again] = await store.claim_notifications("heir", 30.0, 10)
    assert again.id == claimed.id
