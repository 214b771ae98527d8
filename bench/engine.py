"""Engine benchmark: throughput, latency and memory of relay on one database.

Prints ONE JSON object on stdout; progress goes to stderr. Every key names its unit and
every figure its durability setting. Throughput figures are repeated (the machine is
noisy) and carry their ratio to the raw SQLite commit rate, measured in the same
invocation with relay's own pragmas. Each scenario gets a fresh temporary RELAY_HOME (and
on PostgreSQL a fresh schema). With a postgresql:// URL the figures are PostgreSQL's: its
durability is the server's (`synchronous_commit`, `fsync`), reported in the header, and the
raw commit rate is one INSERT per transaction through psycopg.

    .venv/bin/python bench/engine.py [--quick] [--only NAME] [--database-url URL]
"""

import argparse
import hashlib
import json
import math
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from _harness import (
    bench_relay,
    collect_events,
    fresh_home,
    fresh_schema,
    is_postgres,
    last_stamp,
    load,
    log_steps,
    start_runs,
    until,
)
from _resume import RESUME_WORKFLOW, emit_resume, emitter_process, resume_seconds

import relay
from relay.bootstrap import Role, open_relay
from relay.model.run import RunStatus
from relay.service.services import Services
from relay.store.sqlite import sqlite_path
from relay.store.sqlite_db import open_connection

Report = dict[str, Any]
SCRIPT = str(Path(__file__).resolve())
WARMUP_RUNS = 5  # latency runs done first and left out of the percentiles (imports, caches)
START_BATCH = 500  # waiting runs started together: a burst, not 10,000 tasks at once


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
    server_durability: str | None = None  # PostgreSQL's, e.g. "synchronous_commit=on"

    @property
    def sizes(self) -> Sizes:
        return QUICK_SIZES if self.quick else FULL_SIZES

    @property
    def durability(self) -> str:
        return self.server_durability or f"synchronous={self.synchronous}"

    @property
    def settings_to_compare(self) -> list[str]:
        """SQLite's two synchronous settings, or PostgreSQL's one server setting."""
        return [self.server_durability] if self.server_durability else ["FULL", "NORMAL"]

    def label(self, setting: str) -> str:
        return setting if self.server_durability else f"synchronous={setting}"


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


def raw_rate(report: Report, label: str) -> Report | None:
    raw: Report = report.get("raw_commit_rate_per_second", {})
    return raw.get(label)


