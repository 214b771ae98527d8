"""The workflow definition: pydantic models of what a YAML workflow file says.

A `Workflow` is immutable and validated when built. It accepts the seed's spellings
(`workflow_id`, steps with only a `name`, `retry_count` + `retry_delay_seconds`) and folds
them into relay's own fields, so that the rest of relay sees one shape. Checks that need
the whole definition (unknown `needs`, cycles, actions) are the loader's, which can say
on which line a problem is; the model keeps the source map to answer that later too.
"""

import hashlib
import json
import re
import zoneinfo
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from relay.model.source import DataPath, Position, SourceMap

ID_PATTERN = r"^[A-Za-z0-9_.-]+$"

_MODEL_CONFIG = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _field_error(field: str, message: str) -> PydanticCustomError:
    """A validation error about `field` of the model being validated.

    The loader reads `ctx["field"]` to point at that key's line, since an error raised by a
    model validator is otherwise located at the model as a whole.
    """
    return PydanticCustomError(
        "relay_field", "{field}: {reason}", {"field": field, "reason": message}
    )


def derive_step_id(name: str) -> str:
    """A step id made from a seed step's name: `Run Unit Tests` -> `run_unit_tests`."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


class RetryPolicy(BaseModel):
    """How often a failing step is attempted, and how long to wait between attempts."""

    model_config = _MODEL_CONFIG

    max_attempts: int = Field(3, ge=1)
    initial_interval_seconds: float = Field(1.0, ge=0)
    backoff_coefficient: float = Field(2.0, ge=1)
    max_interval_seconds: float = Field(60.0, ge=0)
    jitter: float = Field(0.1, ge=0, le=1)

    def delay_seconds(self, attempt: int, rand: float) -> float:
        """The wait after failed attempt number `attempt` (1-based); `rand` is in [0, 1)."""
        base = self.initial_interval_seconds * self.backoff_coefficient ** (attempt - 1)
        capped = min(base, self.max_interval_seconds)
        return capped * (1 - self.jitter + 2 * self.jitter * rand)


class ApprovalSpec(BaseModel):
    """Who may decide a step's approval gate, through which channels, and until when."""

    model_config = _MODEL_CONFIG

    message: str | None = None
    approvers: list[str] = []
    channels: list[Literal["mcp", "elicitation", "slack", "cli", "dashboard"]] = []
    allow_self: bool = True
    timeout_minutes: float | None = Field(None, gt=0)
    on_timeout: Literal["reject", "approve", "fail"] = "reject"


class InputSpec(BaseModel):
    """One typed input of a workflow. `required` defaults to "no default was given"."""

    model_config = _MODEL_CONFIG

    type: Literal["string", "integer", "number", "boolean", "object", "array"] = "string"
    default: Any = None
    required: bool | None = None
    description: str = ""
    enum: list[Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _resolve_required(cls, data: Any) -> Any:
        # Resolved once here so that a snapshot (which always has `default`) means the same.
        if isinstance(data, Mapping) and data.get("required") is None:
            return {**data, "required": "default" not in data}
        return data

    @property
    def is_required(self) -> bool:
        return bool(self.required)


class EventTrigger(BaseModel):
    """Start a run for each appended event of type `event` that matches."""

    model_config = _MODEL_CONFIG

    event: str
    match: dict[str, Any] = {}
    if_: str | None = Field(None, alias="if")
    inputs: dict[str, Any] = {}


class ScheduleTrigger(BaseModel):
    """Start a run on a cron schedule (5 fields), in `tz` or the server's local time."""

    model_config = _MODEL_CONFIG

    schedule: str
    tz: str | None = None
    inputs: dict[str, Any] = {}

    @field_validator("schedule")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        # Loaded with the first schedule: most workflows (and `relay serve`) have none.
        from croniter import croniter

        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(
                f"{value!r} is not a cron schedule of 5 fields (min hour day month weekday)"
            )
        return value

    @field_validator("tz")
    @classmethod
    def _check_tz(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)"
            ) from exc
        return value


