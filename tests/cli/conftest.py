"""The CLI tests' fixtures: `cli` (relay subprocesses on a private home and workflow
folder) and `background` (long-running ones, killed if a test leaves them running)."""

from tests.test_cli import background, cli  # noqa: F401 - fixtures for this folder
