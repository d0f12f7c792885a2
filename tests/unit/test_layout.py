"""The layout's rules, read from the source: the domain (``pbx_daemon.crm``) knows no
reactor and no web framework, telephony knows no Flask, and no module imports itself back
through a cycle. Imports inside functions count too: a lazy import still couples."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pbx_daemon", "admin", "agi_scripts")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports (absolute names), top level or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out.add(base)
            # "from pbx_daemon.crm import models" imports the module pbx_daemon.crm.models.
            out.update(f"{base}.{alias.name}" for alias in node.names
                       if f"{base}.{alias.name}" in MODULES)
    return out


GRAPH = {name: {i for i in _imports(name, path) if i in MODULES}
         for name, path in MODULES.items()}
ALL_IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _offenders(prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{name} imports {imp}" for name, imports in ALL_IMPORTS.items()
                  if name == prefix or name.startswith(prefix + ".")
                  for imp in imports
                  if any(imp == f or imp.startswith(f + ".") for f in forbidden))


def test_the_layout_has_the_feature_packages():
    """The call's way reads from the tree: crm, telephony (ari, calls, routing, outputs), lab."""
    for package in ("pbx_daemon.crm", "pbx_daemon.crm.inquiries", "pbx_daemon.crm.stats",
                    "pbx_daemon.telephony", "pbx_daemon.telephony.ari",
                    "pbx_daemon.telephony.calls", "pbx_daemon.telephony.routing",
                    "pbx_daemon.telephony.outputs", "pbx_daemon.lab"):
        assert package in MODULES, package


def test_the_domain_imports_no_reactor_no_web_framework_and_no_telephony():
    assert _offenders("pbx_daemon.crm", ("twisted", "flask", "flask_admin", "flask_babel",
                                         "flask_wtf", "autobahn", "treq",
                                         "pbx_daemon.telephony", "pbx_daemon.lab",
                                         "pbx_daemon.service", "admin")) == []


def test_telephony_imports_no_flask_and_no_admin():
    assert _offenders("pbx_daemon.telephony", ("flask", "flask_admin", "flask_babel",
                                               "flask_wtf", "admin", "pbx_daemon.lab")) == []


def test_only_the_command_line_imports_the_admin():
    """``pbx-crm admin`` starts it; nothing else in the daemon reaches into the web app."""
    assert [o for o in _offenders("pbx_daemon", ("admin",))
            if not o.startswith("pbx_daemon.cli ")] == []


def test_there_are_no_import_cycles():
    """Tarjan's strongly connected components over the module graph: each must be one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert cycles == []
