#!/usr/bin/env python3
"""Shape of the code base, as counts anyone can re-run (issue 21, "Must show").

    python scripts/shape_counts.py [ROOT]        # ROOT defaults to the repository this script is in

Prints, for ``etl/`` (and ``migrations/`` for backend branches):
- modules over 500 lines, functions over 80 lines;
- backend-name branches outside ``etl/db/``: a comparison or lookup of ``dialect.name``,
  ``dialect.backend(...)``, ``get_backend_name()`` or a backend-name literal used as a key;
- ``Any`` or ``object`` in public signatures (parameters and returns of functions not starting with ``_``);
- timing figures in comments and docstrings (``12 s``, ``3.4 ms``, ``1.8x``...).
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from pathlib import Path

MODULE_LIMIT = 500
FUNCTION_LIMIT = 80
BACKENDS = {"sqlite", "postgresql", "mysql", "mariadb"}
TIMING = re.compile(r"\b\d+(?:[.,]\d+)?\s?(?:ms|µs|us|s|min|x|×)(?![A-Za-z0-9])")  # not a hex literal (0x0A)
BACKEND_CALLS = {"backend", "get_backend_name"}


def _py_files(root: Path, *dirs: str) -> list[Path]:
    return sorted(p for d in dirs for p in (root / d).rglob("*.py") if "__pycache__" not in p.parts)


def _is_backend_expr(node: ast.AST) -> bool:
    """``x.dialect.name``, ``dialect.backend(conn)`` or ``url.get_backend_name()``."""
    if isinstance(node, ast.Attribute) and node.attr == "name" and isinstance(node.value, ast.Attribute):
        return node.value.attr == "dialect"
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        return name in BACKEND_CALLS
    return False


def _mentions_backend_literal(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Constant) and n.value in BACKENDS for n in ast.walk(node))


def backend_branches(tree: ast.AST) -> list[int]:
    """Lines that branch on the backend: a comparison involving a backend expression or literal, or a
    dict keyed by backend names (a dispatch table)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
            if any(_is_backend_expr(p) for p in parts) or any(
                isinstance(p, ast.Constant) and p.value in BACKENDS for p in parts
            ) or any(isinstance(p, (ast.Tuple, ast.Set, ast.List)) and _mentions_backend_literal(p) for p in parts):
                lines.add(node.lineno)
        elif isinstance(node, ast.Dict):
            keys = [k for k in node.keys if isinstance(k, ast.Constant)]
            if len(keys) >= 2 and sum(k.value in BACKENDS for k in keys) >= 2:
                lines.add(node.lineno)
        elif isinstance(node, ast.Subscript) and _is_backend_expr(node.slice):
            lines.add(node.lineno)
    return sorted(lines)


def _any_or_object(annotation: ast.AST | None) -> bool:
    if annotation is None:
        return False
    return any(
        (isinstance(n, ast.Name) and n.id in {"Any", "object"}) or (isinstance(n, ast.Attribute) and n.attr == "Any")
        for n in ast.walk(annotation)
    )


def public_any(tree: ast.Module) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    scopes: list[tuple[ast.AST, bool]] = [(tree, True)]
    while scopes:
        scope, public = scopes.pop()
        for node in ast.iter_child_nodes(scope):
            if isinstance(node, ast.ClassDef):
                scopes.append((node, public and not node.name.startswith("_")))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if not public or (node.name.startswith("_") and not node.name.startswith("__")):
                    continue
                args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
                if node.args.vararg:
                    args.append(node.args.vararg)
                if node.args.kwarg:
                    args.append(node.args.kwarg)
                bad = [a.arg for a in args if _any_or_object(a.annotation)]
                if _any_or_object(node.returns):
                    bad.append("return")
                if bad:
                    out.append((node.lineno, f"{node.name}({', '.join(bad)})"))
    return sorted(out)


def long_functions(tree: ast.Module) -> list[tuple[int, str, int]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None:
            length = node.end_lineno - node.lineno + 1
            if length > FUNCTION_LIMIT:
                out.append((node.lineno, node.name, length))
    return sorted(out)


def timing_figures(source: str) -> list[int]:
    """Lines of comments and docstrings that quote a timing figure."""
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and TIMING.search(tok.string):
            lines.add(tok.start[0])
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc and node.body:
                first = node.body[0]
                for offset, text in enumerate(doc.splitlines()):
                    if TIMING.search(text):
                        lines.add(first.lineno + offset)
    return sorted(lines)


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    big, funcs, branches, anys, timings = [], [], [], [], []
    for path in _py_files(root, "etl"):
        rel = path.relative_to(root).as_posix()
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        n = source.count("\n")
        if n > MODULE_LIMIT:
            big.append(f"{rel}: {n} lines")
        funcs += [f"{rel}:{line} {name}: {length} lines" for line, name, length in long_functions(tree)]
        anys += [f"{rel}:{line} {sig}" for line, sig in public_any(tree)]
        timings += [f"{rel}:{line}" for line in timing_figures(source)]
        if not rel.startswith("etl/db/"):
            branches += [f"{rel}:{line}" for line in backend_branches(tree)]
    history = []
    for path in _py_files(root, "migrations"):
        rel = path.relative_to(root).as_posix()
        found = [f"{rel}:{line}" for line in backend_branches(ast.parse(path.read_text(encoding="utf-8")))]
        (history if rel.startswith("migrations/versions/") else branches).extend(found)
    sections = [
        (f"modules in etl/ over {MODULE_LIMIT} lines", big),
        (f"functions in etl/ over {FUNCTION_LIMIT} lines", funcs),
        ("backend-name branches outside etl/db/ (etl/ and migrations/env.py)", branches),
        ("backend-name branches in migrations/versions/ (frozen history, left as applied)", history),
        ("Any/object in public signatures in etl/", anys),
        ("comment/docstring lines in etl/ quoting a timing figure", timings),
    ]
    for title, items in sections:
        print(f"{len(items):5d}  {title}")
    for title, items in sections:
        if items:
            print(f"\n## {title}")
            print("\n".join(f"  {item}" for item in items))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
