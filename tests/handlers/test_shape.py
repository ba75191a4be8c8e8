"""The shape of handlers/, read from its source (AST): listeners as the Bolt starter writes them.

- Each Slack surface's ``register`` pairs an id with a named function, one line each; no function is defined
  inside it.
- Every function a ``register`` names (and ``register`` itself) fits in ``MAX_LISTENER_LINES`` lines.
- handlers/ neither imports ``store`` nor opens a unit of work (``….uow()``): what it needs from the repository
  it asks of a use case or a query in core/.
- Action, callback and block ids are defined in handlers/ids.py only: a listener or a builder names them
  from there, never as a literal.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

HANDLERS = Path(__file__).resolve().parents[2] / "handlers"
MAX_LISTENER_LINES = 25
#: modules that still read or write the repository, each with the change that removes it (a stale entry fails)
PENDING: dict[str, str] = {}
#: what a registration may name besides an id of handlers/ids.py
EXTERNAL_IDS = {"'/jit'", "'app_home_opened'"}  # as ast.unparse writes them
ID_KEYWORDS = {"action_id", "block_id", "callback_id"}
REGISTRATIONS = {"action", "view", "shortcut", "options", "command", "event"}


@dataclass(frozen=True)
class Module:
    name: str
    tree: ast.Module

    def function(self, name: str) -> ast.FunctionDef | None:
        return next((n for n in self.tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)

    def method(self, cls: str, name: str) -> ast.FunctionDef | None:
        for node in self.tree.body:
            if isinstance(node, ast.ClassDef) and node.name == cls:
                return next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
        return None

    def imported(self) -> dict[str, str]:
        """Names imported from other handlers modules: local name -> module name."""
        return {alias.asname or alias.name: node.module.removeprefix("handlers.")
                for node in self.tree.body if isinstance(node, ast.ImportFrom) and node.module
                and node.module.startswith("handlers.") for alias in node.names}


def modules() -> dict[str, Module]:
    return {p.stem: Module(p.stem, ast.parse(p.read_text("utf-8"), str(p))) for p in sorted(HANDLERS.glob("*.py"))}


def _length(node: ast.FunctionDef) -> int:
    assert node.end_lineno is not None
    return node.end_lineno - node.lineno + 1


def _named_by(function: ast.FunctionDef, module: Module, every: dict[str, Module],
              *, called: bool) -> dict[str, ast.FunctionDef]:
    """The handlers/ functions (``Class.method`` included) that ``function`` names, wherever they are defined:
    those it hands on as values (the work after the ack, a check), and with ``called`` those it calls too."""
    calls = {id(n.func) for n in ast.walk(function) if isinstance(n, ast.Call)}
    found: dict[str, ast.FunctionDef] = {}
    imported = module.imported()
    for node in ast.walk(function):
        if id(node) in calls and not called:
            continue
        home, target = None, None
        if isinstance(node, ast.Name):
            home, key = every.get(imported.get(node.id, module.name)), node.id
            target = home.function(node.id) if home else None
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            home, key = every.get(imported.get(node.value.id, module.name)), f"{node.value.id}.{node.attr}"
            target = home.method(node.value.id, node.attr) if home else None
        if home is not None and target is not None and target is not function:
            found[f"{home.name}.{key}"] = target
    return found


def listeners() -> dict[str, ast.FunctionDef]:
    """Each ``register``, what it names (the adapters of handlers.listen, the listeners), and what those hand on
    to run after the ack, transitively; not the helpers they call."""
    every = modules()
    found: dict[str, ast.FunctionDef] = {}
    todo: list[tuple[str, ast.FunctionDef, bool]] = []
    for module in every.values():
        register = module.function("register")
        if register is not None:
            todo.append((f"{module.name}.register", register, True))
    while todo:
        name, function, called = todo.pop()
        if name in found:
            continue
        found[name] = function
        module = every[name.split(".", 1)[0]]
        todo += [(n, f, False) for n, f in _named_by(function, module, every, called=called).items()]
    return found


def test_every_surface_registers_named_functions_one_line_each() -> None:
    registers = {m.name: m.function("register") for m in modules().values() if m.function("register")}
    assert {"actions", "breakglass", "commands", "home", "modals"} <= set(registers)
    for name, register in registers.items():
        assert register is not None
        nested = [n.name for n in ast.walk(register) if isinstance(n, ast.FunctionDef) and n is not register]
        lambdas = [n.lineno for n in ast.walk(register) if isinstance(n, ast.Lambda)]
        assert not nested and not lambdas, f"handlers/{name}.py: register defines {nested or lambdas}; " \
                                           "name a module-level function instead"
        body = register.body[1:] if ast.get_docstring(register) else register.body
        long = [ast.unparse(s) for s in body if s.end_lineno != s.lineno]
        assert not long, f"handlers/{name}.py: one line per registration: {long}"


def test_no_listener_is_longer_than_25_lines() -> None:
    found = listeners()
    assert {"actions.approve", "actions.reject", "modals.submitted", "breakglass.record_review",
            "views.RejectModal.check", "listen.button", "commands.run", "home.show"} <= set(found), sorted(found)
    long = {name: _length(node) for name, node in found.items() if _length(node) > MAX_LISTENER_LINES}
    assert not long, f"listeners over {MAX_LISTENER_LINES} lines: {long}; move the rule into core/"


def test_no_handler_reads_the_repository_itself() -> None:
    offences: dict[str, list[str]] = {}
    for module in modules().values():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if any(n == "store" or n.startswith("store.") for n in names):
                    offences.setdefault(f"{module.name}.py", []).append(f"line {node.lineno}: imports store")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "uow"):
                offences.setdefault(f"{module.name}.py", []).append(f"line {node.lineno}: {ast.unparse(node)}")
    unexpected = {name: lines for name, lines in offences.items() if name not in PENDING}
    assert not unexpected, f"ask a use case or a query in core/ instead: {unexpected}"
    stale = sorted(set(PENDING) - set(offences))
    assert not stale, f"{stale} no longer read the repository: remove them from PENDING"


def test_ids_are_defined_in_ids_py_only() -> None:
    literals: list[str] = []
    for module in modules().values():
        if module.name == "ids":
            continue
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg in ID_KEYWORDS and isinstance(keyword.value, ast.Constant | ast.JoinedStr):
                    literals.append(f"{module.name}.py:{node.lineno}: {keyword.arg}={ast.unparse(keyword.value)}")
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr in REGISTRATIONS and isinstance(func.value, ast.Name)
                    and func.value.id == "app"):
                given = [ast.unparse(a) for a in node.args]
                literals += [f"{module.name}.py:{node.lineno}: app.{func.attr}({a})" for a in given
                             if not a.startswith("ids.") and a not in EXTERNAL_IDS]
    assert not literals, literals
