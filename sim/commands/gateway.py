"""`etcdsim gateway`: etcd's v3 JSON gateway, in front of a one-member cluster in the simulation.

Each input line is `{"path": "/v3/kv/put", "body": {...}}`; requests run in order, and each
prints one line: the response, or the error body, as etcd's gateway writes them. A body etcd
would refuse (a bad field, an integer of 5,000 digits, a txn nested 300 deep) is answered with
etcd's InvalidArgument error. A line that is not such an object (not JSON, as Go's reader reads
it: NaN refused, at most 10,000 levels deep), or a path the gateway does not serve, is bad
input: nothing runs, and the command says which line is wrong (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from etcdcore.api import gateway
from etcdcore.api.json_text import GO_MAX_DEPTH, JsonTextError, loads
from sim.cluster.gateway import METHODS, serve
from sim.commands.errors import CommandError
from sim.limits import show

__all__ = ["GatewayInputError", "cmd_gateway"]



class GatewayInputError(CommandError):
    """A requests file that is not what the command reads."""


def _parse_lines(text: str, name: str) -> list[tuple[str, Any]]:
    requests: list[tuple[str, Any]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            # The body as etcd's gateway reads it, one level below the line's object.
            obj = loads(line, gateway.parse_int, GO_MAX_DEPTH + 1)
        except JsonTextError as exc:
            if exc.too_deep:
                raise GatewayInputError(
                    f"{name}:{n}: nested more than {GO_MAX_DEPTH} arrays and objects deep, past "
                    "what etcd's JSON reader (Go's encoding/json) reads") from None
            raise GatewayInputError(f"{name}:{n}: not JSON: {exc}") from None
        if not isinstance(obj, dict) or set(obj) - {"path", "body"} or "path" not in obj:
            raise GatewayInputError(f'{name}:{n}: expected {{"path": ..., "body": {{...}}}}, '
                                    f"got {show(line.strip(), 80)}")
        path = obj["path"]
        if not isinstance(path, str) or path not in METHODS:
            raise GatewayInputError(
                f"{name}:{n}: the gateway does not serve {show(path)}; it serves "
                f"{', '.join(METHODS)}")
        requests.append((path, obj.get("body", {})))
    return requests


def cmd_gateway(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the command; GatewayInputError for bad input (the caller prints it, exit 2)."""
    out = out or sys.stdout
    name = args.requests
    if name == "-":
        text, name = sys.stdin.read(), "<stdin>"
    else:
        try:
            with open(name, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise GatewayInputError(f"cannot read {name}: {' '.join(str(exc).split())}") from None
    for answer in serve(_parse_lines(text, name), args.seed):
        out.write(gateway.dumps(answer) + "\n")
    return 0
