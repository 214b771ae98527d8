"""Ctrl-C and SIGTERM as a cancelled scope, so that a command stops in an orderly way.

Inside `async with StopOnSignal():`, SIGINT (and SIGTERM) cancel the block instead of
raising KeyboardInterrupt somewhere arbitrary: `open_relay` then closes normally, and
its engine hands its leases back so that any other worker takes the runs over. Signals
that come while the block stops are held off. The code after the block runs in both
cases; `signum` says whether a signal ended it.
"""

import signal
from types import TracebackType
from typing import Self

import anyio
from anyio.abc import TaskGroup, TaskStatus


class StopOnSignal:
    def __init__(self) -> None:
        self.signum: int | None = None
        self._tg: TaskGroup | None = None
        self._block = anyio.CancelScope()

    @property
    def is_set(self) -> bool:
        return self.signum is not None

    async def __aenter__(self) -> Self:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        await self._tg.start(self._watch)  # the handlers are in place before the block runs
        self._block.__enter__()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        assert self._tg is not None
        swallowed = self._block.__exit__(et, exc, tb)
        self._tg.cancel_scope.cancel()
        if swallowed:
            et, exc, tb = None, None, None
        return bool(await self._tg.__aexit__(et, exc, tb)) or bool(swallowed)

    async def _watch(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
            task_status.started()
            async for signum in received:
                # The first signal stops the block; later ones (a client's SIGTERM after
                # its SIGINT) are held off until the block has stopped in order.
                if self.signum is None:
                    self.signum = signum
                    self._block.cancel()