def _trigger_kind(data: Any) -> str | None:
    keys = set(data) if isinstance(data, Mapping) else set(vars(data))
    kinds = keys & {"event", "schedule"}
    return kinds.pop() if len(kinds) == 1 else None


Trigger = Annotated[
    Annotated[EventTrigger, Tag("event")] | Annotated[ScheduleTrigger, Tag("schedule")],
    Discriminator(
        _trigger_kind,
        custom_error_type="trigger_kind",
        custom_error_message="a trigger needs exactly one of 'event' or 'schedule'",
    ),
]


class SlackNotify(BaseModel):
    """Which lifecycle moments of a run post to Slack, and where."""

    model_config = _MODEL_CONFIG

    on: list[Literal["started", "completed", "failed", "approval"]] = [
        "started",
        "completed",
        "failed",
        "approval",
    ]
    channel: str | None = None
    enabled: bool = True


class NotifySettings(BaseModel):
    """Notification channels of a workflow."""

    model_config = _MODEL_CONFIG

    slack: SlackNotify | None = None


class ActionAlias(BaseModel):
    """A named action made from a built-in one with preset params (`params.X` inside)."""

    model_config = _MODEL_CONFIG

    uses: str
    params: dict[str, Any] = {}
    description: str = ""


class Defaults(BaseModel):
    """Settings every step gets unless it says otherwise."""

    model_config = _MODEL_CONFIG

    timeout_seconds: float | None = Field(None, gt=0)
    retry: RetryPolicy | None = None


