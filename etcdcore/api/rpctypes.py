"""The errors a client sees, as etcd's api/v3rpc/rpctypes defines them: a gRPC code and a message.

Each is a `Status`; `status.err()` makes the exception to raise. Messages are etcd's, to the
letter, because clients (and the history checker) match on them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "COMPACTED",
    "DUPLICATE_KEY",
    "EMPTY_KEY",
    "FUTURE_REV",
    "KEY_NOT_FOUND",
    "LEADER_CHANGED",
    "LEASE_NOT_FOUND",
    "LEASE_PROVIDED",
    "NOT_LEADER",
    "NO_LEADER",
    "NO_SPACE",
    "PROPOSAL_DROPPED",
    "REQUEST_TOO_LARGE",
    "STOPPED",
    "TIMEOUT",
    "TIMEOUT_DUE_TO_CONNECTION_LOST",
    "TIMEOUT_DUE_TO_LEADER_FAIL",
    "TIMEOUT_WAIT_APPLIED_INDEX",
    "TOO_MANY_OPS",
    "TOO_MANY_REQUESTS",
    "TTL_ZERO",
    "VALUE_PROVIDED",
    "Code",
    "EtcdError",
    "Status",
]


class Code(enum.IntEnum):
    """gRPC status codes."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class EtcdError(Exception):
    """A gRPC error as the client receives it."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> Status:
        """The (code, message) pair, to compare with this module's constants."""
        return Status(self.code, self.message)

    def __repr__(self) -> str:
        return f"EtcdError({self.code.name}, {self.message!r})"


@dataclass(frozen=True, slots=True)
class Status:
    """A gRPC status: `err()` is the exception carrying it."""

    code: Code
    message: str

    def err(self) -> EtcdError:
        """A fresh exception for this status."""
        return EtcdError(self.code, self.message)


_I, _O, _U = Code.INVALID_ARGUMENT, Code.OUT_OF_RANGE, Code.UNAVAILABLE

EMPTY_KEY = Status(_I, "etcdserver: key is not provided")
KEY_NOT_FOUND = Status(_I, "etcdserver: key not found")
VALUE_PROVIDED = Status(_I, "etcdserver: value is provided")
LEASE_PROVIDED = Status(_I, "etcdserver: lease is provided")
TTL_ZERO = Status(_I, "etcdserver: ttl is 0")
TOO_MANY_OPS = Status(_I, "etcdserver: too many operations in txn request")
DUPLICATE_KEY = Status(_I, "etcdserver: duplicate key given in txn request")
COMPACTED = Status(_O, "etcdserver: mvcc: required revision has been compacted")
FUTURE_REV = Status(_O, "etcdserver: mvcc: required revision is a future revision")
NO_SPACE = Status(Code.RESOURCE_EXHAUSTED, "etcdserver: mvcc: database space exceeded")
LEASE_NOT_FOUND = Status(Code.NOT_FOUND, "etcdserver: requested lease not found")
REQUEST_TOO_LARGE = Status(_I, "etcdserver: request is too large")
TOO_MANY_REQUESTS = Status(Code.RESOURCE_EXHAUSTED, "etcdserver: too many requests")
NO_LEADER = Status(_U, "etcdserver: no leader")
NOT_LEADER = Status(Code.FAILED_PRECONDITION, "etcdserver: not leader")
LEADER_CHANGED = Status(_U, "etcdserver: leader changed")
STOPPED = Status(_U, "etcdserver: server stopped")
TIMEOUT = Status(_U, "etcdserver: request timed out")
TIMEOUT_DUE_TO_LEADER_FAIL = Status(
    _U, "etcdserver: request timed out, possibly due to previous leader failure")
TIMEOUT_DUE_TO_CONNECTION_LOST = Status(
    _U, "etcdserver: request timed out, possibly due to connection lost")
TIMEOUT_WAIT_APPLIED_INDEX = Status(
    _U, "etcdserver: request timed out, waiting for the applied index took too long")
# Raft refused the proposal (no leader known to forward it to); etcd passes raft's error
# through togRPCError unchanged, so the client sees codes.Unknown with raft's text.
PROPOSAL_DROPPED = Status(Code.UNKNOWN, "raft proposal dropped")
