"""The shared event log: idempotency keys, strictly increasing seq, and filters."""

from relay.service.services import Services


async def test_a_second_append_with_the_same_idempotency_key_returns_the_first_event(
    relay: Services,
) -> None:
    first = await relay.events.emit("deployed", {"v": 1}, idempotency_key="deploy-1")
    second = await relay.events.emit("deployed", {"v": 2}, idempotency_key="deploy-1")
    assert (first.duplicate, second.duplicate) == (False, True)
    assert second.event == first.event
    assert [e.data for e in await relay.events.list_events(type="deployed")] == [{"v": 1}]


async def test_seq_is_strictly_increasing(relay: Services) -> None:
    seqs = [(await relay.events.emit("tick", {"i": i})).event.seq for i in range(20)]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 20
    listed = [e.seq for e in await relay.events.list_events(type="tick", limit=100)]
    assert listed == seqs


async def test_an_emitted_event_carries_the_participant_as_its_source(relay: Services) -> None:
    emitted = await relay.events.emit("hello")
    assert emitted.event.source == "pytest"


async def test_list_events_filters_by_type(relay: Services) -> None:
    await relay.events.emit("a")
    b = await relay.events.emit("b")
    await relay.events.emit("a")
    assert [e.id for e in await relay.events.list_events(type="b")] == [b.event.id]


async def test_list_events_filters_by_source(relay: Services) -> None:
    await relay.events.emit("x", source="claude_code")
    mine = await relay.events.emit("x", source="pycharm")
    assert [e.id for e in await relay.events.list_events(source="pycharm")] == [mine.event.id]


async def test_list_events_filters_by_correlation_id(relay: Services) -> None:
    await relay.events.emit("x", correlation_id="job-1")
    job2 = await relay.events.emit("x", correlation_id="job-2")
    assert [e.id for e in await relay.events.list_events(correlation_id="job-2")] == [job2.event.id]


async def test_list_events_after_seq_returns_only_later_events_oldest_first(
    relay: Services,
) -> None:
    first = await relay.events.emit("x", {"i": 0})
    later = [(await relay.events.emit("x", {"i": i})).event.seq for i in range(1, 5)]
    found = await relay.events.list_events(after_seq=first.event.seq, limit=3)
    assert [e.seq for e in found] == later[:3]


async def test_list_events_without_after_seq_returns_the_newest_in_seq_order(
    relay: Services,
) -> None:
    seqs = [(await relay.events.emit("x", {"i": i})).event.seq for i in range(5)]
    assert [e.seq for e in await relay.events.list_events(type="x", limit=2)] == seqs[-2:]
