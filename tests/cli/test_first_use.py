"""A new user's first minute, with the installed `relay` console script (this venv's) run
in an empty folder outside the repository: `relay init`, then `relay run hello`; what
`--version`, `relay list` and `relay run` say; plugins imported from that folder."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from tests.test_cli import PROCESS_TIMEOUT_SECONDS

import relay

RELAY = Path(sys.executable).parent / "relay"  # the venv's console script, as pip made it
REPOSITORY = Path(__file__).parents[2]


class Folder:
    """An empty folder of the user's, with RELAY_HOME elsewhere in tmp."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "project"
        self.path.mkdir()
        self.home = tmp_path / "home"
        self.env = {**os.environ, "RELAY_HOME": str(self.home)}

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(RELAY), *args],
            env={**self.env, **env},
            cwd=self.path,
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT_SECONDS,
            check=False,
        )


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    assert RELAY.is_file(), "pip install -e '.[dev]' makes the relay console script"
    assert not tmp_path.is_relative_to(REPOSITORY)
    return Folder(tmp_path)


def desktop_entry(lines: list[str]) -> dict[str, object]:
    """The `"relay": {...}` block that `relay init` prints, read as JSON."""
    start = next(i for i, line in enumerate(lines) if line.strip() == '"relay": {')
    end = next(i for i in range(start, len(lines)) if lines[i].strip() == "}")
    entry: dict[str, object] = json.loads("{" + "\n".join(lines[start : end + 1]) + "}")
    return entry


def test_init_then_run_hello_in_an_empty_folder(folder: Folder) -> None:
    init = folder("init")
    run = folder("run", "hello")

    workflows = folder.path / "workflows"
    assert init.returncode == 0, init.stderr
    assert sorted(p.name for p in workflows.iterdir()) == ["hello.yaml", "release.yaml"]
    assert f"created {workflows / 'hello.yaml'}" in init.stdout
    assert "relay run hello" in init.stdout
    assert run.returncode == 0, run.stderr
    assert "(hello) completed" in run.stdout.splitlines()[-2]
    assert "Hello, world!" in run.stdout


def test_the_examples_are_commented_and_valid(folder: Folder) -> None:
    folder("init")
    files = sorted(str(p) for p in (folder.path / "workflows").iterdir())

    done = folder("validate", *files)

    assert done.returncode == 0, done.stdout
    assert done.stdout.count("OK ") == 2
    for name in files:
        text = Path(name).read_text()
        assert text.count("\n#") + text.count("  # ") >= 5  # it explains itself
    assert "action: approval" in (folder.path / "workflows" / "release.yaml").read_text()


def test_init_says_how_to_connect_each_chat_to_this_folder(folder: Folder) -> None:
    lines = folder("init").stdout.splitlines()

    workflows = str(folder.path / "workflows")
    claude = next(shlex.split(line) for line in lines if line.strip().startswith("claude mcp"))
    assert claude == [
        "claude", "mcp", "add", "relay",
        "--env", "RELAY_PARTICIPANT=claude_code",
        "--env", f"RELAY_WORKFLOWS_PATH={workflows}",
        "--", str(RELAY), "serve",
    ]  # fmt: skip
    assert desktop_entry(lines) == {
        "relay": {
            "command": str(RELAY),
            "args": ["serve"],
            "env": {"RELAY_PARTICIPANT": "claude_desktop", "RELAY_WORKFLOWS_PATH": workflows},
        }
    }
    pycharm = "\n".join(lines[next(i for i, line in enumerate(lines) if "PyCharm" in line) :])
    assert f"command {RELAY}, arguments serve" in pycharm
    assert f"RELAY_PARTICIPANT=pycharm;RELAY_WORKFLOWS_PATH={workflows}" in pycharm


def test_init_keeps_a_workflow_already_there(folder: Folder) -> None:
    mine = folder.path / "workflows" / "hello.yaml"
    mine.parent.mkdir()
    mine.write_text("id: hello\nsteps:\n  - {id: a, action: log, params: {message: mine}}\n")

    done = folder("init")

    assert f"kept {mine} (already there)" in done.stdout
    assert "mine" in mine.read_text()
    assert (folder.path / "workflows" / "release.yaml").is_file()


def test_version_prints_the_version(folder: Folder) -> None:
    done = folder("--version")

    assert done.returncode == 0
    assert done.stdout == f"relay {relay.__version__}\n"


def test_list_and_run_name_the_folders_they_searched(folder: Folder) -> None:
    listed = folder("list")
    run = folder("run", "hello")

    searched = [str(folder.path / "workflows"), str(folder.home / "workflows")]
    assert listed.returncode == 0
    assert run.returncode == 2
    for said in (listed.stdout, run.stderr):
        assert all(f"{place} (no such folder)" in said for place in searched), said
        assert "`relay init` creates workflows/" in said


def test_an_unknown_workflow_beside_others_names_the_folders_too(folder: Folder) -> None:
    folder("init")

    done = folder("run", "nope")

    assert done.returncode == 2
    assert "known workflows: hello, release" in done.stderr
    assert f"looked in {folder.path / 'workflows'}, {folder.home / 'workflows'}" in done.stderr


def test_plugins_import_from_the_current_folder(folder: Folder) -> None:
    (folder.path / "shouting.py").write_text(
        "import relay\n\n\n@relay.action('shout')\ndef shout(text: str) -> str:\n"
        "    return text.upper()\n"
    )
    (folder.path / "workflows").mkdir()
    (folder.path / "workflows" / "loud.yaml").write_text(
        "id: loud\nsteps:\n  - {id: say, action: shout, params: {text: hi}}\n"
    )

    done = folder("run", "loud", "--json", RELAY_PLUGINS="shouting")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["steps"][0]["output"] == "HI"


def test_output_cut_short_by_its_reader_ends_quietly(folder: Folder) -> None:
    process = subprocess.Popen(
        [str(RELAY), "init"],
        env=folder.env,
        cwd=folder.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # as `relay init | head -1` does once it has its line
    _, stderr = process.communicate(timeout=PROCESS_TIMEOUT_SECONDS)

    assert stderr == ""
    assert process.returncode == 141
