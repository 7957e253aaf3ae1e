"""The shape of the code: largest files, longest functions, and the import graph of the runtime and
the workbench packages with its cycles (imports inside functions count: a lazy import is still a
dependency).

    python -m stream_classifier_workbench.devtools.code_shape [--top 10] [--json]
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

import stream_classifier

RUNTIME = "stream_classifier"
WORKBENCH = "stream_classifier_workbench"
PACKAGES = (RUNTIME, WORKBENCH)
ROOTS = (Path(stream_classifier.__file__).resolve().parent, Path(__file__).resolve().parents[1])


def module_files(roots: tuple[Path, ...] = ROOTS) -> dict[str, Path]:
    modules = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _imported(module: str, node: ast.AST, known: set[str]) -> set[str]:
    """The package's modules that one import statement names."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            anchor = module.split(".")[: -node.level] if node.level else []
            base = ".".join(anchor + ([base] if base else []))
        names = [base] + [f"{base}.{alias.name}" for alias in node.names]
    found = set()
    for name in names:
        # `from a.b import c` names module a.b.c when c is a module, else a.b
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name not in PACKAGES:
            found.add(name)
    return found


def import_graph(roots: tuple[Path, ...] = ROOTS) -> dict[str, set[str]]:
    modules = module_files(roots)
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _imported(module, node, known)
        graph[module] = edges - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def longest_functions(roots: tuple[Path, ...] = ROOTS, top: int = 10) -> list[tuple[int, str]]:
    rows = []
    for module, path in module_files(roots).items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for child in node.body:
                    if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        child.qualname = f"{node.name}.{child.name}"  # type: ignore[attr-defined]
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = getattr(node, "qualname", node.name)
                rows.append((node.end_lineno - node.lineno + 1, f"{module}.{name}"))
    return sorted(rows, reverse=True)[:top]


def largest_files(roots: tuple[Path, ...] = ROOTS, top: int = 10) -> list[tuple[int, str]]:
    rows = [(len(path.read_text().splitlines()), module) for module, path in module_files(roots).items()]
    return sorted(rows, reverse=True)[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    graph = import_graph()
    report = {
        "largest_files": largest_files(top=args.top),
        "longest_functions": longest_functions(top=args.top),
        "import_graph": {m: sorted(e) for m, e in sorted(graph.items()) if e},
        "cycles": cycles(graph),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print("largest files (lines):")
    for n, name in report["largest_files"]:
        print(f"  {n:5d}  {name}")
    print("longest functions (lines):")
    for n, name in report["longest_functions"]:
        print(f"  {n:5d}  {name}")
    print("imports within the packages:")
    for module, edges in report["import_graph"].items():
        print(f"  {module} -> {', '.join(edges)}")
    print("import cycles:", "none" if not report["cycles"] else "")
    for component in report["cycles"]:
        print("  " + " <-> ".join(component))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