class Step(BaseModel):
    """One step: an action with params, its dependencies, condition and failure policy."""

    model_config = _MODEL_CONFIG

    id: str = Field(pattern=ID_PATTERN)
    name: str = ""  # filled from the id when not given
    description: str = ""
    action: str
    params: dict[str, Any] = {}
    needs: list[str] | None = None
    if_: str | None = Field(None, alias="if")
    timeout_seconds: float | None = Field(None, gt=0)
    retry: RetryPolicy | None = None
    continue_on_failure: bool = False
    requires_approval: bool = False
    approval: ApprovalSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _fold_seed_fields(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if "id" not in data and "name" not in data:
            raise _field_error("id", "a step needs an id (or a name to derive it from)")
        if "id" not in data and isinstance(data.get("name"), str):
            data["id"] = derive_step_id(data["name"])
        if "name" not in data:  # "" only stands in when `id` is itself wrong
            data["name"] = data["id"] if isinstance(data.get("id"), str) else ""
        if isinstance(data.get("needs"), str):
            data["needs"] = [data["needs"]]
        return _fold_seed_retry(data)

    def effective_retry(self, defaults: Defaults) -> RetryPolicy:
        """This step's retry policy, else the workflow default, else a single attempt."""
        return self.retry or defaults.retry or RetryPolicy(max_attempts=1)

    def effective_timeout(self, defaults: Defaults) -> float | None:
        """Seconds each attempt may take, or None for no limit."""
        return (
            self.timeout_seconds if self.timeout_seconds is not None else defaults.timeout_seconds
        )


def _fold_seed_retry(data: dict[str, Any]) -> dict[str, Any]:
    """Turn the seed's `retry_count` + `retry_delay_seconds` into a `retry` policy."""
    count = data.pop("retry_count", None)
    delay = data.pop("retry_delay_seconds", None)
    if count is None:
        if delay is not None:
            raise _field_error("retry_delay_seconds", "has no effect without retry_count")
        return data
    if "retry" in data:
        raise _field_error("retry_count", "give either retry or retry_count, not both")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise _field_error("retry_count", f"expected a whole number >= 0, got {count!r}")
    delay = 5.0 if delay is None else delay
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise _field_error("retry_delay_seconds", f"expected a number >= 0, got {delay!r}")
    if count > 0:
        data["retry"] = RetryPolicy(
            max_attempts=count + 1,
            initial_interval_seconds=delay,
            backoff_coefficient=2,
            max_interval_seconds=max(60, delay),
        )
    return data


class Workflow(BaseModel):
    """A whole workflow definition, as loaded from YAML or from a run's snapshot."""

    model_config = _MODEL_CONFIG

    id: str = Field(pattern=ID_PATTERN)
    name: str = ""  # filled from the id when not given
    description: str = ""
    source: str | None = None
    notify_slack: bool | None = None
    save_state: bool = True
    inputs: dict[str, InputSpec] = {}
    on: list[Trigger] = []
    defaults: Defaults = Defaults()
    deadline_seconds: float | None = Field(None, gt=0)
    notify: NotifySettings | None = None
    actions: dict[str, ActionAlias] = {}
    env: dict[str, str] = {}
    steps: list[Step] = Field(min_length=1)
    outputs: dict[str, Any] = {}

    _source_path: str | None = PrivateAttr(default=None)
    _source_map: SourceMap | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _fold_seed_id(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if "workflow_id" in data:
            if "id" in data:
                raise _field_error("workflow_id", "give either id or workflow_id, not both")
            data["id"] = data.pop("workflow_id")
        if "name" not in data:  # "" only stands in when `id` is itself missing or wrong
            data["name"] = data["id"] if isinstance(data.get("id"), str) else ""
        return data

    @field_validator("env", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return {
            k: str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
            for k, v in value.items()
        }

    def __eq__(self, other: object) -> bool:
        # Where a definition came from (private attributes) is not part of what it says.
        if not isinstance(other, Workflow):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    @property
    def source_path(self) -> str | None:
        """The file (or `<inline>`) this definition was loaded from; None from a snapshot."""
        return self._source_path

    def attach_source(self, path: str, source_map: SourceMap) -> None:
        """Record where this definition was read from (the loader calls this once)."""
        self._source_path = path
        self._source_map = source_map

    def location(self, path: DataPath) -> Position | None:
        """1-based (line, column) of a data path such as `("steps", 2, "params")`."""
        return None if self._source_map is None else self._source_map.locate(path)

    def step(self, step_id: str) -> Step:
        """The step with id `step_id`; raises KeyError when there is none."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def dependencies(self) -> dict[str, tuple[str, ...]]:
        """Each step's dependencies; without `needs`, a step depends on the one before it."""
        result: dict[str, tuple[str, ...]] = {}
        previous: str | None = None
        for step in self.steps:
            if step.needs is not None:
                result[step.id] = tuple(step.needs)
            else:
                result[step.id] = () if previous is None else (previous,)
            previous = step.id
        return result

    def dependants(self) -> dict[str, list[str]]:
        """Each step's dependants: the steps that depend on it."""
        result: dict[str, list[str]] = {s.id: [] for s in self.steps}
        for step_id, needs in self.dependencies().items():
            for need in needs:
                result[need].append(step_id)
        return result

    def topological_order(self) -> list[str]:
        """Step ids with every step after its dependencies, ties kept in file order.

        Raises:
            ValueError: the dependencies form a cycle (the loader reports those first).
        """
        remaining = {key: set(deps) for key, deps in self.dependencies().items()}
        order: list[str] = []
        while remaining:
            ready = [key for key, deps in remaining.items() if not deps - set(order)]
            if not ready:
                raise ValueError(f"dependency cycle among steps {sorted(remaining)}")
            order.extend(ready)
            for key in ready:
                del remaining[key]
        return order

    def snapshot(self) -> dict[str, Any]:
        """The definition as JSON-able data (YAML key names); `from_snapshot` reverses it."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any]) -> "Workflow":
        """The workflow a `snapshot()` was taken of."""
        return cls.model_validate(data)

    def definition_hash(self) -> str:
        """sha256 (hex) of the canonical JSON of the snapshot: equal definitions, equal hash."""
        canonical = json.dumps(self.snapshot(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
