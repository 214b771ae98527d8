"""Callables for the `python` action tests, imported by name as `sample_functions:...`."""

import os
import time

import anyio.lowlevel


def add(a: int, b: int) -> int:
    return a + b


async def greet(name: str) -> dict[str, str]:
    await anyio.lowlevel.checkpoint()
    return {"greeting": f"hello {name}"}


class Greeter:
    @staticmethod
    def shout(word: str) -> str:
        return word.upper()


def fail(reason: str) -> None:
    raise ValueError(reason)


def make_set() -> set[int]:
    return {1, 2}


NOT_CALLABLE = 42


def record(path: str, run: str, step: str, pause: float = 0.0) -> str:
    """Append `run step pid` to a file: the multi-process tests count executions by it."""
    if pause:
        time.sleep(pause)
    line = f"{run} {step} {os.getpid()}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)  # one write of a short line: appends never interleave
    finally:
        os.close(fd)
    return step
