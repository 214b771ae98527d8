"""Events of the shared log, and the `match` rule that triggers and waits use."""

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from relay.errors import UsageError

_MISSING = object()

# An event type is also a webhook's name (`POST /hooks/TYPE`), so both follow one rule.
EVENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
EVENT_TYPE_RULE = "letters, digits and _ . : - (at most 100, starting with a letter or digit)"


def event_type_problem(name: str) -> str | None:
    """Why `name` cannot be an event type (nor a webhook's name); None when it can."""
    if EVENT_TYPE.fullmatch(name):
        return None
    shown = repr(name if len(name) <= 40 else name[:39] + "…")
    return f"{shown} is not an event type: an event type (a webhook's name) is {EVENT_TYPE_RULE}"


def check_event_type(name: str) -> None:
    """Refuse what webhooks refuse, in the same words.

    Raises:
        UsageError: `name` cannot be an event type (`event_type_problem` says why).
    """
    problem = event_type_problem(name)
    if problem is not None:
        raise UsageError(problem)


class Event(BaseModel):
    """An event as stored: `seq` is strictly increasing within one store."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    seq: int
    type: str
    source: str
    data: dict[str, Any] = Field(default_factory=dict)
    correlation_id: str | None = None
    idempotency_key: str | None = None
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class NewEvent(BaseModel):
    """An event to append; the store gives it `id`, `seq` and `created_at`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=200)
    data: dict[str, Any] = Field(default_factory=dict)
    correlation_id: str | None = None
    idempotency_key: str | None = None


def lookup(document: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted path (`data.a.b`), or a sentinel-free None when absent."""
    value = _lookup(document, dotted)
    return None if value is _MISSING else value


def _lookup(document: Mapping[str, Any], dotted: str) -> Any:
    value: Any = document
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def matches(match: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True when every dotted path in `match` equals its value in the event."""
    return all(_lookup(event, path) == expected for path, expected in match.items())
