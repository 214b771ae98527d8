"""The store contract under concurrency, on both backends: several connections (as
several processes would have) writing at once, and change feeds across connections."""

import anyio
from tests.store.conftest import MakeRun

from relay.model.events import NewEvent
from relay.store import connect_store
from relay.store.base import EventQuery, Store


async def test_a_commit_on_one_connection_wakes_anothers_change_feed_and_doorbell(
    store: Store, other_store: Store, make_run: MakeRun
) -> None:
    run, _ = await store.runs.create_run(make_run(owner="w1"))
    generation, bell = store.feed.generation(), store.feed.doorbell()
    await other_store.coordination.request_cancel(run.id, "from elsewhere")  # a ring
    with anyio.fail_after(10):
        assert await store.feed.wait_changed(generation, 10) > generation
        assert await store.feed.wait_doorbell(bell, 10) > bell


async def test_concurrent_appends_with_one_idempotency_key_record_one_event(
    store: Store, other_store: Store
) -> None:
    results = []

    async def append(on: Store) -> None:
        event = NewEvent(type="deploy", source="t", idempotency_key="deploy-42")
        results.append(await on.events.append_event(event))

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(append, store if i % 2 else other_store)
    assert sum(not r.duplicate for r in results) == 1
    assert len({r.event.seq for r in results}) == 1
    assert len(await store.events.list_events(EventQuery(type="deploy"))) == 1


async def _start_ten_at_once(
    stores: tuple[Store, Store], make_run: MakeRun, **key: str
) -> list[tuple[str, bool]]:
    """(run id, created) of ten starts with the same key, alternating between stores."""
    created = []

    async def start(on: Store) -> None:
        run, is_new = await on.runs.create_run(make_run(**key))
        created.append((run.id, is_new))

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(start, stores[i % 2])
    return created


async def test_concurrent_starts_with_one_trigger_key_create_one_run(
    store: Store, other_store: Store, make_run: MakeRun
) -> None:
    created = await _start_ten_at_once(
        (other_store, store), make_run, trigger_key="schedule:wf:0:09:00"
    )
    assert sum(is_new for _, is_new in created) == 1
    assert len({run_id for run_id, _ in created}) == 1


async def test_concurrent_starts_with_one_idempotency_key_create_one_run(
    store: Store, other_store: Store, make_run: MakeRun
) -> None:
    created = await _start_ten_at_once((other_store, store), make_run, idempotency_key="k-7")
    assert sum(is_new for _, is_new in created) == 1
    assert len({run_id for run_id, _ in created}) == 1


async def test_a_reader_following_seqs_never_passes_over_a_concurrent_append(
    store_url: str, store: Store
) -> None:
    """Seqs become visible in order: reading `after_seq` of the last one seen, a reader
    meets every event although writers on several connections append at once."""
    writers = [await connect_store(store_url) for _ in range(3)]
    per_writer = 40
    seen: list[int] = []
    try:
        async with anyio.create_task_group() as tg:

            async def write(on: Store) -> None:
                for _ in range(per_writer):
                    await on.events.append_event(NewEvent(type="load", source="t"))

            for writer in writers:
                tg.start_soon(write, writer)
            with anyio.fail_after(60):
                while len(seen) < per_writer * len(writers):
                    after = seen[-1] if seen else 0
                    page = await store.events.list_events(EventQuery(type="load", after_seq=after))
                    seen += [e.seq for e in page]
                    if not page:
                        await store.feed.wait_changed(store.feed.generation(), 0.05)
    finally:
        for writer in writers:
            await writer.aclose()
    everything = await store.events.list_events(EventQuery(type="load", limit=1000))
    assert seen == [e.seq for e in everything]


async def test_claimers_on_several_connections_share_runs_without_overlap(
    store_url: str, store: Store, make_run: MakeRun
) -> None:
    for _ in range(60):
        await store.runs.create_run(make_run())
    claimers = [await connect_store(store_url) for _ in range(3)]
    claimed: dict[str, list[str]] = {}
    try:
        async with anyio.create_task_group() as tg:

            async def claim(name: str, on: Store) -> None:
                got = claimed.setdefault(name, [])
                while batch := await on.runs.claim_runs(name, 30, limit=5):
                    got += batch

            for i, claimer in enumerate(claimers):
                tg.start_soon(claim, f"w{i}", claimer)
    finally:
        for claimer in claimers:
            await claimer.aclose()
    everyone = [run_id for got in claimed.values() for run_id in got]
    assert len(everyone) == len(set(everyone)) == 60
