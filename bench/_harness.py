"""How the benchmark drives relay: a fresh RELAY_HOME per scenario, workflows, starting
runs together, and awaiting them without loading the engine it measures."""

import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import quote

import anyio

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.model.events import Event
from relay.model.loading import load_workflow
from relay.model.run import Run
from relay.model.workflow import Workflow
from relay.service.services import Services
from relay.store.base import EventQuery

POLL_SECONDS = 0.02  # how often the event log is read for finished runs
TIMEOUT_SECONDS = 600.0  # for any one wait; reached only when something is broken


def is_postgres(database_url: str | None) -> bool:
    return database_url is not None and database_url.startswith(("postgresql:", "postgres:"))


@contextmanager
def fresh_schema(database_url: str) -> Iterator[str]:
    """A new schema on the PostgreSQL database (dropped afterwards); yields its URL."""
    import psycopg

    schema = f"relay_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    options = quote(f"-csearch_path={schema}", safe="")
    try:
        yield f"{database_url}{'&' if '?' in database_url else '?'}options={options}"
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def fresh_home(database_url: str | None, synchronous: str) -> Iterator[Settings]:
    """A new RELAY_HOME, and on PostgreSQL a new schema: each scenario starts empty."""
    with contextlib.ExitStack() as stack:
        home = stack.enter_context(tempfile.TemporaryDirectory(prefix="relay-bench-"))
        if is_postgres(database_url):
            assert database_url is not None
            database_url = stack.enter_context(fresh_schema(database_url))
        yield Settings(
            home=Path(home),
            database_url=database_url,
            workflows_path=str(Path(home) / "workflows"),  # none: no catalog to scan
            sqlite_synchronous=synchronous,
        )


@asynccontextmanager
async def bench_relay(database_url: str | None, synchronous: str) -> AsyncIterator[Services]:
    """A serving Services (engine and triggers, as `relay serve`) on a fresh RELAY_HOME."""
    with fresh_home(database_url, synchronous) as settings:
        async with open_relay(settings, Role.SERVER, participant="bench") as relay:
            yield relay


def log_steps(workflow_id: str, steps: int) -> str:
    """YAML of a workflow of `steps` sequential no-op (`log`) steps."""
    lines = [f"id: {workflow_id}", "steps:"]
    lines += [f"  - {{id: s{i}, action: log, params: {{message: step {i}}}}}" for i in range(steps)]
    return "\n".join(lines)


def load(relay: Services, text: str) -> Workflow:
    return load_workflow(text, catalog=relay.runtime.actions)


async def start_runs(relay: Services, workflow: Workflow, count: int, batch: int) -> None:
    """Start `count` runs, `batch` of them together (so that they share commits)."""
    for first in range(0, count, batch):
        async with anyio.create_task_group() as tg:
            for _ in range(min(batch, count - first)):
                tg.start_soon(relay.start_run, workflow)


async def until(relay: Services, run_id: str, done: Callable[[Run], bool]) -> Run:
    """The run once `done` holds. (`Relay.wait_run` cannot serve here: it returns only on
    a change from the status *it* first reads, so a waiter can miss `running -> waiting`.)"""
    with anyio.fail_after(TIMEOUT_SECONDS):
        while True:
            generation = relay.store.feed.generation()
            run = await relay.runs.get_run(run_id)
            if done(run):
                return run
            await relay.store.feed.wait_changed(generation, 1.0)


async def collect_events(relay: Services, kind: str, after_seq: int, runs: int) -> list[Event]:
    """The first `kind` event of each of `runs` runs after `after_seq`, read from the log
    incrementally (by cheap polling: the engine keeps the CPU)."""
    seen: dict[str | None, Event] = {}
    with anyio.fail_after(TIMEOUT_SECONDS):
        while len(seen) < runs:
            query = EventQuery(type=kind, after_seq=after_seq, limit=1000)
            found = await relay.store.events.list_events(query)
            for event in found:
                seen.setdefault(event.correlation_id, event)
            if found:
                after_seq = found[-1].seq
            else:
                await anyio.sleep(POLL_SECONDS)
    return list(seen.values())


def last_stamp(events: Sequence[Event]) -> float:
    """The latest `created_at` (UNIX seconds): stamped inside the transaction that wrote it."""
    return max(e.created_at.timestamp() for e in events)
