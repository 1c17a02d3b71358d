"""Raft's errors: a broken rule of the algorithm, or a proposal the node could not take."""

from __future__ import annotations

__all__ = ["ProposalDropped", "RaftError"]


class RaftError(Exception):
    """Raft was asked to break one of its rules (etcd-io/raft panics here); a bug in the caller."""


class ProposalDropped(Exception):
    """A proposal reached a node that is not the leader; nothing was appended. Retry elsewhere."""
