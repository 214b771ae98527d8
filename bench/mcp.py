"""MCP benchmark: relay's MCP server over stdio beside a bare SDK server, in one run.

Prints ONE JSON object on stdout; progress goes to stderr. Both servers are spawned by the
SDK's own client (`mcp.Client` over `stdio_client`), on the same machine, in the same run:

- `round_trip`: `get_status(run_id)` of a completed run on `relay serve`, beside `echo` on
  `_bare_server.py` (a bare `MCPServer` with one tool). Both processes stay up; after a
  warm-up, calls alternate between them in blocks, so that a noisy moment hits both. p50 and
  p99 of each, and relay/bare ratios. Measured in both protocol eras: 2026-07-28 (what the
  SDK's client speaks by default) and the 2025 handshake era (`mode="legacy"`).
- `spawn_to_initialized`: from spawning the process to the `initialize` answer (entering a
  `Client(mode="legacy")` context: spawn, `initialize`, its result), each server spawned
  several times, alternating, after one unmeasured spawn each; medians and their ratio.
- `sigint_to_exit`: `relay serve` with a running run (a `shell` step) and a run waiting
  at an approval, sent SIGINT as Claude Code stops it; from the signal to the process's
  exit (leases handed back, store closed), several times: p50 and p95 against 100 ms.

    .venv/bin/python bench/mcp.py [--calls 500] [--spawns 9] [--stops 20] [--quick]
"""

import argparse
import json
import math
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from importlib.metadata import version
from pathlib import Path
from typing import Any, TextIO

# This file is bench/mcp.py: while bench/ leads sys.path, `import mcp` would import it.
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]

import anyio  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

from relay.bootstrap import Role, open_relay  # noqa: E402
from relay.config import Settings  # noqa: E402
from relay.model.loading import load_workflow  # noqa: E402

sys.path.append(str(BENCH))
from _harness import log_steps, until  # noqa: E402

Report = dict[str, Any]
BARE_SERVER = str(BENCH / "_bare_server.py")
TARGET_RATIO = 1.5  # get_status against the bare echo tool (issue: at most 1.5x)
SPAWN_TARGET_RATIO = 1.15
STOP_TARGET_MS = 100.0  # Claude Code sends SIGTERM 100 ms after SIGINT
BLOCK = 25  # calls to one server before switching to the other
VALIDATIONS = 200  # client-side output-schema checks timed to explain the round trip
ERAS = {"2026-07-28": "auto", "2025 handshake (legacy)": "legacy"}


def progress(message: str) -> None:
    print(f"[bench/mcp] {message}", file=sys.stderr, flush=True)


def relay_server(home: Path) -> StdioServerParameters:
    env = {
        "RELAY_HOME": str(home),
        "RELAY_WORKFLOWS_PATH": str(home / "workflows"),
        "RELAY_PARTICIPANT": "bench",
    }
    return StdioServerParameters(
        command=sys.executable, args=["-m", "relay", "serve"], env=env, cwd=home
    )


def bare_server() -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[BARE_SERVER])


async def completed_run(home: Path) -> str:
    """A run of three `log` steps, driven to completion in this process."""
    settings = Settings(home=home, workflows_path=str(home / "workflows"))
    async with open_relay(settings, Role.SERVER, participant="bench") as relay:
        workflow = load_workflow(log_steps("bench", 3), catalog=relay.runtime.actions)
        run, _ = await relay.runs.start_run(workflow)
        done = await until(relay, run.id, lambda r: r.status.is_final)
    assert done.status.value == "completed", done
    return done.id


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summary(samples: list[float]) -> Report:
    return {
        "p50_ms": ms(statistics.median(samples)),
        "p99_ms": ms(percentile(samples, 0.99)),
        "mean_ms": ms(statistics.fmean(samples)),
        "min_ms": ms(min(samples)),
    }


def verdict(ratio: float, target: float = TARGET_RATIO) -> Report:
    return {"target_ratio": target, "ratio": ratio, "met": ratio <= target}