def rss_mib() -> float:
    """The resident set size now (VmRSS), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS in /proc/self/status")


# scenarios ---------------------------------------------------------------------------------


def commit_rate(path: Path, synchronous: str, commits: int) -> float:
    conn = open_connection(path, synchronous=synchronous)  # relay's pragmas, WAL included
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


def postgres_commit_rate(url: str, commits: int) -> float:
    import psycopg

    with fresh_schema(url) as schema_url, psycopg.connect(schema_url) as conn:
        conn.execute("CREATE TABLE probe (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)")
        conn.commit()
        start = time.perf_counter()
        for i in range(commits):
            conn.execute("INSERT INTO probe (body) VALUES (%s)", (f"row {i}",))
            conn.commit()
        return commits / (time.perf_counter() - start)


async def raw_commit_rate(opts: Options, report: Report) -> Report:
    url = opts.database_url
    if is_postgres(url) and opts.server_durability:
        assert url is not None
        samples = [
            await anyio.to_thread.run_sync(postgres_commit_rate, url, opts.sizes.raw_commits)
            for _ in range(opts.sizes.repeats)
        ]
        say(f"raw commit rate, {opts.server_durability}: {statistics.median(samples):.0f}/s")
        return {
            "definition": "one small INSERT per transaction (psycopg, one connection, "
            "a fresh schema)",
            "commits_per_sample": opts.sizes.raw_commits,
            opts.server_durability: spread(samples),
        }
    # On the database's own disk: beside a given SQLite file, else in the temp directory.
    near = None if url is None else str(sqlite_path(url).resolve().parent)
    result: Report = {
        "definition": "one small INSERT per BEGIN IMMEDIATE ... COMMIT on a fresh file "
        "opened with relay's open_connection (WAL, busy_timeout, synchronous)",
        "commits_per_sample": opts.sizes.raw_commits,
    }
    for synchronous in ("FULL", "NORMAL"):
        samples = []
        for _ in range(opts.sizes.repeats):
            with tempfile.TemporaryDirectory(prefix="relay-raw-", dir=near) as scratch:
                path, commits = Path(scratch) / "raw.db", opts.sizes.raw_commits
                samples.append(
                    await anyio.to_thread.run_sync(commit_rate, path, synchronous, commits)
                )
        say(f"raw commit rate, synchronous={synchronous}: {statistics.median(samples):.0f}/s")
        result[f"synchronous={synchronous}"] = spread(samples)
    return result


STEPS_DEFINITION = (
    "steps / seconds from the first start_run call to the last run's final transaction "
    "(the created_at of its workflow.completed event); no-op `log` steps"
)


async def steps_per_second(opts: Options, synchronous: str, text: str, runs: int) -> float:
    """All steps of `runs` runs of `text`, started together, per second of wall time."""
    async with bench_relay(opts.database_url, synchronous) as relay:
        workflow = load(relay, text)
        cursor = await relay.store.events.last_seq()
        started = time.time()  # the wall clock: the store stamps events with it
        await start_runs(relay, workflow, runs, batch=runs)
        finished = await collect_events(relay, "workflow.completed", cursor, runs)
        return runs * len(workflow.steps) / (last_stamp(finished) - started)


async def sequential_steps(opts: Options, report: Report) -> Report:
    steps = opts.sizes.sequential_steps
    result: Report = {"runs": 1, "steps": steps, "definition": STEPS_DEFINITION}
    for setting in opts.settings_to_compare:
        text = log_steps("bench-sequential", steps)
        synchronous = opts.synchronous if opts.server_durability else setting
        samples = [
            await steps_per_second(opts, synchronous, text, runs=1)
            for _ in range(opts.sizes.repeats)
        ]
        label = opts.label(setting)
        say(f"{steps} sequential steps/s, {label}: {samples}")
        result[label] = spread(samples, raw_rate(report, label))
    if opts.server_durability:
        return {**result, "target": ">= 1000 steps/s with synchronous commits (PostgreSQL)"}
    return {**result, "target": ">= 2500 steps/s with synchronous=FULL"}


async def concurrent_steps(opts: Options, report: Report) -> Report:
    runs, steps = opts.sizes.concurrent_runs, opts.sizes.steps_per_run
    text = log_steps("bench-concurrent", steps)
    samples = [
        await steps_per_second(opts, opts.synchronous, text, runs)
        for _ in range(opts.sizes.repeats)
    ]
    say(f"{runs} runs x {steps} steps, steps/s: {samples}")
    figure = spread(samples, raw_rate(report, opts.durability))
    return {"durability": opts.durability, "runs": runs, "steps_per_run": steps, **figure}


async def one_step_latency(opts: Options, report: Report) -> Report:
    observed: list[float] = []
    in_store: list[float] = []
    async with bench_relay(opts.database_url, opts.synchronous) as relay:
        workflow = load(relay, log_steps("bench-one-step", 1))
        for i in range(WARMUP_RUNS + opts.sizes.latency_runs):
            start = time.perf_counter()
            run, _ = await relay.runs.start_run(workflow)
            run = await until(relay, run.id, lambda r: r.status.is_final)
            if i >= WARMUP_RUNS:
                observed.append(time.perf_counter() - start)
                in_store.append((run.updated_at - run.created_at).total_seconds())
    say(f"1-step run latency: p50 {percentile(observed, 50) * 1000:.2f} ms")
    return {
        "durability": opts.durability,
        "definition": "from the start_run call until the caller, woken by the store's "
        "change feed, reads the completed run; runs one after another",
        "warmup_runs": WARMUP_RUNS,
        **latency_ms(observed),
        "in_store": {
            "definition": "run.created_at (taken before its first commit) to run.updated_at "
            "(taken in its final transaction): the engine's share",
            **latency_ms(in_store),
        },
        "target": "p50 <= 1 ms, p99 <= 5 ms",
    }


async def resume_latencies(
    relay: Services, emit: Callable[[str], Awaitable[None]], samples: int
) -> Report:
    workflow = load(relay, RESUME_WORKFLOW)
    latencies: list[float] = []
    for i in range(WARMUP_RUNS + samples):
        run, _ = await relay.runs.start_run(workflow)
        await until(relay, run.id, lambda r: r.status is RunStatus.WAITING)
        await emit(run.id)
        run = await until(relay, run.id, lambda r: r.status.is_final)
        if run.status is not RunStatus.COMPLETED:
            raise RuntimeError(f"resume probe run {run.id} ended {run.status}: {run.error}")
        if i >= WARMUP_RUNS:
            latencies.append(resume_seconds(run.steps[0].output, run.steps[1].output))
    return latency_ms(latencies)


async def event_to_resume(opts: Options, report: Report) -> Report:
    samples = opts.sizes.latency_runs
    result: Report = {
        "durability": opts.durability,
        "definition": "from time.perf_counter() just before Relay.emit(...) is called until "
        "the step after wait_for_event starts (a `python` action whose first act is "
        "time.perf_counter()); each run is parked (status waiting) before its emit; "
        "perf_counter is CLOCK_MONOTONIC, one clock for every process of the machine",
        "warmup_runs": WARMUP_RUNS,
    }
    with fresh_home(opts.database_url, opts.synchronous) as settings:
        result["poll_interval_seconds"] = settings.poll_interval_seconds
        async with open_relay(settings, Role.SERVER, participant="bench") as relay:
            say("event-to-resume in one process")
            result["in_process"] = await resume_latencies(
                relay, lambda run_id: emit_resume(relay, run_id), samples
            )
            say("event-to-resume across two processes (emitter has no engine)")
            async with emitter_process(settings) as remote:
                result["across_processes"] = await resume_latencies(relay, remote, samples)
    if opts.server_durability:
        result["wake_up"] = "LISTEN/NOTIFY (the poll interval does not apply)"
        return {**result, "target": "across_processes p99 <= 20 ms (PostgreSQL)"}
    return {**result, "target": "in_process p50 <= 1 ms; across_processes p99 <= 50 ms"}


WAITING_WORKFLOW = """
id: bench-waiting
steps:
  - {id: wait, action: wait_for_event, params: {type: bench.all}}
  - {id: after, action: log, params: {message: resumed}}
