"""The seam between the store's one SQL implementation and its two backends.

Every store operation is written once, as an async function of a `Connection`: the
connection of one transaction that its backend's `Database` opens, commits and retries
(`Database.read` and `Database.write`). SQL text here uses `:name` and `?` placeholders
and may name a dialect fragment in braces (`{in_ids}`, `{skip_locked}`, `{for_update}`);
each backend's connection fills the fragments in from its `Dialect` and, for PostgreSQL,
turns the placeholders into psycopg's. Everything else that differs between SQLite and
PostgreSQL is a named statement or hook of the `Dialect` (how an event gets its seq, how
a save's core is written, how migrations take turns) or lives in the backend's module.
"""

from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from relay.store.base import RunSave, SaveResult
from relay.store.feed import ChangeFeed
from relay.store.rows import Row

T = TypeVar("T")
Params = Mapping[str, Any] | Sequence[Any]


class Connection(Protocol):
    """The connection of one transaction (or, for migrations, of a session)."""

    dialect: "Dialect"

    async def one(self, sql: str, params: Params = ()) -> Row | None: ...
    async def all(self, sql: str, params: Params = ()) -> list[Row]: ...
    async def execute(self, sql: str, params: Params = ()) -> int: ...  # rows changed
    async def many(self, sql: str, params: Sequence[Params]) -> None: ...

    async def ring_doorbell(self) -> None:
        """Tell every engine, in every process, once this commits: a run may need one."""

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """A transaction of its own (migrations; store operations get theirs from `Database`)."""

    async def script(self, sql: str) -> None:
        """Run a migration's statements."""


# An operation: a function of a transaction's connection. SQLite runs it to its end on its
# writer thread without suspending, so an operation awaits nothing but its connection.
Op = Callable[[Connection], Coroutine[Any, Any, T]]


@dataclass(frozen=True)
class Dialect:
    """What one backend's SQL says differently."""

    name: str  # of the migrations folder
    fragments: Mapping[str, str]  # in_ids (tests `id` against :ids), skip_locked, for_update
    ids: Callable[[Sequence[str]], object]  # the :ids parameter of a list of ids
    insert_event: str  # an event's row, its seq assigned in commit order; RETURNING seq
    last_seq: str  # the newest event's seq (0 before the first), as `seq`
    lock_event_clock: str | None  # serialises appends and wait registrations, if needed
    # A save's own writes (the fenced run row, steps, attempts, history, unkeyed events,
    # dropped waits, rings); the run's signal_seq, or FenceRefused.
    save_core: Callable[[Connection, RunSave, str], Awaitable[int]]
    migrations_begin: tuple[str, ...]  # before any migration: the table, a lock
    migrations_end: tuple[str, ...]  # after them (also when one failed): the lock released
    record_migration: str  # parameters (version, name)
    placeholders: Callable[[str], str] = str  # `:name` and `?` in the driver's terms
    _prepared: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def sql(self, text: str) -> str:
        """A store statement as the driver takes it: fragments filled in, placeholders
        translated (once per statement)."""
        found = self._prepared.get(text)
        if found is None:
            found = self._prepared[text] = self.placeholders(text.format_map(self.fragments))
        return found


class Database(Protocol):
    """One backend's transactions over one database, and the change feed they move."""

    dialect: Dialect
    feed: ChangeFeed

    async def read(self, op: Op[T]) -> T:
        """Run a reading operation (it sees committed data)."""

    async def write(self, op: Op[T]) -> T:
        """Run an operation in one transaction and commit it; the feed moves."""

    async def save(self, save: RunSave) -> SaveResult:
        """A lease holder's save (`relay.store.saves.save`), as the backend commits it best:
        grouped with other runs' saves, retried while the database is away. Raises
        FenceRefused when its fence refuses."""

    async def aclose(self) -> None: ...