async def timed(call: Callable[[], Awaitable[None]], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


async def round_trip(home: Path, run_id: str, mode: str, calls: int, warmup: int) -> Report:
    async with AsyncExitStack() as stack:
        errlog = stack.enter_context((home / f"serve-{mode}.log").open("w"))
        relay = await stack.enter_async_context(
            Client(stdio_client(relay_server(home), errlog=errlog), mode=mode, cache=None)
        )
        bare = await stack.enter_async_context(
            Client(stdio_client(bare_server(), errlog=errlog), mode=mode, cache=None)
        )

        async def get_status() -> None:
            result = await relay.call_tool("get_status", {"run_id": run_id})
            assert not result.is_error, result.content

        async def echo() -> None:
            result = await bare.call_tool("echo", {"text": run_id})
            assert not result.is_error, result.content

        first = await relay.call_tool("get_status", {"run_id": run_id})
        status = (first.structured_content or {}).get("status")
        assert status == "completed", first.content
        await timed(get_status, warmup)
        await timed(echo, warmup)
        relay_samples: list[float] = []
        bare_samples: list[float] = []
        while len(relay_samples) < calls:
            block = min(BLOCK, calls - len(relay_samples))
            relay_samples += await timed(get_status, block)
            bare_samples += await timed(echo, block)
        era = relay.protocol_version
        explain = await client_side_share(relay, bare, run_id)
    relay_figures, bare_figures = summary(relay_samples), summary(bare_samples)
    return {
        "protocol_version": era,
        "relay_get_status": relay_figures,
        "bare_echo": bare_figures,
        "ratio_p50": round(relay_figures["p50_ms"] / bare_figures["p50_ms"], 3),
        "ratio_p99": round(relay_figures["p99_ms"] / bare_figures["p99_ms"], 3),
        "within_the_round_trip": explain,
    }


async def client_side_share(relay: Client, bare: Client, run_id: str) -> Report:
    """What part of each round trip the SDK client spends checking the structured result
    against the tool's output schema (jsonschema, in Python), and the result sizes."""
    status = await relay.call_tool("get_status", {"run_id": run_id})
    echoed = await bare.call_tool("echo", {"text": run_id})

    def check(client: Client, name: str, result: Any) -> Callable[[], Awaitable[None]]:
        return lambda: client.session.validate_tool_result(name, result)

    relay_check = await timed(check(relay, "get_status", status), VALIDATIONS)
    bare_check = await timed(check(bare, "echo", echoed), VALIDATIONS)
    return {
        "client_output_validation_p50_ms": {
            "relay_get_status": ms(statistics.median(relay_check)),
            "bare_echo": ms(statistics.median(bare_check)),
        },
        "result_bytes": {
            "relay_get_status": len(status.model_dump_json(by_alias=True, exclude_none=True)),
            "bare_echo": len(echoed.model_dump_json(by_alias=True, exclude_none=True)),
        },
    }


async def spawn_seconds(server: StdioServerParameters, errlog: TextIO) -> float:
    start = time.perf_counter()
    async with Client(stdio_client(server, errlog=errlog), mode="legacy", cache=None) as client:
        elapsed = time.perf_counter() - start
        assert client.protocol_version is not None
    return elapsed


async def spawn_to_initialized(home: Path, spawns: int) -> Report:
    servers = {"relay_serve": relay_server(home), "bare": bare_server()}
    samples: dict[str, list[float]] = {name: [] for name in servers}
    with (home / "spawn.log").open("w") as errlog:
        for server in servers.values():  # unmeasured: fills the OS file cache
            await spawn_seconds(server, errlog)
        for i in range(spawns):
            for name, server in servers.items():
                samples[name].append(await spawn_seconds(server, errlog))
            progress(
                f"spawn {i + 1}/{spawns}: "
                + ", ".join(f"{n} {ms(s[-1])} ms" for n, s in samples.items())
            )
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = round(medians["relay_serve"] / medians["bare"], 3)
    return {
        "definition": "spawn -> initialize result, SDK client in legacy mode; median per server",
        "spawns_each": spawns,
        **{
            name: {"median_ms": ms(medians[name]), "samples_ms": [ms(s) for s in values]}
            for name, values in samples.items()
        },
        "ratio": ratio,
        "target": verdict(ratio, SPAWN_TARGET_RATIO),
    }


def busy_home(home: Path) -> None:
    (home / "workflows" / "bench_slow.yaml").write_text(
        "id: bench_slow\nsteps:\n  - {id: work, action: shell, params: {command: 'sleep 30'}}\n"
    )
    (home / "workflows" / "bench_gate.yaml").write_text(
        "id: bench_gate\nsteps:\n  - {id: gate, action: approval, params: {message: ok?}}\n"
    )


async def one_stop(home: Path, errlog: TextIO) -> float:
    """Seconds from SIGINT to the exit of a `relay serve` with a running and a waiting run."""
    server = relay_server(home)
    argv = [server.command, *server.args]
    env = {**os.environ, **(server.env or {})}
    async with await anyio.open_process(argv, env=env, cwd=home, stderr=errlog) as process:
        client = RawClient(process)
        await client.request("initialize", INITIALIZE)
        await client.request("tools/call", {"name": "start_workflow",
                                            "arguments": {"workflow": "bench_slow"}})  # fmt: skip
        await client.request("tools/call", {"name": "start_workflow",
                                            "arguments": {"workflow": "bench_gate",
                                                          "wait_seconds": 10}})  # fmt: skip
        await anyio.sleep(0.3)  # the shell step is running
        started = time.perf_counter()
        process.send_signal(signal.SIGINT)
        await process.wait()
        return time.perf_counter() - started


async def sigint_to_exit(home: Path, stops: int) -> Report:
    busy_home(home)
    samples = []
    with (home / "stop.log").open("w") as errlog:
        for i in range(stops):
            samples.append(await one_stop(home, errlog))
            progress(f"stop {i + 1}/{stops}: {ms(samples[-1])} ms")
    p95 = percentile(samples, 0.95)
    return {
        "definition": (
            "SIGINT -> exit of `relay serve` (stdio) holding a running shell step and a run "
            "parked at an approval; includes handing the leases back and closing the store"
        ),
        "stops": stops,
        "p50_ms": ms(statistics.median(samples)),
        "p95_ms": ms(p95),
        "samples_ms": [ms(s) for s in samples],
        "target": {"p95_ms_at_most": STOP_TARGET_MS, "met": ms(p95) <= STOP_TARGET_MS},
    }


INITIALIZE = {"protocolVersion": "2025-11-25", "capabilities": {},
              "clientInfo": {"name": "bench", "version": "1"}}  # fmt: skip


class RawClient:
    """Just enough JSON-RPC over a process's pipes to start runs before a SIGINT."""

    def __init__(self, process: Any) -> None:
        self.process = process
        self.next_id = 1
        self.buffer = b""

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id, self.next_id = self.next_id, self.next_id + 1
        line = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method,
                           "params": params})  # fmt: skip
        await self.process.stdin.send(line.encode() + b"\n")
        while True:
            while b"\n" not in self.buffer:
                self.buffer += await self.process.stdout.receive()
            raw, self.buffer = self.buffer.split(b"\n", 1)
            message: dict[str, Any] = json.loads(raw)
            if message.get("id") == request_id and "method" not in message:
                return message


