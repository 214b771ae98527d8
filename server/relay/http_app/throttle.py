"""Slowing down token guessing: wrong tokens are counted per client address, and an
address that sent too many within a window is refused (429) until the window has passed.

A refused request's credentials are not even compared, so a guess made while refused
reveals nothing, whether it is right or wrong. The counts live in the serving process.
"""

import math
import time
from collections import deque
from collections.abc import Callable

# 20 wrong tokens a minute from one address: plenty for a person mistyping, and a
# guesser gets 20 tries a minute instead of thousands a second.
FAILURES_ALLOWED = 20
WINDOW_SECONDS = 60.0
# Addresses remembered at most (the oldest are forgotten first): memory stays bounded
# when the failures come from many addresses.
MAX_ADDRESSES = 10_000


class SignInThrottle:
    def __init__(
        self,
        *,
        allowed: int = FAILURES_ALLOWED,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allowed = allowed
        self.window_seconds = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, address: str) -> int | None:
        """Whole seconds until `address` may try again, or None when it may now."""
        failures = self._recent(address)
        if failures is None or len(failures) < self.allowed:
            return None
        return max(1, math.ceil(failures[0] + self.window_seconds - self._clock()))

    def failed(self, address: str) -> None:
        """Count one wrong token from `address`."""
        failures = self._recent(address)
        if failures is None:
            while len(self._failures) >= MAX_ADDRESSES:
                del self._failures[next(iter(self._failures))]
            failures = self._failures[address] = deque()
        failures.append(self._clock())

    def _recent(self, address: str) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        since = self._clock() - self.window_seconds
        while failures and failures[0] <= since:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures
