"""Fixtures shared by the engine tests."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
