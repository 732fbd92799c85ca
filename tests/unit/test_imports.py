"""The shape of the code: no import cycle among exporters/ modules, and no exporter package
importing another (what two exporters both need lives in core/ or a neutral module such as
exporters/pgdsn.py). Read from the source with ast, so lazy imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "exporters"
EXPORTER_PACKAGES = ("node", "postgres", "redis", "scheduler", "inject")


def _module_name(path: Path) -> str:
    parts = ["exporters", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The exporters modules ``name`` imports, anywhere in its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from pkg import module` imports the module; `from module import name` the module
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
            found.update(subs or [target])
    return {m for m in found if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _exporter_package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in EXPORTER_PACKAGES else None


def test_the_import_walk_sees_the_imports():
    graph = _graph()
    assert "exporters.core.scrape" in graph["exporters.core.server"]
    assert "exporters.pgdsn" in graph["exporters.scheduler.pool"]  # a module-level import
    assert "exporters.core.runtime" in graph["exporters.cli"]  # an import inside a function


def test_no_import_cycle():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles among exporters/ modules:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_exporter_package_imports_another():
    wrong = []
    for module, imported in sorted(_graph().items()):
        own = _exporter_package(module)
        for target in sorted(imported):
            other = _exporter_package(target)
            if own and other and other != own:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "an exporter package imports another (move what both need into core/):\n" + "\n".join(wrong)


def test_core_imports_no_exporter():
    wrong = [
        f"{m} imports {t}"
        for m, ts in sorted(_graph().items())
        if m.startswith("exporters.core")
        for t in sorted(ts)
        if not t.startswith("exporters.core") and t != "exporters"
    ]
    assert not wrong, "core/ knows no exporter:\n" + "\n".join(wrong)
