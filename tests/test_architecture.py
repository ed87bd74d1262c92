"""The import rules of app/ (docs/architecture.md, "Import rules"), read from the source with ``ast``: nothing is
imported or run. Each test names every place that breaks its rule, one per line.

What counts as an import: every ``import`` and ``from … import`` statement anywhere in a module, inside functions
too (an import moved into a function still runs, and still ties the two modules). The cycle rule leaves out the
imports under ``if TYPE_CHECKING:``, which never run; the layer rules count them (they still couple the code).
``from app.x import y`` is an arrow to ``app.x.y`` when that is a module, else to ``app.x``.

The rules:

1. no import cycle between the modules of app/ (strongly connected components, Tarjan);
2. ``app/channels``, ``app/networks`` and ``app/kit`` (adapters and domain-free helpers) import no feature and
   neither ``app.config``, ``app.db`` nor ``app.models``: they take their configuration in their constructor;
3. ``app/worker`` (the job engine) imports no feature: ``app/tasks.py`` hands it the task table;
4. a feature imports another feature only through its ``service`` module or a module listed in
   :data:`PUBLIC` (kept minimal, and the same list as docs/architecture.md);
5. no module of app/ over 500 lines, except the tables in :data:`TABLES`; ``app/commands/service.py`` under 250;
6. no ``getattr(settings, "name", default)``: every setting is a typed field of ``app.config.Settings``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"
ARCHITECTURE_DOC = ROOT / "docs" / "architecture.md"

FEATURES = frozenset(
    {
        "accounts",
        "admin",
        "audit",
        "businesses",
        "commands",
        "connect",
        "email",
        "jobs",
        "maintenance",
        "members",
        "mentions",
        "messages",
        "ocr",
        "pages",
        "posts",
        "scheduling",
    }
)
"""The feature packages of app/: each owns a part of the domain (router, service, schemas, tasks)."""

ADAPTERS = ("channels", "networks", "kit")
"""Pure I/O and domain-free helpers: they know no feature and read no configuration, database or table."""
ADAPTER_FORBIDDEN = ("app.config", "app.db", "app.models")

PUBLIC = frozenset(
    {
        "app.commands.parser",  # pure: the parsed commands every feature's handlers take
        "app.scheduling.grammar",  # pure: the date grammar the parser reads "PUBLIER demain 11h" with
        "app.commands.context",  # the Ctx every feature's command handler takes: its answer, questions, quote
        "app.commands.guards",  # the checks the SMS and email pipelines share (rate, PIN age, opt-out)
        "app.messages.outbox",  # the one way out: what to tell whom, SMS or email
        "app.email.parse",  # pure MIME parsing (the outbox threads answers to the mail they answer)
        "app.email.sender",  # queue_email and the relay, called only by the outbox
        "app.email.digest",  # the email digest's text, written by the mentions digest job
        "app.ocr.flow",  # the chalkboard hook the publish handlers and inbound jobs call
        "app.accounts.credentials",  # the one home of account credentials (decrypt, renewed tokens)
        "app.posts.schemas",  # the posts API's read model, which a mention's reply answers with
    }
)
"""Modules, besides each feature's ``service``, that other features may import. Every entry is a promise to keep
the module's names stable; docs/architecture.md lists the same modules."""

MAX_LINES = 500
TABLES = frozenset({"app/catalogue.py", "app/commands/parser.py", "app/scheduling/grammar.py"})
"""Modules that are tables by design (messages, keywords, date grammar) and may be longer than MAX_LINES."""
COMMANDS_SERVICE_MAX = 250


@dataclass(frozen=True, slots=True)
class Import:
    source: str  # the importing module, e.g. "app.posts.tasks"
    target: str  # the imported module, e.g. "app.email.tasks"
    path: str  # the importing file, relative to the repository
    line: int
    type_only: bool  # under ``if TYPE_CHECKING:``

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.source} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of app/, by dotted name (a package by its ``__init__``)."""
    return {module_name(p): p for p in sorted(APP.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(name: str) -> str | None:
    """The module of app/ that ``name`` (a dotted module or module.attribute) lands in, if any."""
    known = modules()
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _walk(node: ast.AST, type_only: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement under ``node`` (functions and classes included), and whether it is type-only."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, type_only
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), True)
            for stmt in child.orelse:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), type_only)
        else:
            yield from _walk(child, type_only)


@cache
def imports() -> tuple[Import, ...]:
    """Every arrow between two modules of app/, with where it is written."""
    found: list[Import] = []
    for source, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        package = source if path.name == "__init__.py" else source.rpartition(".")[0]
        rel = str(path.relative_to(ROOT))
        for node, type_only in _walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:  # from . import x / from ..y import z
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                names = [f"{base}.{alias.name}" for alias in node.names]
            for name in names:
                target = _resolve(name)
                if target is not None and target != source:
                    found.append(Import(source, target, rel, node.lineno, type_only))
    # ``from app.x import a, b`` is one arrow, however many names it brings.
    return tuple(dict.fromkeys(found))


def top(module: str) -> str:
    """``app.posts.tasks`` -> ``posts``; ``app.config`` -> ``config``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit): the components of more than one module, and the modules
    that import themselves."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    components.append(sorted(component))
    return components


