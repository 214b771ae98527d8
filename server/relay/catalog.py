"""The workflow catalog: definitions found on RELAY_WORKFLOWS_PATH, reloaded when edited.

A file that fails to load is reported with its problems; the others still load. The
first directory on the path wins when two files declare the same id.
"""

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from relay.errors import InvalidWorkflow, Problem, WorkflowNotFound
from relay.model.loading import ActionCatalog, load_workflow_file
from relay.model.workflow import Workflow

SUFFIXES = (".yaml", ".yml")


@dataclass
class _Entry:
    stamp: tuple[float, int]
    workflow: Workflow | None
    problems: tuple[Problem, ...]


@dataclass
class WorkflowCatalog:
    dirs: Sequence[Path]
    actions: ActionCatalog
    environ: Mapping[str, str]
    _cache: dict[Path, _Entry] = field(default_factory=dict)

    def searched(self) -> str:
        """The folders looked in, absolute, each one that does not exist marked so."""
        return ", ".join(
            f"{folder.absolute()}{'' if folder.is_dir() else ' (no such folder)'}"
            for folder in self.dirs
        )

    def files(self) -> list[Path]:
        found: list[Path] = []
        for folder in self.dirs:
            if folder.is_dir():
                found.extend(
                    sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file())
                )
        return found

    def _load(self, path: Path) -> _Entry:
        try:
            info = path.stat()
        except OSError as exc:
            return _Entry((0.0, 0), None, (Problem(str(path), None, None, f"cannot read: {exc}"),))
        stamp = (info.st_mtime, info.st_size)
        cached = self._cache.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached
        try:
            entry = _Entry(
                stamp, load_workflow_file(path, catalog=self.actions, environ=self.environ), ()
            )
        except InvalidWorkflow as exc:
            entry = _Entry(stamp, None, exc.problems)
        self._cache[path] = entry
        return entry

    def scan(self) -> tuple[dict[str, tuple[Workflow, Path]], list[Problem]]:
        """Every loadable workflow by id (first on the path wins), and every problem."""
        workflows: dict[str, tuple[Workflow, Path]] = {}
        problems: list[Problem] = []
        for path in self.files():
            entry = self._load(path)
            problems.extend(entry.problems)
            if entry.workflow is not None and entry.workflow.id not in workflows:
                workflows[entry.workflow.id] = (entry.workflow, path)
        return workflows, problems

    def all(self) -> list[Workflow]:
        return [wf for wf, _ in self.scan()[0].values()]

    def get(self, workflow_id: str) -> Workflow:
        workflows, problems = self.scan()
        if workflow_id in workflows:
            return workflows[workflow_id][0]
        broken = [p for p in problems if Path(p.path).stem == workflow_id]
        if broken:
            raise InvalidWorkflow(broken)
        raise WorkflowNotFound(workflow_id, list(workflows), searched=self.searched())

    def resolve(self, workflow_or_file: str) -> Workflow:
        """A workflow id, or the path of a YAML file (the user's own, so trusted)."""
        path = Path(workflow_or_file)
        if path.suffix in SUFFIXES or os.sep in workflow_or_file:
            if not path.is_file():
                raise WorkflowNotFound(workflow_or_file)
            return load_workflow_file(path, catalog=self.actions, environ=self.environ)
        return self.get(workflow_or_file)

    def path_of(self, workflow_id: str) -> Path | None:
        found = self.scan()[0].get(workflow_id)
        return None if found is None else found[1]
