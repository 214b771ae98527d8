"""`relay serve` spoken to in raw JSON-RPC lines, every line it writes kept in order.

The SDK's client hides what a stricter client sees (its progress callbacks, for one, are
dropped once a request is answered); this one records everything, so a test can check
the wire itself: progress values per token, and what arrives after which response.
"""

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO, Any

import anyio
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
CLIENT = {"name": "raw-client", "version": "1.0"}
ACCEPT = {"action": "accept", "content": {"approved": True, "comment": "in the chat"}}


class RawStdio:
    """One `relay serve` process; `request` sends and awaits the answer by id."""

    def __init__(self, process: Process, era: str, *, approve_in_chat: bool = False) -> None:
        self.process = process
        self.era = era
        # With it, the client declares form elicitation and accepts every question with
        # `{"approved": true}`: a user approving in the chat.
        self.approve_in_chat = approve_in_chat
        self.capabilities: dict[str, Any] = {"elicitation": {"form": {}}} if approve_in_chat else {}
        self.received: list[dict[str, Any]] = []  # every message, in the order it came
        self.sent: list[dict[str, Any]] = []
        self.asked_keys: set[str] = set()  # the keys of 2026-07-28 input requests
        self._answers: dict[int, anyio.Event] = {}
        self._questions: list[dict[str, Any]] = []
        self._asked = anyio.Event()
        self._next_id = 1

    async def read_forever(self) -> None:
        assert self.process.stdout is not None
        buffer = ""
        async for chunk in TextReceiveStream(self.process.stdout):
            buffer += chunk
            while "\n" in buffer:
                line, buffer = buffer.split("\n", 1)
                if line.strip():
                    self._take(json.loads(line))

    def _take(self, message: dict[str, Any]) -> None:
        self.received.append(message)
        if "method" in message and "id" in message:  # the server asks the client
            self._questions.append(message)
            self._asked.set()
            return
        answered = self._answers.get(message.get("id", -1))
        if answered is not None and "method" not in message:
            answered.set()

    async def answer_questions(self) -> None:
        """Answer the server's requests (elicitation, ping) as a chat would."""
        while True:
            await self._asked.wait()
            self._asked = anyio.Event()
            while self._questions:
                question = self._questions.pop(0)
                result: dict[str, Any] = {}
                if question["method"] == "elicitation/create":
                    result = ACCEPT
                await self.send({"jsonrpc": "2.0", "id": question["id"], "result": result})

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.sent.append(message)
        await self.process.stdin.send((json.dumps(message) + "\n").encode())

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        """The response to one request (with `token`, asking for progress)."""
        request_id = self._next_id
        self._next_id += 1
        params = dict(params or {})
        meta = dict(params.pop("_meta", {}))
        if token is not None:
            meta["progressToken"] = token
        if self.era == MODERN:
            meta |= {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientInfo": CLIENT,
                "io.modelcontextprotocol/clientCapabilities": self.capabilities,
            }
        if meta:
            params["_meta"] = meta
        self._answers[request_id] = anyio.Event()
        await self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        await self._answers[request_id].wait()
        return next(m for m in self.received if m.get("id") == request_id and "method" not in m)

    async def call(self, tool: str, *, token: str | None = None, **arguments: Any) -> Any:
        """A tool's structured result (fails the test on any error)."""
        params: dict[str, Any] = {"name": tool, "arguments": arguments}
        answer = await self.request("tools/call", params, token=token)
        assert "result" in answer, answer
        if answer["result"].get("resultType") == "input_required":  # 2026-07-28: ask, retry
            asked = answer["result"]["inputRequests"]
            self.asked_keys.update(asked)
            params["inputResponses"] = dict.fromkeys(asked, ACCEPT)
            params["requestState"] = answer["result"].get("requestState")
            answer = await self.request("tools/call", params, token=token and f"{token}+")
        assert not answer["result"].get("isError"), answer
        return answer["result"]["structuredContent"]

    async def handshake(self) -> None:
        if self.era == LEGACY:
            init = {
                "protocolVersion": LEGACY,
                "capabilities": self.capabilities,
                "clientInfo": CLIENT,
            }
            answer = await self.request("initialize", init)
            assert answer["result"]["protocolVersion"] == LEGACY, answer
            await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def index_of_answer(self, request_id: int) -> int:
        return next(
            i
            for i, m in enumerate(self.received)
            if m.get("id") == request_id and "method" not in m
        )

    def progress_by_token(self) -> dict[str, list[tuple[int, float]]]:
        """For each progress token: (position in `received`, progress value)."""
        found: dict[str, list[tuple[int, float]]] = {}
        for i, message in enumerate(self.received):
            if message.get("method") == "notifications/progress":
                params = message["params"]
                found.setdefault(str(params["progressToken"]), []).append((i, params["progress"]))
        return found


@asynccontextmanager
async def raw_serve(
    env: dict[str, str],
    cwd: str,
    era: str,
    *,
    approve_in_chat: bool = False,
    stderr: IO[Any] | None = None,
) -> AsyncIterator[RawStdio]:
    """A `relay serve` process over pipes, read in the background, stopped at the end
    (its stderr to `stderr`, else to this process's)."""
    argv = [sys.executable, "-m", "relay", "serve"]
    async with await anyio.open_process(argv, env=env, cwd=cwd, stderr=stderr) as process:
        client = RawStdio(process, era, approve_in_chat=approve_in_chat)
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.read_forever)
            tg.start_soon(client.answer_questions)
            await client.handshake()
            try:
                yield client
            finally:
                assert process.stdin is not None
                await process.stdin.aclose()
                with anyio.fail_after(10):
                    await process.wait()
                tg.cancel_scope.cancel()
