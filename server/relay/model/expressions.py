"""The `${{ ... }}` expression language: finding, checking and evaluating expressions.

Expressions are a small, Python-flavoured language over a context of plain JSON data
(`inputs`, `steps`, `event`, `run`, `env`, `params`, `outputs`). They are checked at load
time by walking their syntax tree, and evaluated by a sandboxed simpleeval subclass (never
Python `eval`) in which `a.b` only ever means key `b` of mapping `a`: no Python attribute
of any object is reachable. Missing keys and attributes of `None` give `None`, as in
GitHub Actions. Seed-style `${VAR:-default}` environment substitution also lives here.
"""

import ast
import functools
import json
import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import simpleeval

from relay.errors import ExpressionError, MissingEnvironmentVariable

ROOT_NAMES = frozenset({"inputs", "steps", "event", "run", "env", "params", "outputs"})
# Lower-case JSON/YAML spellings, so that `x == true` reads as the YAML around it.
CONSTANT_NAMES: Mapping[str, Any] = {"true": True, "false": False, "null": None}

_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_ENV_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Attribute, ast.Subscript,
    ast.Slice, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call,
    ast.keyword, ast.List, ast.Tuple, ast.Dict, ast.operator, ast.unaryop, ast.boolop,
    ast.cmpop,
)  # fmt: skip
_FORBIDDEN_WORDS: Mapping[type[ast.AST], str] = {
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.NamedExpr: "assignment (:=) is not allowed",
    ast.JoinedStr: "f-strings are not supported; use + or join()",
    ast.Starred: "* unpacking is not allowed",
}


def as_text(value: Any) -> str:
    """How a value reads when interpolated into text (JSON spellings, compact JSON)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), default=str)


def _lower(text: str) -> str:
    return _require_str(text, "lower").lower()


def _upper(text: str) -> str:
    return _require_str(text, "upper").upper()


def _startswith(text: str, prefix: str) -> bool:
    return _require_str(text, "startswith").startswith(prefix)


def _endswith(text: str, suffix: str) -> bool:
    return _require_str(text, "endswith").endswith(suffix)


def _require_str(value: Any, function: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{function}() needs a string, got {type(value).__name__}")
    return value


def _contains(container: Any, item: Any) -> bool:
    if container is None:
        return False
    if isinstance(container, str):
        return as_text(item) in container
    return bool(item in container)


def _join(items: Any, sep: str = ",") -> str:
    if isinstance(items, str):
        return items
    return sep.join(as_text(item) for item in items)


def _tojson(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _fromjson(text: str) -> Any:
    return json.loads(_require_str(text, "fromjson"))


FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "len": len,
    "str": as_text,
    "int": int,
    "float": float,
    "bool": bool,
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "lower": _lower,
    "upper": _upper,
    "contains": _contains,
    "startswith": _startswith,
    "endswith": _endswith,
    "join": _join,
    "tojson": _tojson,
    "fromjson": _fromjson,
}


def find_expressions(value: Any) -> list[str]:
    """The inner source of every `${{ }}` in a string, or in a dict's values or a list."""
    if isinstance(value, str):
        return [match.group(1) for match in _EXPRESSION.finditer(value)]
    if isinstance(value, Mapping):
        return [source for item in value.values() for source in find_expressions(item)]
    if isinstance(value, list | tuple):
        return [source for item in value for source in find_expressions(item)]
    return []


def has_unterminated_expression(text: str) -> bool:
    """Whether `text` opens a `${{` that no `}}` closes."""
    return "${{" in _EXPRESSION.sub("", text)


def is_whole_expression(text: str) -> bool:
    """Whether `text` (ignoring surrounding blanks) is exactly one `${{ }}` expression."""
    return _whole_source(text) is not None


def _whole_source(text: str) -> str | None:
    match = _EXPRESSION.fullmatch(text.strip())
    if match is None or "}}" in match.group(1):
        return None
    return match.group(1)


def condition_source(condition: str) -> str:
    """The expression of an `if:` value: `${{ x }}`, or a bare expression `x`.

    Raises:
        ExpressionError: the value mixes text and expressions.
    """
    source = _whole_source(condition)
    if source is not None:
        return source
    if "${{" in condition:
        raise ExpressionError(condition, "an if: condition must be a single expression")
    return condition


