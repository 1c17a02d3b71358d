"""Operations as one line of text, for reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sim.lincheck.history import Operation, Status, is_mapping

__all__ = ["describe"]

_RESULTS = {"EQUAL": "=", "NOT_EQUAL": "!=", "GREATER": ">", "LESS": "<"}
_TARGETS = {"VERSION": ("version", "version"), "CREATE": ("create", "create_revision"),
            "MOD": ("mod", "mod_revision"), "VALUE": ("value", "value"),
            "LEASE": ("lease", "lease")}
_TXN_OPS = {"request_put": "put", "request_range": "range",
            "request_delete_range": "delete_range", "request_txn": "txn"}


def _where(a: Mapping[str, Any]) -> str:
    end = a.get("range_end")
    return str(a.get("key")) if not end else f"[{a.get('key')}, {end!r})"


def _compare(c: Any) -> str:
    if not is_mapping(c):
        return repr(c)
    name, field = _TARGETS.get(str(c.get("target")), (str(c.get("target")), ""))
    operand = c.get(field) or ("" if name == "value" else 0)
    return f"{name}({_where(c)}) {_RESULTS.get(str(c.get('result', 'EQUAL')), '?')} {operand!r}"


def _call(f: str, a: Mapping[str, Any]) -> str:
    if f == "put":
        return f"put({a.get('key')}, {a.get('value')!r})"
    if f in ("range", "delete_range"):
        at = f" @{a['revision']}" if a.get("revision") else ""
        serializable = ", serializable" if a.get("serializable") else ""
        return f"{f}({_where(a)}{at}{serializable})"
    if f == "compact":
        return f"compact({a.get('revision')})"
    if f == "txn":
        def branch(name: str) -> str:
            out = []
            for item in a.get(name) or ():
                inner = next(iter(item.items()), None) if is_mapping(item) else None
                if inner is None or inner[0] not in _TXN_OPS or not is_mapping(inner[1]):
                    out.append(repr(item))
                else:
                    out.append(_call(_TXN_OPS[inner[0]], inner[1]))
            return "; ".join(out)

        compares = " && ".join(_compare(c) for c in a.get("compare") or ())
        return f"txn({compares or 'true'} ? {branch('success')} : {branch('failure')})"
    return f"{f}({dict(a)!r})"


def describe(op: Operation) -> str:
    """E.g. `put(k1, 'v3') -> rev 7`, `txn(version(k) = 0 ? put(k, 'a') : range(k)) -> ...`."""
    a = op.args if is_mapping(op.args) else {}
    call = _call(op.f, a)
    if op.status is not Status.OK:
        return f"{call} -> {op.status.value}"
    r = op.result if is_mapping(op.result) else {}
    if "error" in r:
        return f"{call} -> error {r['error']!r}"
    out = f"rev {r.get('revision')}"
    if op.f == "range":
        kvs = ", ".join(f"{kv.get('key')}={kv.get('value')!r}@{kv.get('mod_revision')}"
                        for kv in r.get("kvs") or ())
        out += f" [{kvs}]"
    elif op.f == "txn":
        out += " succeeded" if r.get("succeeded") else " failed"
    elif op.f == "delete_range":
        out += f" deleted {r.get('deleted')}"
    return f"{call} -> {out}"
