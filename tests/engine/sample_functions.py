"""Callables for the `python` action tests, imported by name as `sample_functions:...`."""

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
