"""Durable state: `connect_store(url)` picks the backend from the URL's scheme."""

from relay.errors import ConfigError
from relay.store.base import Store


async def connect_store(
    url: str, *, synchronous: str = "FULL", poll_interval_seconds: float = 0.01
) -> Store:
    """Open (and migrate) the store that `url` names."""
    scheme = url.partition(":")[0]
    if scheme == "sqlite":
        from relay.store.sqlite import SqliteStore

        return await SqliteStore.connect(
            url, synchronous=synchronous, poll_interval_seconds=poll_interval_seconds
        )
    if scheme in {"postgres", "postgresql"}:
        raise ConfigError(
            "the PostgreSQL backend is not available in this version of relay; "
            "use a sqlite:/// URL (or leave RELAY_DATABASE_URL unset)"
        )
    raise ConfigError(f"unsupported database URL scheme {scheme!r}: use sqlite:///path/to/relay.db")


__all__ = ["Store", "connect_store"]
