"""Planted bugs: switchable mistakes, off by default, each breaking one rule of etcd or Raft.

They exist so that the harness can prove it finds real mistakes. Code asks
`bugs.LINEARIZABLE_READ_LOCAL in cfg.bugs` at the one place the bug changes.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BUGS", "LINEARIZABLE_READ_LOCAL", "Bug", "check_names"]


@dataclass(frozen=True)
class Bug:
    """A planted bug: what it does and the rule it breaks."""

    name: str
    description: str
    rule: str


LINEARIZABLE_READ_LOCAL = "linearizable-read-local"

BUGS: dict[str, Bug] = {
    LINEARIZABLE_READ_LOCAL: Bug(
        LINEARIZABLE_READ_LOCAL,
        "linearizable reads are served from the local store, without ReadIndex",
        "etcd: a linearizable read reflects every write completed before it began",
    ),
}


def check_names(names: frozenset[str]) -> None:
    """ValueError naming the first unknown bug."""
    for name in sorted(names):
        if name not in BUGS:
            raise ValueError(f"unknown bug {name!r}; known: {', '.join(sorted(BUGS))}")