"""


async def in_fresh_process(opts: Options, name: str) -> Report:
    command = [sys.executable, SCRIPT, "--only", name, "--synchronous", opts.synchronous]
    command += (["--quick"] if opts.quick else []) + (
        ["--database-url", opts.database_url] if opts.database_url else []
    )
    done = await anyio.run_process(command, stderr=None)
    figures: Report = json.loads(done.stdout)[SCENARIOS[name][0]]
    return {"process": "a fresh child process: its RSS counts this scenario alone", **figures}


async def waiting_runs(opts: Options, report: Report) -> Report:
    if opts.only != "waiting_runs":
        return await in_fresh_process(opts, "waiting_runs")
    count = opts.sizes.waiting_runs
    async with bench_relay(opts.database_url, opts.synchronous) as relay:
        workflow, rss_before = load(relay, WAITING_WORKFLOW), rss_mib()
        cursor, start = await relay.store.events.last_seq(), time.perf_counter()
        await start_runs(relay, workflow, count, batch=START_BATCH)
        await collect_events(relay, "workflow.waiting", cursor, count)
        park_seconds, rss_parked = time.perf_counter() - start, rss_mib()
        say(f"{count} runs parked in {park_seconds:.1f} s; RSS {rss_parked} MiB")
        cursor, emitted, start = (
            await relay.store.events.last_seq(),
            time.time(),
            time.perf_counter(),
        )
        emit_result = await relay.events.emit("bench.all")
        emit_seconds = time.perf_counter() - start
        finished = await collect_events(relay, "workflow.completed", cursor, count)
        resume_all = last_stamp(finished) - emitted
    say(f"{count} runs resumed in {resume_all:.2f} s")
    return {
        "durability": opts.durability,
        "runs": count,
        "runs_started_together": START_BATCH,
        "rss_mib_before_starting": rss_before,
        "rss_mib_all_parked": rss_parked,
        "rss_growth_kib_per_run": round((rss_parked - rss_before) * 1024 / count, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "seconds_to_start_and_park_all": round(park_seconds, 2),
        "emit_call_seconds": round(emit_seconds, 3),
        "runs_woken_by_the_emit": len(emit_result.resumed_runs),
        "resume_all_seconds": round(resume_all, 3),
        "resume_all_definition": "from the emit call of one matching event to the final "
        "transaction of the last run (the created_at of its workflow.completed event)",
        "target": "< 100 MB (95.4 MiB) RSS in total with all parked; all resumed within 5 s",
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


def source_digest() -> str:
    """Of relay's sources as run: the engine changes often, figures belong to one version."""
    digest = hashlib.sha256()
    for path in sorted(Path(relay.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def header(opts: Options) -> Report:
    clocks = {name: time.get_clock_info(name) for name in ("perf_counter", "time")}
    return {
        "durability": opts.durability,
        "durability_note": "every figure uses this setting unless it names its own",
        "database": opts.database_url or "sqlite: a fresh temporary file per scenario",
        "quick": opts.quick,
        "relay_sources_sha256": source_digest(),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],  # others' noise
        "sqlite_version": sqlite3.sqlite_version,
        **({"postgresql": postgres_facts(opts.database_url)} if opts.server_durability else {}),
        "clock_resolution_seconds": {
            f"{name} ({info.implementation})": info.resolution for name, info in clocks.items()
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


def postgres_facts(url: str | None) -> Report:
    import psycopg

    assert url is not None
    with psycopg.connect(url) as conn:
        facts: Report = {
            name: str((conn.execute(f"SHOW {name}").fetchone() or ("?",))[0])
            for name in ("server_version", "synchronous_commit", "fsync", "wal_sync_method")
        }
    return facts


def main() -> None:
    parser = argparse.ArgumentParser(description="relay engine benchmark (JSON on stdout)")
    parser.add_argument("--database-url", help="default: a fresh temporary SQLite file")
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--only", choices=list(SCENARIOS), help="run this scenario alone")
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL")
    args = parser.parse_args()
    opts = Options(args.database_url, args.synchronous, args.only, args.quick)
    if is_postgres(args.database_url):
        facts = postgres_facts(args.database_url)
        durability = f"synchronous_commit={facts['synchronous_commit']}, fsync={facts['fsync']}"
        opts = Options(args.database_url, args.synchronous, args.only, args.quick, durability)
    print(json.dumps(anyio.run(run, opts), indent=2))


if __name__ == "__main__":
    main()
