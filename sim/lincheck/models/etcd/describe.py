"""Operations as one line of text, for reports."""

from __future__ import annotations

from sim.lincheck.history import Operation, Status, is_mapping

__all__ = ["describe"]


def describe(op: Operation) -> str:
    """E.g. `put(k1, 'v3') -> rev 7`."""
    a = op.args if is_mapping(op.args) else {}
    if op.f == "put":
        call = f"put({a.get('key')}, {a.get('value')!r})"
    elif op.f in ("range", "delete_range"):
        end = a.get("range_end")
        where = a.get("key") if not end else f"[{a.get('key')}, {end!r})"
        at = f" @{a['revision']}" if a.get("revision") else ""
        call = f"{op.f}({where}{at})"
    elif op.f == "compact":
        call = f"compact({a.get('revision')})"
    else:
        call = f"{op.f}({op.args!r})"
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
