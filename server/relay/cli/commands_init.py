"""`relay init`: make a folder ready for relay, then say what to do next.

It writes `workflows/` with two commented examples (a first workflow and one with an
approval gate; files already there are kept), and prints how to run them and how to
connect Claude Code, Claude Desktop and PyCharm to this folder's workflows, naming the
`relay` executable by its full path (a chat starts it from wherever it runs). It opens
no store.
"""

import argparse
import json
import shlex
import shutil
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from relay.cli.output import note, write
from relay.cli.parsing import Subcommands, add_command

if TYPE_CHECKING:  # settings are read by `run_command`
    from relay.config import Settings

STARTERS = ("hello.yaml", "release.yaml")


def starter_text(name: str) -> str:
    """An example workflow shipped inside the package (the wheel carries it)."""
    return (resources.files("relay.cli") / "starter" / name).read_text(encoding="utf-8")


def write_starters(folder: Path) -> tuple[list[Path], list[Path]]:
    """Write the examples into `folder` (made if missing): the files written, and those
    kept because a file of that name was there already."""
    folder.mkdir(parents=True, exist_ok=True)
    written, kept = [], []
    for name in STARTERS:
        path = folder / name
        if path.exists():
            kept.append(path)
            continue
        path.write_text(starter_text(name), encoding="utf-8")
        written.append(path)
    return written, kept


def relay_command() -> list[str]:
    """The command that starts this relay from any folder: the running `relay` script
    by its absolute path (or the one beside this Python), else `python -m relay`."""
    script = Path(sys.argv[0])
    if script.stem == "relay" and script.suffix in ("", ".exe") and script.is_file():
        return [str(script.absolute())]
    beside = Path(sys.executable).parent / "relay"
    if beside.is_file():
        return [str(beside)]
    return [sys.executable, "-m", "relay"]


def typed_command(command: list[str]) -> str:
    """What a person types to run relay here: `relay` when that is the one on PATH."""
    found = shutil.which("relay")
    if len(command) == 1 and found is not None and Path(found).absolute() == Path(command[0]):
        return "relay"
    return shlex.join(command)


def server_env(participant: str, workflows: Path) -> dict[str, str]:
    return {"RELAY_PARTICIPANT": participant, "RELAY_WORKFLOWS_PATH": str(workflows)}


def claude_code_line(command: list[str], workflows: Path) -> str:
    """`claude mcp add ...`: Claude Code runs this relay with this folder's workflows."""
    env = [f"{key}={value}" for key, value in server_env("claude_code", workflows).items()]
    words = ["claude", "mcp", "add", "relay"]
    for pair in env:
        words += ["--env", pair]
    return shlex.join([*words, "--", *command, "serve"])


def desktop_entry(command: list[str], workflows: Path, participant: str) -> list[str]:
    """The `"relay": {...}` entry of an `mcpServers` object (Claude Desktop, PyCharm)."""
    fields = {
        "command": command[0],
        "args": [*command[1:], "serve"],
        "env": server_env(participant, workflows),
    }
    inner = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in fields.items()]
    return ['"relay": {', *",\n".join(inner).split("\n"), "}"]


def next_steps(command: list[str], workflows: Path, home: Path) -> list[str]:
    relay = typed_command(command)
    runs = [
        (f"{relay} run hello", "a first run, with its progress live"),
        (f"{relay} run release", "stops at an approval gate: decide it from another shell"),
        ("", "with the `relay approve ...` line it prints"),
        (f"{relay} ui", "the dashboard, at http://127.0.0.1:8766/ui/"),
    ]
    width = max(len(line) for line, _ in runs)
    pycharm = ";".join(f"{k}={v}" for k, v in server_env("pycharm", workflows).items())
    return [
        "",
        "Next, from this folder:",
        *(f"  {line.ljust(width)}  {why}" for line, why in runs),
        "",
        "Connect a chat to this folder's workflows (each chat runs its own `relay serve`;",
        f"all of them share one store, in {home}):",
        "",
        "Claude Code: run this once, in this folder:",
        f"  {claude_code_line(command, workflows)}",
        "",
        'Claude Desktop: add this entry to "mcpServers" in claude_desktop_config.json',
        "(Settings > Developer > Edit Config), then restart Claude Desktop:",
        *(f"  {line}" for line in desktop_entry(command, workflows, "claude_desktop")),
        "",
        "PyCharm: Settings > Tools > AI Assistant > Model Context Protocol (MCP) > Add:",
        f"  command {shlex.join(command)}, arguments serve, environment variables",
        f"  {pycharm}",
        "  (or choose As JSON and paste the entry above, with RELAY_PARTICIPANT pycharm)",
    ]


async def init_folder(settings: "Settings", args: argparse.Namespace) -> int:
    workflows = (Path(args.folder) / "workflows").absolute()
    written, kept = write_starters(workflows)
    for path in written:
        write(f"created {path}")
    for path in kept:
        write(f"kept {path} (already there)")
    searched = [folder.absolute() for folder in settings.workflow_dirs()]
    if settings.workflows_path and workflows not in searched:
        note(
            f"RELAY_WORKFLOWS_PATH is set and leaves out {workflows}: `relay run hello` "
            "looks only there; unset it, or add this folder to it"
        )
    for line in next_steps(relay_command(), workflows, settings.home):
        write(line)
    return 0


def register(commands: Subcommands) -> None:
    init = add_command(
        commands,
        "init",
        init_folder,
        "create workflows/ with examples here, and say how to connect the chats",
        reports=False,
    )
    init.add_argument(
        "folder", nargs="?", default=".", metavar="FOLDER", help="where (default: here)"
    )
