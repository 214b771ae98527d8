"""The change feed's `changes()` loop, on both backends: it yields at once, then after a
commit by this process or another, and on an idle tick when nothing is committed."""

from contextlib import aclosing

import anyio

from relay.store.base import Store


async def test_changes_yield_at_once_then_after_another_process_commits(
    store: Store, other_store: Store
) -> None:
    async with aclosing(store.feed.changes(60.0)) as changes:
        with anyio.fail_after(10):
            first = await anext(changes)
            await other_store.presence.touch_participant("elsewhere")
            second = await anext(changes)
    assert second > first


async def test_a_commit_made_while_the_caller_works_is_not_missed(store: Store) -> None:
    seen = []
    with anyio.fail_after(10):
        async for generation in store.feed.changes(60.0):
            seen.append(generation)
            if len(seen) == 2:
                break
            await store.presence.touch_participant("here")  # the work, which commits
    assert seen[1] > seen[0]


async def test_changes_tick_when_nothing_is_committed(store: Store) -> None:
    ticks = []
    with anyio.fail_after(10):
        async for generation in store.feed.changes(0.05):
            ticks.append(generation)
            if len(ticks) == 3:
                break
    assert len(set(ticks)) == 1