@functools.lru_cache(maxsize=1024)
def _parse(source: str) -> ast.expr:
    """Parse `source` as one expression; raises SyntaxError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. invalid escape sequences in string literals
        return ast.parse(source.strip(), mode="eval").body


def _syntax_reason(source: str, exc: SyntaxError) -> str:
    plain = "invalid syntax" if exc.msg == "invalid syntax" else f"invalid syntax: {exc.msg}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = ast.parse(source.strip())
    except SyntaxError:
        return plain
    if module.body and isinstance(module.body[0], ast.Assign | ast.AugAssign | ast.AnnAssign):
        return "assignment is not allowed"
    return plain


@functools.lru_cache(maxsize=1024)
def check_expression(source: str) -> str | None:
    """Why `source` is not an acceptable expression, or None when it is."""
    if not source.strip():
        return "the expression is empty"
    try:
        tree = _parse(source)
    except SyntaxError as exc:
        return _syntax_reason(source, exc)
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        reason = None if id(node) in called else _node_reason(node)
        if reason is not None:
            return reason
    return None


def _node_reason(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return _name_reason(node.id)
    if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        return f"names starting with '_' are not allowed ({node.attr!r})"
    if isinstance(node, ast.Call):
        return _call_reason(node)
    for kind, reason in _FORBIDDEN_WORDS.items():
        if isinstance(node, kind):
            return reason
    if not isinstance(node, _ALLOWED_NODES):
        return f"{type(node).__name__} is not allowed in expressions"
    return None


def _name_reason(name: str) -> str | None:
    if name in ROOT_NAMES or name in CONSTANT_NAMES:
        return None
    roots = ", ".join(sorted(ROOT_NAMES))
    return f"unknown name {name!r} (expressions can use {roots})"


def _call_reason(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Lambda):
        return _FORBIDDEN_WORDS[ast.Lambda]
    if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
        called = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
        known = ", ".join(sorted(FUNCTIONS))
        return f"cannot call {called!r}; the functions are {known}"
    if any(keyword.arg is None for keyword in node.keywords):
        return "** unpacking is not allowed"
    return None


def referenced_steps(source: str) -> set[str]:
    """The step ids that `source` reads through `steps.X` or `steps['X']`."""
    try:
        tree = _parse(source)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_steps(node.value):
            found.add(node.attr)
        elif isinstance(node, ast.Subscript) and _is_steps(node.value):
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                found.add(key.value)
    return found


def _is_steps(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "steps"


class _Evaluator(simpleeval.EvalWithCompoundTypes):  # type: ignore[misc]
    """simpleeval over JSON data: dotted access is key lookup, only whitelisted calls."""

    def __init__(self, context: Mapping[str, Any]) -> None:
        super().__init__(functions=dict(FUNCTIONS), names={})
        self.context = context
        for kind in (ast.ListComp, ast.GeneratorExp, ast.DictComp, ast.Set):
            self.nodes.pop(kind, None)

    def _eval_name(self, node: ast.Name) -> Any:
        if node.id in self.context:
            return self.context[node.id]
        if node.id in CONSTANT_NAMES:
            return CONSTANT_NAMES[node.id]
        if node.id in ROOT_NAMES:
            return None
        raise simpleeval.NameNotDefined(node.id, self.expr)

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        if node.attr.startswith("_"):
            raise simpleeval.FeatureNotAvailable("names starting with '_' are not allowed")
        return _lookup(self._eval(node.value), node.attr, f".{node.attr}")

    def _eval_subscript(self, node: ast.Subscript) -> Any:
        container = self._eval(node.value)
        key = self._eval(node.slice)
        if isinstance(container, list | tuple | str) and isinstance(key, int | slice):
            try:
                return container[key]
            except IndexError:
                return None
        return _lookup(container, key, f"[{key!r}]")

    def _eval_call(self, node: ast.Call) -> Any:
        reason = _call_reason(node)
        if reason is not None:
            raise simpleeval.FeatureNotAvailable(reason)
        assert isinstance(node.func, ast.Name)
        args = [self._eval(arg) for arg in node.args]
        kwargs = dict(self._eval(keyword) for keyword in node.keywords)
        return self.functions[node.func.id](*args, **kwargs)


def _lookup(container: Any, key: Any, shown: str) -> Any:
    if container is None:
        return None
    if isinstance(container, Mapping):
        return container.get(key)
    raise TypeError(f"cannot read {shown} of a {_type_name(container)}")


def _type_name(value: Any) -> str:
    names = {str: "string", bool: "boolean", int: "number", float: "number", list: "list"}
    return names.get(type(value), type(value).__name__)


_EVALUATION_ERRORS = (
    simpleeval.InvalidExpression,
    ArithmeticError,
    LookupError,
    TypeError,
    ValueError,
    RecursionError,
)


def evaluate(source: str, context: Mapping[str, Any], *, step: str | None = None) -> Any:
    """The value of expression `source` (without `${{ }}`) over `context`.

    Raises:
        ExpressionError: the expression is not allowed, or fails to evaluate.
    """
    reason = check_expression(source)
    if reason is not None:
        raise ExpressionError(source.strip(), reason, step=step)
    evaluator = _Evaluator(context)
    try:
        return evaluator.eval(source, previously_parsed=_parse(source))
    except simpleeval.NameNotDefined as exc:
        raise ExpressionError(source.strip(), f"unknown name {exc.name!r}", step=step) from exc
    except _EVALUATION_ERRORS as exc:
        raise ExpressionError(source.strip(), str(exc) or type(exc).__name__, step=step) from exc


def evaluate_condition(
    condition: str, context: Mapping[str, Any], *, step: str | None = None
) -> bool:
    """Whether an `if:` condition (`${{ x }}` or bare `x`) holds; falsy values are false."""
    try:
        source = condition_source(condition)
    except ExpressionError as exc:
        raise ExpressionError(exc.expression, exc.reason, step=step) from exc
    return bool(evaluate(source, context, step=step))


def render(value: Any, context: Mapping[str, Any], *, step: str | None = None) -> Any:
    """`value` with every expression evaluated; a whole-expression string keeps its type."""
    if isinstance(value, str):
        return _render_text(value, context, step)
    if isinstance(value, Mapping):
        return {key: render(item, context, step=step) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render(item, context, step=step) for item in value]
    return value


def _render_text(text: str, context: Mapping[str, Any], step: str | None) -> Any:
    if "${{" not in text:
        return text
    source = _whole_source(text)
    if source is not None:
        return evaluate(source, context, step=step)

    def replace(match: re.Match[str]) -> str:
        return as_text(evaluate(match.group(1), context, step=step))

    return _EXPRESSION.sub(replace, text)


def substitute_env(text: str, environ: Mapping[str, str]) -> str:
    """Fill seed-style `${VAR}` and `${VAR:-default}` from `environ`; `${{ }}` is untouched.

    Raises:
        MissingEnvironmentVariable: a `${VAR}` without default names an unset variable.
    """

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if default is not None and not value:  # like sh: `:-` also replaces an empty value
            return default
        if value is None:
            raise MissingEnvironmentVariable(name)
        return value

    return _ENV_VARIABLE.sub(replace, text)
