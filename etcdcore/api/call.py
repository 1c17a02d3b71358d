"""A client's unary gRPC call and its reply, as they cross the network between machines."""

from __future__ import annotations

from dataclasses import dataclass

from etcdcore.api import rpc
from etcdcore.api.rpctypes import EtcdError

__all__ = ["Call", "Reply"]


@dataclass(frozen=True, slots=True)
class Call:
    """A unary gRPC call from a client: `method` is Range, Put, DeleteRange, Txn or Compact."""

    id: int
    method: str
    request: rpc.Request
    require_leader: bool = True  # clientv3.WithRequireLeader: fail fast without a leader

    def label(self) -> str:
        """How the trace names it."""
        return f"rpc.{self.method}"


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to call `id`: a response or an error."""

    id: int
    response: rpc.Response | None = None
    error: EtcdError | None = None

    def label(self) -> str:
        """How the trace names it."""
        return "rpc.reply" if self.error is None else f"rpc.error {self.error.message}"
