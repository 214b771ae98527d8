"""The process's `Services`, as the MCP server holds it: maybe still opening.

`relay serve` over stdio answers `initialize` and `tools/list` before it opens the store
(a chat's first model request leaves about half a second after it spawns the server), so
the Services may still be opening when a request comes: `RelayHandle.relay()` waits for it,
and asks for it to be opened at once if nothing has asked yet.
"""

from typing import TYPE_CHECKING

import anyio

from relay.errors import RelayError

if TYPE_CHECKING:
    from relay.service.services import Services


class RelayHandle:
    """The process's Services, once it is open (or the error that kept it from opening)."""

    def __init__(self) -> None:
        self._opened = anyio.Event()
        self.wanted = anyio.Event()  # a request waits for the Services: open it now
        self._relay: Services | None = None
        self._error: RelayError | None = None
        self.participant: str | None = None  # RELAY_PARTICIPANT; None: each client's name

    @classmethod
    def ready(cls, relay: "Services", participant: str | None = None) -> "RelayHandle":
        handle = cls()
        handle.opened(relay, participant)
        return handle

    def opened(self, relay: "Services", participant: str | None) -> None:
        self._relay, self.participant = relay, participant
        self._opened.set()

    def failed(self, error: RelayError) -> None:
        """The Services cannot open (bad settings, say): every request says why."""
        self._error = error
        self._opened.set()

    @property
    def is_open(self) -> bool:
        return self._relay is not None

    async def relay(self) -> "Services":
        """The Services, once open (asking for it to open now, if it waits to).

        Raises:
            RelayError: the one that kept it from opening.
        """
        if not self._opened.is_set():
            self.wanted.set()
        return await self.when_open()

    async def when_open(self) -> "Services":
        """The Services once it is open, without hurrying it (for background watchers).

        Raises:
            RelayError: the one that kept it from opening.
        """
        await self._opened.wait()
        if self._relay is None:
            assert self._error is not None
            raise self._error
        return self._relay
