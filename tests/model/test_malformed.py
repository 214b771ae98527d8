"""A corpus of broken workflows, each saying which problems it must produce.

Every file in malformed/ starts with comment lines `# expect: LINE: text`; loading it
must fail with a problem on that line whose message contains that text.
"""

import re
from pathlib import Path

import pytest

from relay.errors import InvalidWorkflow
from relay.model.loading import ActionCatalog, load_workflow_file

CORPUS = Path(__file__).parent / "malformed"
EXPECT = re.compile(r"^# expect: (\d+): (.+)$")


def expectations(path: Path) -> list[tuple[int, str]]:
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = EXPECT.match(line)
        if match:
            found.append((int(match.group(1)), match.group(2).strip()))
    return found


def test_the_corpus_covers_enough_cases() -> None:
    files = sorted(CORPUS.glob("*.yaml"))
    assert len(files) >= 22
    assert all(expectations(path) for path in files)


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.yaml")), ids=lambda p: p.stem)
def test_malformed_workflow_reports_its_problems_on_their_lines(
    path: Path, catalog: ActionCatalog
) -> None:
    with pytest.raises(InvalidWorkflow) as info:
        load_workflow_file(path, catalog=catalog, environ={})
    problems = info.value.problems
    for line, text in expectations(path):
        matching = [p for p in problems if p.line == line and text in p.message]
        assert matching, f"no problem at line {line} containing {text!r}; got:\n{info.value}"
    for problem in problems:
        assert str(problem).startswith(f"{path}:{problem.line}:")