async def main(calls: int, warmup: int, spawns: int, stops: int) -> Report:
    with tempfile.TemporaryDirectory(prefix="relay-bench-mcp-") as tmp:
        home = Path(tmp)
        (home / "workflows").mkdir()
        run_id = await completed_run(home)
        progress(f"completed run {run_id}; spawning each server {spawns + 1} times")
        spawn = await spawn_to_initialized(home, spawns)
        progress(f"SIGINT to exit, {stops} times")
        stop = await sigint_to_exit(home, stops)
        eras: Report = {}
        for label, mode in ERAS.items():
            progress(f"round trips, {label}: {warmup} warm-up + {calls} calls each")
            eras[label] = await round_trip(home, run_id, mode, calls, warmup)
            progress(f"  {json.dumps(eras[label])}")
    modern = eras["2026-07-28"]
    return {
        "benchmark": "mcp",
        "machine": {
            "python": platform.python_version(),
            "mcp": version("mcp"),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "round_trip": {
            "definition": (
                "relay get_status(run_id) of a completed run vs bare echo(text), over stdio, "
                f"one process each; {calls} calls each after {warmup} warm-up, alternating "
                f"in blocks of {BLOCK}"
            ),
            "calls": calls,
            "eras": eras,
            "target": verdict(modern["ratio_p50"]) | {"era": "2026-07-28", "figure": "p50"},
        },
        "spawn_to_initialized": spawn,
        "sigint_to_exit": stop,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--spawns", type=int, default=9)
    parser.add_argument("--stops", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="50 calls, 3 spawns, 5 stops")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.warmup, args.spawns, args.stops = 50, 10, 3, 5
    report = anyio.run(main, args.calls, args.warmup, args.spawns, args.stops)
    print(json.dumps(report, indent=2))
