"""The errors the store answers with, as etcd words them: compacted and future revisions."""

from __future__ import annotations

__all__ = ["COMPACTED", "FUTURE_REV", "StoreError", "normalize_error"]

COMPACTED = "mvcc: required revision has been compacted"
FUTURE_REV = "mvcc: required revision is a future revision"
_GRPC_PREFIX = "etcdserver: "


class StoreError(Exception):
    """An error the store answers with (compacted or future revision); nothing changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def normalize_error(message: str) -> str:
    """etcd's message without gRPC's "etcdserver: " prefix."""
    return message[len(_GRPC_PREFIX):] if message.startswith(_GRPC_PREFIX) else message
