"""Engine benchmark: throughput, latency and memory of relay on one database.

Prints ONE JSON object on stdout; progress goes to stderr. Every key names its unit,
every figure its durability setting, and throughput figures (repeated: the machine is
noisy) carry their ratio to the raw SQLite commit rate measured in the same invocation
with relay's own pragmas. Each scenario gets a fresh temporary RELAY_HOME.

    .venv/bin/python bench/engine.py [--quick] [--only NAME] [--database-url URL]
"""

import argparse
import json
import math
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from anyio.streams.buffered import BufferedByteReceiveStream

from _resume import RESUME_WORKFLOW, emit_resume, resume_seconds
from relay.bootstrap import open_relay
from relay.config import Settings
from relay.model.events import Event
from relay.model.loading import load_workflow
from relay.model.run import Run, RunStatus
from relay.model.workflow import Workflow
from relay.service.relay import Relay
from relay.store.base import EventQuery
from relay.store.sqlite import sqlite_path
from relay.store.sqlite_db import open_connection

Report = dict[str, Any]
Emit = Callable[[str], Awaitable[None]]

BENCH_DIR = Path(__file__).resolve().parent
WARMUP_RUNS = 5  # latency runs done first and left out of the percentiles (imports, caches)
POLL_SECONDS = 0.02  # how often the bench reads the event log for finished runs
TIMEOUT_SECONDS = 600.0  # any single wait; only reached when something is broken


@dataclass(frozen=True)
class Sizes:
    repeats: int
    raw_commits: int
    sequential_steps: int
    concurrent_runs: int
    steps_per_run: int
    latency_runs: int
    waiting_runs: int


FULL_SIZES = Sizes(5, 2000, 1000, 100, 10, 200, 10_000)
QUICK_SIZES = Sizes(2, 200, 100, 10, 10, 20, 500)


@dataclass(frozen=True)
class Options:
    database_url: str | None
    synchronous: str
    only: str | None
    quick: bool

    @property
    def sizes(self) -> Sizes:
        return QUICK_SIZES if self.quick else FULL_SIZES


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# figures ----------------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), interpolated linearly between the nearest ranks."""
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_ms(seconds: Sequence[float]) -> Report:
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": round(percentile(ms, 50), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "max_ms": round(max(ms), 3),
        "samples": len(ms),
    }


def spread(samples: Sequence[float], raw: Report | None = None) -> Report:
    """Median and every sample; with `raw`, the median's ratio to the raw commit rate."""
    figure: Report = {
        "median": round(statistics.median(samples), 1),
        "samples": [round(s, 1) for s in samples],
    }
    if raw is not None:
        figure["ratio_to_raw_commit_rate"] = round(figure["median"] / raw["median"], 3)
    return figure


def raw_rate(report: Report, synchronous: str) -> Report | None:
    return report.get("raw_commit_rate_per_second", {}).get(f"synchronous={synchronous}")


