"""Durable state: `connect_store(url)` picks the backend from the URL's scheme."""

from relay.errors import ConfigError
from relay.store.base import Store


async def connect_store(
    url: str, *, synchronous: str = "FULL", poll_interval_seconds: float = 0.01
) -> Store:
    """Open (and migrate) the store that `url` names: `sqlite:///path` or
    `postgresql://...` (`synchronous` and `poll_interval_seconds` are SQLite's: PostgreSQL
    commits synchronously as its server is set up to, and LISTEN/NOTIFY replaces polling)."""
    scheme = url.partition(":")[0]
    if scheme == "sqlite":
        from relay.store.sqlite import SqliteStore

        return await SqliteStore.connect(
            url, synchronous=synchronous, poll_interval_seconds=poll_interval_seconds
        )
    if scheme in {"postgres", "postgresql"}:
        try:
            from relay.store.postgres import PostgresStore
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("psycopg"):
                raise
            raise ConfigError(
                "RELAY_DATABASE_URL names a PostgreSQL database, but its driver is not "
                "installed: pip install 'relay-mcp[postgres]'"
            ) from None
        return await PostgresStore.connect(url)
    raise ConfigError(f"unsupported database URL scheme {scheme!r}: use sqlite:///path/to/relay.db")


__all__ = ["Store", "connect_store"]
