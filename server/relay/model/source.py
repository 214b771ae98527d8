"""YAML text to plain Python data, remembering where every key and value came from.

The loader composes PyYAML *nodes* rather than loading objects, so that each data path
(a tuple of mapping keys and list indices) keeps its 1-based line and column for error
messages. It reads YAML the way people who write CI files expect: mapping keys are always
strings (`on:` stays `"on"`), only `true`/`false` are booleans, dates stay strings, and a
duplicate key is an issue instead of silently winning. Seed-style `${VAR:-default}` in
string scalars is filled from `environ` when one is given.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from relay.errors import InvalidWorkflow, MissingEnvironmentVariable, Problem
from relay.model.expressions import substitute_env

DataPath = tuple[str | int, ...]
Position = tuple[int, int]

# An alias-heavy document ("billion laughs") expands exponentially when built into
# Python data; a real workflow has a few hundred nodes, so this bound costs nothing.
MAX_NODES = 100_000

_STR_TAG = "tag:yaml.org,2002:str"
_JSON_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class SourceMap:
    """Where each data path of a document starts: the key's position and the value's."""

    values: Mapping[DataPath, Position]
    keys: Mapping[DataPath, Position]

    def locate(self, path: DataPath) -> Position | None:
        """The key's position for `path`, else its value's, else its nearest ancestor's."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            found = self.keys.get(prefix) or self.values.get(prefix)
            if found is not None:
                return found
        return None


@dataclass(frozen=True)
class Issue:
    """A problem found while reading the document, before any model sees it."""

    path: DataPath
    message: str
    position: Position | None = None
    about_key: bool = False  # about the last key of `path` itself, not its value


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans and no implicit timestamps."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if not tag.endswith((":bool", ":timestamp"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def parse_yaml(
    text: str, *, path: str, environ: Mapping[str, str] | None = None
) -> tuple[Any, SourceMap, list[Issue]]:
    """Parse one YAML document into JSON-like data, its source map and any issues.

    Raises:
        InvalidWorkflow: the text is not well-formed YAML (one problem, at the error).
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise InvalidWorkflow([_syntax_problem(path, exc)]) from exc
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        message = f"the file contains a character YAML does not allow ({exc.character!r})"
        raise InvalidWorkflow([Problem(path, line, 1, message)]) from exc
    try:
        builder = _Builder(loader, path, environ)
        data = None if node is None else builder.build(node, ())
    finally:
        loader.dispose()
    return data, SourceMap(builder.values, builder.keys), builder.issues


def _syntax_problem(path: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "invalid YAML"
    if "'\\t'" in problem or "tab character" in problem:
        message = "tab characters are not allowed for indentation; indent with spaces"
    else:
        context = f" ({exc.context})" if exc.context else ""
        message = f"YAML syntax error: {problem}{context}"
    line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
    return Problem(path, line, column, message)


def _position(node: Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    """Turns a node tree into data, filling the source map and collecting issues."""

    def __init__(self, loader: _Loader, path: str, environ: Mapping[str, str] | None) -> None:
        self.loader = loader
        self.path = path
        self.environ = environ
        self.values: dict[DataPath, Position] = {}
        self.keys: dict[DataPath, Position] = {}
        self.issues: list[Issue] = []
        self._count = 0
        self._open: set[int] = set()

    def build(self, node: Node, path: DataPath) -> Any:
        self._count += 1
        if self._count > MAX_NODES:
            message = f"the document expands to more than {MAX_NODES} values (alias bomb?)"
            raise InvalidWorkflow([Problem(self.path, *_position(node), message)])
        self.values.setdefault(path, _position(node))
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if id(node) in self._open:
            self.issues.append(Issue(path, "a YAML alias refers to itself", _position(node)))
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            assert isinstance(node, SequenceNode)
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        finally:
            self._open.discard(id(node))

    def _mapping(self, node: MappingNode, path: DataPath) -> dict[str, Any]:
        self._check_duplicate_keys(node, path)
        try:
            self.loader.flatten_mapping(node)  # YAML merge keys (`<<: *defaults`)
        except yaml.constructor.ConstructorError as exc:
            self.issues.append(Issue(path, f"bad merge key: {exc.problem}", _position(node)))
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                message = "mapping keys must be plain strings"
                self.issues.append(Issue(path, message, _position(key_node)))
                continue
            key = str(key_node.value)
            self.keys.setdefault((*path, key), _position(key_node))
            result[key] = self.build(value_node, (*path, key))
        return result

    def _check_duplicate_keys(self, node: MappingNode, path: DataPath) -> None:
        seen: dict[str, Position] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = str(key_node.value)
            if key in seen:
                message = f"duplicate key {key!r} (first given at line {seen[key][0]})"
                issue = Issue((*path, key), message, _position(key_node), about_key=True)
                self.issues.append(issue)
            else:
                seen[key] = _position(key_node)

    def _scalar(self, node: ScalarNode, path: DataPath) -> Any:
        try:
            value = self.loader.construct_object(node)
        except yaml.constructor.ConstructorError as exc:
            self.issues.append(Issue(path, f"unsupported YAML value: {exc.problem}"))
            return node.value
        if not isinstance(value, _JSON_SCALARS):
            self.issues.append(Issue(path, f"unsupported YAML value of type {node.tag!r}"))
            return node.value
        if isinstance(value, str) and self.environ is not None and node.tag == _STR_TAG:
            try:
                return substitute_env(value, self.environ)
            except MissingEnvironmentVariable as exc:
                self.issues.append(Issue(path, str(exc)))
        return value