def report(title: str, violations: list[str]) -> str:
    return f"{len(violations)} {title}:\n  " + "\n  ".join(violations)


# --- the rules -------------------------------------------------------------------------------------------------


def test_the_import_graph_is_read() -> None:
    """A guard for the guards: the graph has the modules and arrows every rule below relies on."""
    assert {"app.main", "app.tasks", "app.config", "app.worker.queue", "app.posts.service"} <= modules().keys()
    assert any(i.source == "app.tasks" and top(i.target) == "posts" for i in imports())
    assert {p.name for p in APP.iterdir() if p.is_dir() and (p / "__init__.py").exists()} >= FEATURES


def test_cycles_are_found_in_a_small_graph() -> None:
    graph = {"a": {"b"}, "b": {"c", "e"}, "c": {"a"}, "d": {"d"}, "e": {"f"}, "f": set(), "g": {"a", "f"}}
    assert sorted(strongly_connected(graph)) == [["a", "b", "c"], ["d"]]


def test_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {name: set() for name in modules()}
    for i in imports():
        if not i.type_only:
            graph[i.source].add(i.target)
    violations = []
    for component in strongly_connected(graph):
        members = set(component)
        inside = [i for i in imports() if not i.type_only and i.source in members and i.target in members]
        arrows = [str(i) for i in sorted(inside, key=lambda i: (i.path, i.line, i.target))]
        violations.append(f"cycle of {len(component)}: {' '.join(component)}\n    " + "\n    ".join(arrows))
    assert not violations, report("import cycles (every arrow inside each one is listed)", violations)


def test_adapters_import_no_feature_config_db_or_models() -> None:
    violations = [
        str(i)
        for i in imports()
        if top(i.source) in ADAPTERS
        and (top(i.target) in FEATURES or any(i.target == f or i.target.startswith(f + ".") for f in ADAPTER_FORBIDDEN))
    ]
    assert not violations, report("imports from channels/networks/kit of a feature, config, db or models", violations)


def test_the_worker_imports_no_feature() -> None:
    violations = [str(i) for i in imports() if top(i.source) == "worker" and top(i.target) in FEATURES]
    assert not violations, report("imports of a feature by the worker", violations)


def test_features_meet_through_service_or_a_public_module() -> None:
    violations = []
    for i in imports():
        source, target = top(i.source), top(i.target)
        if source not in FEATURES or target not in FEATURES or source == target:
            continue
        if i.target == f"app.{target}.service" or i.target in PUBLIC:
            continue
        violations.append(str(i))
    assert not violations, report(
        "imports of another feature's module that is neither its service nor in PUBLIC", violations
    )


def test_public_modules_exist_and_are_the_ones_docs_list() -> None:
    assert modules().keys() >= PUBLIC, sorted(PUBLIC - modules().keys())
    doc = ARCHITECTURE_DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- public-modules -->(.*?)<!-- /public-modules -->", doc, re.DOTALL)
    assert match, "docs/architecture.md has no <!-- public-modules --> list"
    listed = set(re.findall(r"`(app(?:\.\w+)+)`", match.group(1)))
    assert listed == PUBLIC, f"docs/architecture.md lists {sorted(listed)}, this test {sorted(PUBLIC)}"


def test_no_module_over_500_lines_but_tables() -> None:
    violations = []
    for path in modules().values():
        rel = str(path.relative_to(ROOT))
        lines = len(path.read_text(encoding="utf-8").splitlines())
        limit = COMMANDS_SERVICE_MAX if rel == "app/commands/service.py" else MAX_LINES
        if lines > limit and rel not in TABLES:
            violations.append(f"{rel}: {lines} lines (at most {limit})")
    assert not violations, report("modules too long", violations)


def _settings_like(node: ast.expr) -> bool:
    """``settings``, ``rt.settings``, ``self.rt.settings``, ``get_settings()``."""
    if isinstance(node, ast.Name):
        return node.id == "settings"
    if isinstance(node, ast.Attribute):
        return node.attr == "settings"
    if isinstance(node, ast.Call):
        func = node.func
        return (isinstance(func, ast.Name) and func.id == "get_settings") or (
            isinstance(func, ast.Attribute) and func.attr == "get_settings"
        )
    return False


def test_settings_are_read_as_typed_fields() -> None:
    found: list[tuple[str, int, str]] = []
    for path in modules().values():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"getattr", "hasattr"}
                and node.args
                and _settings_like(node.args[0])
            ):
                found.append((str(path.relative_to(ROOT)), node.lineno, ast.unparse(node)))
    violations = [f"{path}:{line}: {call}" for path, line, call in sorted(found)]
    assert not violations, report("getattr/hasattr on settings (add a typed field to Settings)", violations)