def rss_mib() -> float:
    """The resident set size now (VmRSS), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS in /proc/self/status")


def peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


# relay plumbing ----------------------------------------------------------------------------


@contextmanager
def fresh_home(opts: Options, synchronous: str) -> Iterator[Settings]:
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as home:
        yield Settings(
            home=Path(home),
            database_url=opts.database_url,
            workflows_path=str(Path(home) / "workflows"),  # empty: no catalog scan cost
            sqlite_synchronous=synchronous,  # type: ignore[arg-type]
        )


@asynccontextmanager
async def bench_relay(opts: Options, synchronous: str) -> AsyncIterator[Relay]:
    """A serving Relay (engine, triggers) on a fresh RELAY_HOME."""
    with fresh_home(opts, synchronous) as settings:
        async with open_relay(settings, participant="bench", worker=True) as relay:
            yield relay


def steps_workflow(workflow_id: str, steps: int) -> str:
    lines = [f"id: {workflow_id}", "steps:"]
    lines += [f"  - {{id: s{i}, action: log, params: {{message: step {i}}}}}" for i in range(steps)]
    return "\n".join(lines)


def load(relay: Relay, text: str) -> Workflow:
    return load_workflow(text, catalog=relay.rt.actions)


async def start_runs(relay: Relay, workflow: Workflow, count: int, batch: int) -> None:
    """Start `count` runs, `batch` of them at a time (together, so they share commits)."""
    for first in range(0, count, batch):
        async with anyio.create_task_group() as tg:
            for _ in range(min(batch, count - first)):
                tg.start_soon(relay.start_run, workflow)


async def until(relay: Relay, run_id: str, done: Callable[[Run], bool]) -> Run:
    """The run once `done` holds, awaited through `Relay.wait_run` as a caller would."""
    with anyio.fail_after(TIMEOUT_SECONDS):
        while not done(run := await relay.wait_run(run_id, TIMEOUT_SECONDS)):
            pass
    return run


async def collect_events(relay: Relay, kind: str, after_seq: int, runs: int) -> list[Event]:
    """The first `kind` event of each of `runs` runs after `after_seq`, read incrementally
    from the event log (cheap polling, so the engine keeps the CPU)."""
    seen: dict[str | None, Event] = {}
    with anyio.fail_after(TIMEOUT_SECONDS):
        while len(seen) < runs:
            found = await relay.store.list_events(
                EventQuery(type=kind, after_seq=after_seq, limit=1000)
            )
            for event in found:
                seen.setdefault(event.correlation_id, event)
            if found:
                after_seq = found[-1].seq
            else:
                await anyio.sleep(POLL_SECONDS)
    return list(seen.values())


def last_stamp(events: Sequence[Event]) -> float:
    return max(e.created_at.timestamp() for e in events)


# scenarios ---------------------------------------------------------------------------------


def commit_rate(path: Path, synchronous: str, commits: int) -> float:
    # relay's own connection settings: WAL, busy_timeout and the same synchronous level.
    conn = open_connection(path, synchronous=synchronous)
    try:
        conn.execute("CREATE TABLE probe (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        start = time.perf_counter()
        for i in range(commits):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO probe (body) VALUES (?)", (f"row {i}",))
            conn.execute("COMMIT")
        return commits / (time.perf_counter() - start)
    finally:
        conn.close()


async def raw_commit_rate(opts: Options, report: Report) -> Report:
    # On the database's own disk: next to a given SQLite file, else in the temp directory.
    url = opts.database_url
    if url is not None and not url.startswith("sqlite:"):
        return {"skipped": "only measured for SQLite"}
    near = None if url is None else str(sqlite_path(url).resolve().parent)
    result: Report = {
        "definition": "one small INSERT per BEGIN IMMEDIATE ... COMMIT on a fresh file, "
        "relay's pragmas (WAL, busy_timeout)",
        "commits_per_sample": opts.sizes.raw_commits,
    }
    for synchronous in ("FULL", "NORMAL"):
        samples = []
        for _ in range(opts.sizes.repeats):
            with tempfile.TemporaryDirectory(prefix="relay-raw-", dir=near) as scratch:
                samples.append(
                    await anyio.to_thread.run_sync(
                        commit_rate, Path(scratch) / "raw.db", synchronous, opts.sizes.raw_commits
                    )
                )
        say(f"raw commit rate, synchronous={synchronous}: {statistics.median(samples):.0f}/s")
        result[f"synchronous={synchronous}"] = spread(samples)
    return result


async def steps_per_second(opts: Options, synchronous: str, text: str, runs: int) -> float:
    """All steps of `runs` runs of `text`, started together, per second of wall time."""
    async with bench_relay(opts, synchronous) as relay:
        workflow = load(relay, text)
        cursor = await relay.store.last_seq()
        started = time.time()  # wall clock: the store stamps events with it
        await start_runs(relay, workflow, runs, batch=runs)
        finished = await collect_events(relay, "workflow.completed", cursor, runs)
        return runs * len(workflow.steps) / (last_stamp(finished) - started)


STEPS_DEFINITION = (
    "steps / seconds from the first start_run call to the commit of the last run's "
    "workflow.completed event (its created_at, stamped in the run's final transaction)"
)


async def sequential_steps(opts: Options, report: Report) -> Report:
    steps = opts.sizes.sequential_steps
    text = steps_workflow("bench-sequential", steps)
    result: Report = {"runs": 1, "steps": steps, "action": "log", "definition": STEPS_DEFINITION}
    for synchronous in ("FULL", "NORMAL"):
        samples = [
            await steps_per_second(opts, synchronous, text, runs=1)
            for _ in range(opts.sizes.repeats)
        ]
        say(f"{steps} sequential steps, synchronous={synchronous}: {samples}")
        result[f"synchronous={synchronous}"] = spread(samples, raw_rate(report, synchronous))
    result["target"] = ">= 2500 steps/s with synchronous=FULL"
    return result


async def concurrent_steps(opts: Options, report: Report) -> Report:
    runs, steps = opts.sizes.concurrent_runs, opts.sizes.steps_per_run
    text = steps_workflow("bench-concurrent", steps)
    samples = [
        await steps_per_second(opts, opts.synchronous, text, runs)
        for _ in range(opts.sizes.repeats)
    ]
    say(f"{runs} runs x {steps} steps: {samples}")
    return {
        "durability": f"synchronous={opts.synchronous}",
        "runs": runs,
        "steps_per_run": steps,
        "action": "log",
        "definition": STEPS_DEFINITION,
        **spread(samples, raw_rate(report, opts.synchronous)),
    }


async def one_step_latency(opts: Options, report: Report) -> Report:
    observed: list[float] = []
    in_store: list[float] = []
    async with bench_relay(opts, opts.synchronous) as relay:
        workflow = load(relay, steps_workflow("bench-one-step", 1))
        for i in range(WARMUP_RUNS + opts.sizes.latency_runs):
            start = time.perf_counter()
            run, _ = await relay.start_run(workflow)
            run = await until(relay, run.id, lambda r: r.status.is_final)
            if i >= WARMUP_RUNS:
                observed.append(time.perf_counter() - start)
                in_store.append((run.updated_at - run.created_at).total_seconds())
    say(f"1-step run latency: p50 {percentile(observed, 50) * 1000:.2f} ms")
    return {
        "durability": f"synchronous={opts.synchronous}",
        "definition": "from the start_run call until wait_run returns the completed run; "
        "runs one after another, after a warm-up",
        "warmup_runs": WARMUP_RUNS,
        **latency_ms(observed),
        "in_store": {
            "definition": "run.created_at (built before its first commit) to run.updated_at "
            "(its final transaction): the engine's part, without the caller's wake-up",
            **latency_ms(in_store),
        },
        "target": "p50 <= 1 ms, p99 <= 5 ms",
    }


async def resume_latencies(relay: Relay, emit: Emit, samples: int) -> Report:
    workflow = load(relay, RESUME_WORKFLOW)
    latencies: list[float] = []
    for i in range(WARMUP_RUNS + samples):
        run, _ = await relay.start_run(workflow)
        await until(relay, run.id, lambda r: r.status is RunStatus.WAITING)
        await emit(run.id)
        run = await until(relay, run.id, lambda r: r.status.is_final)
        if run.status is not RunStatus.COMPLETED:
            raise RuntimeError(f"resume probe run {run.id} ended {run.status}: {run.error}")
        if i >= WARMUP_RUNS:
            latencies.append(resume_seconds(run.steps[0].output, run.steps[1].output))
    return latency_ms(latencies)


async def expect(lines: BufferedByteReceiveStream, token: bytes) -> None:
    line = await lines.receive_until(b"\n", 1024)
    if line != token:
        raise RuntimeError(f"the emitter process said {line!r}, not {token!r}")


@asynccontextmanager
async def emitter_process(settings: Settings) -> AsyncIterator[Emit]:
    """`bench/_resume.py` in a second process on the same database (no engine there)."""
    command = [sys.executable, str(BENCH_DIR / "_resume.py"), "--home", str(settings.home)]
    command += ["--database-url", settings.store_url()]
    command += ["--synchronous", settings.sqlite_synchronous]
    async with await anyio.open_process(command, stderr=None) as process:
        assert process.stdin is not None and process.stdout is not None
        stdin, lines = process.stdin, BufferedByteReceiveStream(process.stdout)
        with anyio.fail_after(60):
            await expect(lines, b"ready")

        async def emit(run_id: str) -> None:
            await stdin.send(run_id.encode() + b"\n")
            await expect(lines, b"ok")

        yield emit
        await stdin.aclose()


async def event_to_resume(opts: Options, report: Report) -> Report:
    samples = opts.sizes.latency_runs
    result: Report = {
        "durability": f"synchronous={opts.synchronous}",
        "definition": "from time.perf_counter() just before Relay.emit(...) is called until "
        "the step after wait_for_event starts (a python action reads time.perf_counter() as "
        "its first act); the run is parked (status waiting) before each emit; "
        "CLOCK_MONOTONIC is shared by every process of the machine",
        "warmup_runs": WARMUP_RUNS,
    }
    with fresh_home(opts, opts.synchronous) as settings:
        result["poll_interval_seconds"] = settings.poll_interval_seconds
        async with open_relay(settings, participant="bench", worker=True) as relay:
            say("event-to-resume in one process")
            result["in_process"] = await resume_latencies(
                relay, lambda run_id: emit_resume(relay, run_id), samples
            )
            say("event-to-resume across two processes")
            async with emitter_process(settings) as remote:
                result["across_processes"] = await resume_latencies(relay, remote, samples)
    result["target"] = "in_process p50 <= 1 ms; across_processes p99 <= 50 ms"
    return result


async def in_fresh_process(opts: Options, name: str) -> Report:
    command = [sys.executable, str(Path(__file__).resolve()), "--only", name]
    command += ["--synchronous", opts.synchronous] + (["--quick"] if opts.quick else [])
    command += ["--database-url", opts.database_url] if opts.database_url else []
    done = await anyio.run_process(command, stderr=None)
    figures: Report = json.loads(done.stdout)[SCENARIOS[name][0]]
    return {"process": "a fresh child process, so that RSS counts this scenario alone", **figures}


WAITING_WORKFLOW = """
id: bench-waiting
steps:
  - {id: wait, action: wait_for_event, params: {type: bench.all}}
  - {id: after, action: log, params: {message: resumed}}
