"""Durable state: `connect_store(url)` picks the backend from the URL's scheme.

The layout: `base` (the `Store`'s role protocols and their value types), `sql` (the
seam: the `Connection`, `Dialect` and `Database` protocols), the operations written once
for both backends (`runs`, `saves`, `events`, `coordination`, `outbox`, `presence`, over
the row encoding of `rows` and `decisions`), `sql_store` (the one `Store` and its role
objects), `feed` (the change feed), `group_commit`, `migrate` and `migrations/`; then
each backend's own:
`sqlite` and `sqlite_db`; `postgres`, `postgres_db`, `postgres_save` and
`postgres_listen` (psycopg is imported only there).
"""

from relay.errors import ConfigError
from relay.store.base import Store
from relay.store.sql_store import SqlStore


async def connect_store(
    url: str, *, synchronous: str = "FULL", poll_interval_seconds: float = 0.01
) -> Store:
    """Open (and migrate) the store that `url` names: `sqlite:///path` or
    `postgresql://...` (`synchronous` and `poll_interval_seconds` are SQLite's: PostgreSQL
    commits synchronously as its server is set up to, and LISTEN/NOTIFY replaces polling)."""
    scheme = url.partition(":")[0]
    if scheme == "sqlite":
        from relay.store.sqlite import SqliteDatabase

        db = await SqliteDatabase.connect(
            url, synchronous=synchronous, poll_interval_seconds=poll_interval_seconds
        )
        return SqlStore(db)
    if scheme in {"postgres", "postgresql"}:
        try:
            from relay.store.postgres import PostgresDatabase
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("psycopg"):
                raise
            raise ConfigError(
                "RELAY_DATABASE_URL names a PostgreSQL database, but its driver is not "
                "installed: pip install 'relay-mcp[postgres]'"
            ) from None
        return SqlStore(await PostgresDatabase.connect(url))
    raise ConfigError(f"unsupported database URL scheme {scheme!r}: use sqlite:///path/to/relay.db")


__all__ = ["Store", "connect_store"]
