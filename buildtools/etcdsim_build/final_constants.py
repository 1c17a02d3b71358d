"""Module constants declared Final in the compiled copy's sources (compiled.py).

mypyc looks a module global up in the module's dict at every use, unless it is Final: then it
keeps the value in a C static. Hot paths read constants (message types, node states, failpoint
names, struct formats) on every message. This marks each module-level ALL_CAPS name that is
bound exactly once, at the top level, as Final; mypy checks the claim when the copy is compiled,
so a constant that is in fact rebound fails the build instead of misbehaving.
"""

from __future__ import annotations

import ast
import re

__all__ = ["final_constants"]

_CONSTANT = re.compile(r"_?[A-Z][A-Z0-9_]*$")
_ALIAS = "_CompiledFinal"


def _bound_names(tree: ast.Module) -> dict[str, int]:
    """How many times each name is bound anywhere in the module (global statements count as
    rebinding: a function may assign it)."""
    counts: dict[str, int] = {}
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.append(node.id)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names += node.names * 2
        elif isinstance(node, ast.alias):
            names.append((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    return counts


def final_constants(source: str) -> str:
    """`source` with its once-bound module-level constants annotated Final."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    bound = _bound_names(tree)
    edits: list[tuple[int, int, str]] = []  # (line, column, text to insert), columns in chars
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], ast.Name):
            target = stmt.targets[0]
            if _CONSTANT.match(target.id) and bound.get(target.id) == 1:
                edits.append((target.lineno, _column(lines, target), f": {_ALIAS}"))
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
                and stmt.value is not None and stmt.simple:
            name = stmt.target.id
            annotation = ast.get_source_segment(source, stmt.annotation)
            if _CONSTANT.match(name) and bound.get(name) == 1 and annotation \
                    and "Final" not in annotation and "ClassVar" not in annotation:
                start = _position(lines, stmt.annotation.lineno, stmt.annotation.col_offset)
                assert stmt.annotation.end_lineno is not None
                assert stmt.annotation.end_col_offset is not None
                end = _position(lines, stmt.annotation.end_lineno,
                                stmt.annotation.end_col_offset)
                edits.append((start[0], start[1], f"{_ALIAS}["))
                edits.append((end[0], end[1], "]"))
    if not edits:
        return source
    for line, col, text in sorted(edits, reverse=True):
        lines[line - 1] = lines[line - 1][:col] + text + lines[line - 1][col:]
    return _with_import("".join(lines), tree)


def _column(lines: list[str], target: ast.Name) -> int:
    assert target.end_col_offset is not None
    return _position(lines, target.lineno, target.end_col_offset)[1]


def _position(lines: list[str], lineno: int, col: int) -> tuple[int, int]:
    """ast's (line, UTF-8 byte column) as (line, str column)."""
    return lineno, len(lines[lineno - 1].encode()[:col].decode())


def _with_import(source: str, tree: ast.Module) -> str:
    """Import Final under its alias after the module's __future__ imports (or at the top)."""
    after = 0
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            assert stmt.end_lineno is not None
            after = stmt.end_lineno
    lines = source.splitlines(keepends=True)
    lines.insert(after, f"from typing import Final as {_ALIAS}\n")
    return "".join(lines)