"""


async def waiting_runs(opts: Options, report: Report) -> Report:
    if opts.only != "waiting_runs":
        return await in_fresh_process(opts, "waiting_runs")
    count = opts.sizes.waiting_runs
    async with bench_relay(opts, opts.synchronous) as relay:
        workflow = load(relay, WAITING_WORKFLOW)
        rss_before = rss_mib()
        cursor, start = await relay.store.last_seq(), time.perf_counter()
        await start_runs(relay, workflow, count, batch=500)
        await collect_events(relay, "workflow.waiting", cursor, count)
        park_seconds, rss_parked = time.perf_counter() - start, rss_mib()
        say(f"{count} runs parked in {park_seconds:.1f} s; RSS {rss_parked} MiB")
        cursor, emitted, start = await relay.store.last_seq(), time.time(), time.perf_counter()
        emitted_event = await relay.emit("bench.all")
        emit_seconds = time.perf_counter() - start
        finished = await collect_events(relay, "workflow.completed", cursor, count)
        resume_seconds = last_stamp(finished) - emitted
    say(f"{count} runs resumed in {resume_seconds:.2f} s")
    return {
        "durability": f"synchronous={opts.synchronous}",
        "runs": count,
        "rss_mib_before_starting": rss_before,
        "rss_mib_all_parked": rss_parked,
        "rss_kib_per_parked_run": round((rss_parked - rss_before) * 1024 / count, 2),
        "peak_rss_mib": peak_rss_mib(),
        "seconds_to_start_and_park_all": round(park_seconds, 2),
        "emit_call_seconds": round(emit_seconds, 3),
        "runs_woken_by_the_emit": len(emitted_event.resumed_runs),
        "resume_all_seconds": round(resume_seconds, 3),
        "resume_all_definition": "from the emit call of one matching event to the final "
        "transaction of the last of the runs (its workflow.completed event's created_at)",
        "target": "< 100 MB RSS in total with all parked; all resumed within 5 s",
    }


Scenario = Callable[[Options, Report], Awaitable[Report]]
SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "raw_commit_rate": ("raw_commit_rate_per_second", raw_commit_rate),
    "sequential_steps": ("sequential_steps_per_second", sequential_steps),
    "concurrent_steps": ("concurrent_steps_per_second", concurrent_steps),
    "one_step_latency": ("one_step_run_latency_ms", one_step_latency),
    "event_to_resume": ("event_to_resume_latency_ms", event_to_resume),
    "waiting_runs": ("waiting_runs", waiting_runs),
}
NEEDS_RAW_RATE = {"sequential_steps", "concurrent_steps"}


def header(opts: Options) -> Report:
    clock = time.get_clock_info("perf_counter")
    return {
        "durability": f"synchronous={opts.synchronous}",
        "durability_note": "every figure uses this setting unless it names its own",
        "database": opts.database_url or "sqlite: a fresh temporary file per scenario",
        "quick": opts.quick,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "sqlite_version": sqlite3.sqlite_version,
        "time_resolution": {
            "perf_counter": f"{clock.implementation}, {clock.resolution:g} s",
            "wall_clock": f"{time.get_clock_info('time').implementation}, "
            f"{time.get_clock_info('time').resolution:g} s (store timestamps: 1 us)",
        },
    }


async def run(opts: Options) -> Report:
    names = [opts.only] if opts.only else list(SCENARIOS)
    if NEEDS_RAW_RATE & set(names) and "raw_commit_rate" not in names:
        names.insert(0, "raw_commit_rate")
    report = header(opts)
    for name in names:
        key, scenario = SCENARIOS[name]
        say(f"scenario {name}")
        report[key] = await scenario(opts, report)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description="relay engine benchmark (JSON on stdout)")
    parser.add_argument("--database-url", help="default: a fresh temporary SQLite file")
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke test")
    parser.add_argument("--only", choices=list(SCENARIOS), help="run one scenario")
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL")
    args = parser.parse_args()
    opts = Options(args.database_url, args.synchronous, args.only, args.quick)
    print(json.dumps(anyio.run(run, opts), indent=2))


if __name__ == "__main__":
    main()
