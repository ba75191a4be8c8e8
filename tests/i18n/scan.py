"""Find user-facing words that bypass the message catalogs.

``python -m tests.i18n.scan handlers/foo.py …`` lists them (file:line: text). A string is taken for words when it
holds two words of letters, or is one capitalised word (a button's "Approve"); it is left alone when it is a
docstring, the message of a translator call (``tr``, ``tr.plural``, ``T``, ``TP``, ``N_``), a log line, a dict key,
an index, a comparison operand, or on a line marked ``# not words`` (ids, API names, Block Kit fields,
commands and code shown as they are).
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

TRANSLATORS = {"tr", "plural", "T", "TP", "N_", "format_map"}
LOGGERS = {"debug", "info", "warning", "error", "exception", "critical", "log"}
_WORDS = re.compile(r"[A-Za-z]{2,}[,.;:'’!?()…]*\s+[(']?[A-Za-z]{2,}|^[A-Z][a-z]{2,}[.…!?]?$")
#: errors whose message is shown to people (``core.errors.JitError`` and its kinds); other exceptions are logged
SHOWN = {"JitError", "InvalidInput", "NotFound", "NodeNotFound", "AmbiguousNode", "NotAllowed", "Conflict",
         "Unavailable"}
PRAGMA = "# not words"


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _exempt_nodes(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are not shown to people as they are."""
    exempt: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            for sub in ast.walk(node):
                exempt.add(id(sub))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                mark(first)
        elif isinstance(node, ast.Call):
            name = _name(node.func)
            if name in TRANSLATORS:
                for arg in node.args[:2]:
                    if isinstance(arg, ast.Constant):
                        mark(arg)
            elif name in LOGGERS and isinstance(node.func, ast.Attribute):
                mark(node)
        elif isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and _name(node.exc.func) not in SHOWN:
            mark(node.exc)
        elif isinstance(node, ast.Dict):
            for key in node.keys:
                mark(key)
        elif isinstance(node, ast.Subscript):
            mark(node.slice)
        elif isinstance(node, ast.Compare):
            mark(node)
        elif isinstance(node, ast.keyword) and node.arg in {"action_id", "block_id", "callback_id", "style",
                                                           "type", "value", "channel", "method"}:
            mark(node.value)
    return exempt


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return None


def words(path: Path) -> Iterator[tuple[int, str]]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    exempt = _exempt_nodes(tree)
    inside_fstring: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inside_fstring.update(id(v) for v in node.values)
    for node in ast.walk(tree):
        if id(node) in exempt or id(node) in inside_fstring:
            continue
        text = _text(node)
        if text is None or not _WORDS.search(text):
            continue
        line = getattr(node, "lineno", 0)
        end = getattr(node, "end_lineno", line) or line
        if any(PRAGMA in lines[i - 1] for i in range(line, end + 1)):
            continue
        yield line, text


def main(paths: list[str]) -> int:
    found = 0
    for name in paths:
        for line, text in words(Path(name)):
            found += 1
            print(f"{name}:{line}: {text[:100]!r}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
