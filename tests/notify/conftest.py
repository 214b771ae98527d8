"""Fixtures of the notification tests: a fake Slack (a real HTTP server on 127.0.0.1)."""

from collections.abc import Iterator

import pytest
from tests.fake_slack import FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack.running() as fake:
        yield fake
