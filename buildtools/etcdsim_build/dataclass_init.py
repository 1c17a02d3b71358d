"""Explicit `__init__`s for dataclasses, written into the compiled copy's sources (compiled.py).

A dataclass's `__init__` is generated at import time by `dataclasses`, as Python source: mypyc
never sees it, so in a compiled module every construction runs interpreted, about eight times
slower than a compiled `__init__`. Messages, Ready batches and requests are built by the tens
of thousands a run. This rewrites each top-level dataclass of a module to declare `init=False`
and carry the `__init__` dataclasses would have made (defaults, default factories, keyword-only
fields, frozen classes, `__post_init__`), which mypyc then compiles. Only the build copy is
rewritten; the sources stay plain dataclasses.
"""

from __future__ import annotations

import ast

__all__ = ["explicit_inits"]

_MISSING = "_DC_MISSING"
# Final: mypyc keeps the sentinel in a C static instead of looking it up in the module's dict.
_PRELUDE = f"import typing as _dc_typing\n{_MISSING}: _dc_typing.Final = object()\n"


class _Field:
    def __init__(self, name: str, annotation: str) -> None:
        self.name = name
        self.annotation = annotation
        self.default: str | None = None  # source of the default expression
        self.factory: str | None = None  # source of the default factory
        self.kw_only = False

    @property
    def has_default(self) -> bool:
        return self.default is not None or self.factory is not None


def _is_dataclass(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    return (isinstance(target, ast.Name) and target.id == "dataclass") or (
        isinstance(target, ast.Attribute) and target.attr == "dataclass")


def _keyword(node: ast.expr, name: str) -> bool:
    """The constant value of keyword `name` of a dataclass(...) decorator (False if absent)."""
    if isinstance(node, ast.Call):
        for kw in node.keywords:
            if kw.arg == name:
                if not isinstance(kw.value, ast.Constant):
                    raise ValueError(f"dataclass({name}=...) must be a constant")
                return bool(kw.value.value)
    return False


def _is_classvar(annotation: ast.expr) -> bool:
    node = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.startswith(("ClassVar", "typing.ClassVar"))
    return (isinstance(node, ast.Name) and node.id == "ClassVar") or (
        isinstance(node, ast.Attribute) and node.attr == "ClassVar")


def _fields(cls: ast.ClassDef, source: str, kw_only: bool) -> list[_Field] | None:
    """The class's init fields in order; None if it needs what this does not handle."""
    fields: list[_Field] = []
    for stmt in cls.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        if _is_classvar(stmt.annotation):
            continue
        segment = ast.get_source_segment(source, stmt.annotation)
        if segment is None:
            return None
        field = _Field(stmt.target.id, segment)
        field.kw_only = kw_only
        value = stmt.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) \
                and value.func.id == "field":
            if value.args:
                return None
            for kw in value.keywords:
                if kw.arg == "default":
                    field.default = ast.get_source_segment(source, kw.value)
                elif kw.arg == "default_factory":
                    field.factory = ast.get_source_segment(source, kw.value)
                elif kw.arg == "kw_only":
                    if not isinstance(kw.value, ast.Constant):
                        return None
                    field.kw_only = bool(kw.value.value)
                elif kw.arg == "init":
                    return None  # fields left out of __init__: leave the class to dataclasses
                elif kw.arg not in ("repr", "compare", "hash", "metadata"):
                    return None
        elif value is not None:
            field.default = ast.get_source_segment(source, value)
        fields.append(field)
    return fields


def _init_source(fields: list[_Field], frozen: bool, post_init: bool, indent: str) -> str:
    positional = [f for f in fields if not f.kw_only]
    keyword = [f for f in fields if f.kw_only]
    params = ["self"]

    def param(f: _Field) -> str:
        if f.factory is not None:
            return f"{f.name}: _dc_typing.Any = {_MISSING}"
        if f.default is not None:
            return f"{f.name}: {f.annotation} = {f.default}"
        return f"{f.name}: {f.annotation}"

    params += [param(f) for f in positional]
    if keyword:
        params.append("*")
        params += [param(f) for f in keyword]
    body: list[str] = []
    for f in fields:
        value = f"({f.factory})() if {f.name} is {_MISSING} else {f.name}" \
            if f.factory is not None else f.name
        body.append(f"object.__setattr__(self, {f.name!r}, {value})" if frozen
                    else f"self.{f.name} = {value}")
    if post_init:
        body.append("self.__post_init__()")
    if not body:
        body.append("pass")
    inner = indent + "    "
    return (f"\n{indent}def __init__({', '.join(params)}) -> None:\n"
            + "".join(f"{inner}{line}\n" for line in body))


def explicit_inits(source: str) -> str:
    """`source` with each top-level dataclass given an explicit, compilable `__init__`."""
    if not source.endswith("\n"):
        source += "\n"
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def at(lineno: int, col: int) -> int:  # ast positions (UTF-8 byte columns) to str offsets
        if lineno > len(lines):
            return len(source)
        return starts[lineno - 1] + len(lines[lineno - 1].encode()[:col].decode())

    edits: list[tuple[int, int, str]] = []  # (start, end, replacement)
    first: ast.ClassDef | None = None
    for cls in tree.body:
        if not isinstance(cls, ast.ClassDef) or cls.bases or cls.keywords:
            continue  # a base may be a dataclass whose fields come first: left as it is
        decorators = [d for d in cls.decorator_list if _is_dataclass(d)]
        if len(decorators) != 1:
            continue
        deco = decorators[0]
        if isinstance(deco, ast.Call) and (deco.args or any(
                kw.arg in ("init", None) for kw in deco.keywords)):
            continue  # init= given already, or arguments this cannot read
        names = {s.name for s in cls.body if isinstance(s, ast.FunctionDef)}
        if "__init__" in names:
            continue
        fields = _fields(cls, source, _keyword(deco, "kw_only"))
        if fields is None or not _orderly(fields):
            continue
        last = cls.body[-1]
        assert last.end_lineno is not None
        indent = " " * cls.body[0].col_offset
        init = _init_source(fields, _keyword(deco, "frozen"), "__post_init__" in names, indent)
        end = at(last.end_lineno + 1, 0)
        edits.append((end, end, init))
        assert deco.end_lineno is not None and deco.end_col_offset is not None
        text = ast.get_source_segment(source, deco)
        assert text is not None
        if not isinstance(deco, ast.Call):
            new = text + "(init=False)"
        elif deco.keywords:
            new = text[:-1].rstrip().rstrip(",") + ", init=False)"
        else:
            new = text[:-1] + "init=False)"
        edits.append((at(deco.lineno, deco.col_offset), at(deco.end_lineno, deco.end_col_offset),
                      new))
        if first is None:
            first = cls
    if first is None:
        return source
    top = at(min([first.lineno] + [d.lineno for d in first.decorator_list]), 0)
    edits.append((top, top, _PRELUDE))
    # From the end backwards, so each edit's offsets are still those of the original text.
    for begin, end, text in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        source = source[:begin] + text + source[end:]
    return source


def _orderly(fields: list[_Field]) -> bool:
    """No positional field without a default after one with (dataclasses refuses those)."""
    seen_default = False
    for f in fields:
        if f.kw_only:
            continue
        if f.has_default:
            seen_default = True
        elif seen_default:
            return False
    return True
