"""The wire as a strict client reads it: a raw JSON-RPC client drives `relay serve` over
stdio and checks every line, in both protocol eras. Claude Code's TypeScript SDK drops the
connection on a progress notification for a request it has already had the answer to, so
for each progress token the values must strictly increase and nothing may follow the
answer."""

from pathlib import Path

import pytest
from e2e_harness import Home
from raw_stdio import LEGACY, MODERN, RawStdio, raw_serve

pytestmark = pytest.mark.slow

ROUNDS = 4


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home.create(tmp_path)


async def one_round(client: RawStdio, n: int) -> None:
    """Every waiting call there is, each with its own progress token."""
    run = await client.call("start_workflow", workflow="paced", wait_seconds=20, token=f"start{n}")
    assert run["waiting_for"]["kind"] == "approval", run
    run_id = run["run_id"]
    blocked = await client.call("get_status", run_id=run_id, wait_seconds=10, token=f"gs{n}")
    assert blocked["status"] == "waiting"
    decided = await client.call("approve", run_id=run_id, step="gate", token=f"approve{n}")
    assert decided["run_status"] == "completed", decided
    done = await client.call("get_status", run_id=run_id, wait_seconds=10, token=f"done{n}")
    assert done["status"] == "completed"
    waited = await client.call(
        "wait_for_event", type="never_sent", timeout_seconds=0.3, token=f"event{n}"
    )
    assert waited["timed_out"] is True


async def approved_in_chat(client: RawStdio, n: int) -> None:
    """start_workflow stops at the gate and asks the user in the chat, who approves."""
    run = await client.call("start_workflow", workflow="paced", wait_seconds=20, token=f"chat{n}")
    assert run["status"] == "completed", run


def check_progress(client: RawStdio) -> None:
    tokens = client.progress_by_token()
    assert tokens, "the waiting calls reported progress"
    requests = {
        m["params"]["_meta"]["progressToken"]: m["id"]
        for m in client.sent
        if "progressToken" in m.get("params", {}).get("_meta", {})
    }
    for token, notes in tokens.items():
        values = [value for _, value in notes]
        assert values == sorted(set(values)), f"{token}: {values} do not strictly increase"
        answered_at = client.index_of_answer(requests[token])
        late = [i for i, _ in notes if i > answered_at]
        assert not late, f"{token}: progress after its answer at {late} (answer at {answered_at})"


@pytest.mark.parametrize("era", [MODERN, LEGACY])
async def test_progress_rises_per_token_and_never_follows_the_answer(home: Home, era: str) -> None:
    env = home.env("claude_code")
    async with raw_serve(env, str(home.root), era) as client:
        for n in range(ROUNDS):
            await one_round(client, n)
        await client.request("ping")
        check_progress(client)


@pytest.mark.parametrize("era", [MODERN, LEGACY])
async def test_progress_stays_in_order_through_an_approval_asked_in_the_chat(
    home: Home, era: str
) -> None:
    env = home.env("claude_code")
    async with raw_serve(env, str(home.root), era, approve_in_chat=True) as client:
        for n in range(ROUNDS):
            await approved_in_chat(client, n)
        if era == MODERN:  # the question travels in the result, under a short stable key
            assert client.asked_keys == {"relay:approval"}
        # Everything the server wrote before answering this ping has arrived.
        await client.request("ping")
        check_progress(client)
