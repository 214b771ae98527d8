"""A separate relay process for the multi-process tests, run as a script:

    python workers.py serve HOME WORKFLOWS PARTICIPANT LEASE_SECONDS [DATABASE_URL]
        open relay with an engine on HOME's database (or DATABASE_URL's) and serve
        until killed; prints `ready` once the engine runs
    python workers.py emit HOME TYPE COUNT [DATA_JSON]
        append COUNT events (no engine) and print their seqs as one JSON list
    python workers.py approve HOME RUN_ID STEP APPROVER
        approve a step (no engine) and print the result as JSON

Settings are built explicitly from the arguments; the environment's RELAY_* are ignored.
"""

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from relay.bootstrap import Role, open_relay
from relay.config import Settings


def _settings(
    home: str, workflows: str = "", lease_seconds: float = 1.0, database_url: str = ""
) -> Settings:
    return Settings(
        home=Path(home),
        database_url=database_url or None,
        workflows_path=workflows or str(Path(home) / "workflows"),
        lease_seconds=lease_seconds,
        poll_interval_seconds=0.01,
    )


async def serve(
    home: str, workflows: str, participant: str, lease_seconds: str, database_url: str = ""
) -> None:
    settings = _settings(home, workflows, float(lease_seconds), database_url)
    async with open_relay(settings, Role.SERVER, participant=participant):
        print("ready", flush=True)
        await anyio.sleep_forever()


async def emit(home: str, event_type: str, count: str, data: str = "{}") -> None:
    seqs = []
    async with open_relay(_settings(home), Role.CLIENT, participant="emitter") as relay:
        for i in range(int(count)):
            result = await relay.events.emit(event_type, {**json.loads(data), "i": i})
            seqs.append(result.event.seq)
    print(json.dumps(seqs), flush=True)


async def approve(home: str, run_id: str, step: str, approver: str) -> None:
    async with open_relay(_settings(home), Role.CLIENT, participant=approver) as relay:
        result: dict[str, Any] = await relay.coordination.approve(run_id, step, approver=approver)
    print(json.dumps(result), flush=True)


COMMANDS: dict[str, Callable[..., Awaitable[None]]] = {
    "serve": serve,
    "emit": emit,
    "approve": approve,
}

if __name__ == "__main__":
    command, *args = sys.argv[1:]
    anyio.run(COMMANDS[command], *args)
