"""The `backend` fixture: tests that ask for a database run once on SQLite and once on
PostgreSQL, each PostgreSQL test in a schema of its own (dropped afterwards); `store` is
an open store on it.

The PostgreSQL half needs TEST_POSTGRES_URL (`.ci/run` sets it) and the `postgres` extra;
without either it is skipped with the reason shown in pytest's summary.
"""

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from relay.store import connect_store
from relay.store.base import Store

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "")


def schema_url(base: str, schema: str) -> str:
    """`base` with the schema first on its search_path (libpq's `options`)."""
    options = quote(f"-csearch_path={schema}", safe="")
    return f"{base}{'&' if '?' in base else '?'}options={options}"


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema on TEST_POSTGRES_URL; yields a URL that uses it."""
    if not POSTGRES_URL:
        pytest.skip("TEST_POSTGRES_URL is not set: the PostgreSQL half of this test is skipped")
    try:
        import psycopg
    except ModuleNotFoundError:
        pytest.skip("psycopg is not installed (pip install -e '.[dev]'): PostgreSQL half skipped")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema_url(POSTGRES_URL, schema)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '10s'")
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str | None]:
    """None on SQLite (relay's default file in its home), else a PostgreSQL schema's URL."""
    if backend == "sqlite":
        yield None
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def store_url(tmp_path: Path, database_url: str | None) -> str:
    """One SQLite file, or one PostgreSQL schema (the `backend` parameter)."""
    return database_url or f"sqlite:///{tmp_path / 'relay.db'}"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await connect_store(store_url)
    try:
        yield opened
    finally:
        await opened.aclose()
