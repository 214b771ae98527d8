"""How a relay error becomes an HTTP status, for every HTTP surface (webhooks, dashboard)."""

from relay.errors import (
    ConflictError,
    InvalidTransition,
    RelayError,
    RunNotFound,
    StoreUnavailable,
    TaskNotFound,
    WorkflowNotFound,
)

# The most specific class wins (the MRO is walked); anything else is a 400.
STATUS: dict[type[RelayError], int] = {
    RunNotFound: 404,
    TaskNotFound: 404,
    WorkflowNotFound: 404,
    InvalidTransition: 409,
    ConflictError: 409,
    StoreUnavailable: 503,
    RelayError: 400,
}


def status_of(exc: RelayError) -> int:
    return next(STATUS[c] for c in type(exc).__mro__ if c in STATUS)
