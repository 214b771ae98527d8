"""The outbox in the store: enqueued with the run's own save, handed out in thread order."""

from datetime import UTC, datetime, timedelta

import pytest
from tests.store.conftest import MakeRun

from relay.errors import ConflictError, LeaseLost
from relay.model.events import NewEvent
from relay.model.notification import NewNotification, NotificationKind, NotificationStatus
from relay.model.run import Approval, ApprovalStatus, RunStatus
from relay.store.base import RunSave, Store


def note(text: str, thread: str | None = "run-1", root: str | None = None) -> NewNotification:
    root_payload = None if root is None else {"text": root}
    return NewNotification("C1", {"text": text}, thread_key=thread, root_payload=root_payload)


async def test_a_notification_commits_with_the_save_that_causes_it_or_not_at_all(
    store: Store, make_run: MakeRun
) -> None:
    run, _ = await store.runs.create_run(make_run(owner="w1"))
    await store.runs.save(
        RunSave(run.id, "w1", None, run={"status": RunStatus.RUNNING}, outbox=[note("started")])
    )
    with pytest.raises(LeaseLost):
        await store.runs.save(RunSave(run.id, "w2", None, run={"status": RunStatus.FAILED},
                                 outbox=[note("failed")]))  # fmt: skip
    assert [n.payload["text"] for n in await store.outbox.list_notifications()] == ["started"]


async def test_the_first_of_a_thread_is_its_root_and_later_ones_reply_and_edit_it(
    store: Store,
) -> None:
    await store.outbox.enqueue_notification(note("a", root="status a"))
    await store.outbox.enqueue_notification(note("b", root="status b"))
    await store.outbox.enqueue_notification(note("top", thread=None))
    found = await store.outbox.list_notifications(NotificationStatus.PENDING)
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
        await store.outbox.enqueue_notification(note(text))
    await store.outbox.enqueue_notification(note("x", thread="run-2"))
    first = await store.outbox.claim_notifications("s1", 30.0, 10)
    assert [n.payload["text"] for n in first] == ["a", "x"]
    assert await other_store.outbox.claim_notifications("s2", 30.0, 10) == []  # in flight
    await store.outbox.notification_sent(first[0].id, "111.000001", "C1")
    await store.outbox.reschedule_notification(first[1].id, 60.0, "HTTP 503")
    [second] = await other_store.outbox.claim_notifications("s2", 30.0, 10)
    assert (second.payload["text"], second.thread_ts) == ("b", "111.000001")
    await other_store.outbox.dead_letter_notification(second.id, "invalid_blocks")
    [third] = await store.outbox.claim_notifications("s1", 30.0, 10)  # a dead one blocks nothing
    assert third.payload["text"] == "c"
    assert third.thread_ts == "111.000001"


async def test_a_lapsed_claim_is_handed_out_again(store: Store) -> None:
    await store.outbox.enqueue_notification(note("a"))
    [claimed] = await store.outbox.claim_notifications("gone", 0.0, 10)
    [again] = await store.outbox.claim_notifications("heir", 30.0, 10)
    assert again.id == claimed.id


async def test_an_event_and_its_notices_commit_together_and_not_again_for_a_duplicate(
    store: Store,
) -> None:
    event = NewEvent(type="process_started", source="api", idempotency_key="p-1")
    await store.events.append_event(event, outbox=[note("started", thread="process:p-1")])
    again = await store.events.append_event(
        event, outbox=[note("started again", thread="process:p-1")]
    )
    assert again.duplicate
    assert [n.payload["text"] for n in await store.outbox.list_notifications()] == ["started"]


async def test_a_decision_queues_its_edit_or_nothing_when_it_loses(
    store: Store, make_run: MakeRun
) -> None:
    run, _ = await store.runs.create_run(make_run(owner="w1"))
    approval = Approval(id="appr-1", run_id=run.id, workflow="wf", step_id="a",
                        message="ok?", requested_at=datetime.now(UTC))  # fmt: skip
    request = NewNotification("C1", {"text": "decide?"}, thread_key=run.id,
                              message_key="approval:appr-1")  # fmt: skip
    await store.runs.save(RunSave(run.id, "w1", None, approvals=[approval], outbox=[request]))
    edit = NewNotification("", {"text": "approved"}, edit_of="approval:appr-1")
    await store.coordination.decide_approval(
        "appr-1", ApprovalStatus.APPROVED, by="alice", channel="cli", comment="", outbox=[edit]
    )
    with pytest.raises(ConflictError):
        await store.coordination.decide_approval(
            "appr-1", ApprovalStatus.REJECTED, by="bob", channel="cli", comment="", outbox=[edit]
        )
    found = await store.outbox.list_notifications()
    assert [(n.kind, n.channel, n.thread_key, n.payload["text"]) for n in found] == [
        (NotificationKind.ROOT, "C1", run.id, "decide?"),
        (NotificationKind.EDIT, "C1", run.id, "approved"),  # where the request went
    ]


async def test_the_next_due_notification_is_the_head_of_a_thread_or_when_its_claim_lapses(
    store: Store,
) -> None:
    assert await store.outbox.next_notification_due() is None
    await store.outbox.enqueue_notification(note("a"))
    await store.outbox.enqueue_notification(note("b"))  # behind "a" in its thread
    [first] = await store.outbox.claim_notifications("s1", 30.0, 10)
    due = await store.outbox.next_notification_due()
    assert due is not None  # when the claim on "a" lapses
    assert due > datetime.now(UTC) + timedelta(seconds=20)
    await store.outbox.reschedule_notification(first.id, 60.0, "HTTP 503")
    rescheduled = await store.outbox.next_notification_due()
    assert rescheduled is not None
    assert rescheduled > datetime.now(UTC) + timedelta(seconds=50)
    await store.outbox.notification_sent(first.id, "1.0", "C1")
    now_due = await store.outbox.next_notification_due()  # "b" is the head now, due at once
    assert now_due is not None
    assert now_due <= datetime.now(UTC)


async def test_a_dead_destination_dead_letters_only_its_pending_notifications(
    store: Store,
) -> None:
    await store.outbox.enqueue_notification(note("sent", thread=None))
    [sent] = await store.outbox.claim_notifications("s1", 30.0, 10)
    await store.outbox.notification_sent(sent.id, "1.0", "C1")
    for text in ("a", "b"):
        await store.outbox.enqueue_notification(note(text, thread=None))
    await store.outbox.enqueue_notification(NewNotification("C2", {"text": "elsewhere"}))
    assert await store.outbox.dead_letter_destination("slack", "C1", "channel_not_found") == 2
    found = {
        n.payload["text"]: (n.status, n.last_error) for n in await store.outbox.list_notifications()
    }
    assert found == {
        "sent": (NotificationStatus.SENT, None),
        "a": (NotificationStatus.DEAD, "channel_not_found"),
        "b": (NotificationStatus.DEAD, "channel_not_found"),
        "elsewhere": (NotificationStatus.PENDING, None),
    }
    assert await store.outbox.dead_letter_destination("slack", "C1", "again") == 0
