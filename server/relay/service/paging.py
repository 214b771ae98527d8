"""How much one call may list, and which statuses, for every caller alike (the tools'
schemas say the same)."""

from enum import StrEnum
from typing import TypeVar

from relay.errors import UsageError

S = TypeVar("S", bound=StrEnum)

MAX_PAGE = 1000  # runs, events, notifications in one answer


def page_limit(limit: int) -> int:
    """`limit` when it is within 1..MAX_PAGE.

    Raises:
        UsageError: it is not.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise UsageError(f"limit must be between 1 and {MAX_PAGE}")
    return limit


def status_filter(kind: type[S], status: str | None, what: str = "") -> S | None:
    """The `kind` named `status`; None for every status (None or `all`).

    Raises:
        UsageError: `status` names none of them.
    """
    if status in (None, "all"):
        return None
    try:
        return kind(status)
    except ValueError:
        choices = ", ".join(s.value for s in kind)
        raise UsageError(
            f"unknown {what + ' ' if what else ''}status {status!r}; use one of {choices} or all"
        ) from None
