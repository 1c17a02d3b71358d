"""Ids as etcd makes them: member and cluster ids from sha1, request ids from a generator."""

from __future__ import annotations

import hashlib
import struct

__all__ = ["Generator", "cluster_id", "member_id", "peer_url"]

_TS_LEN = 40
_CNT_LEN = 8


def peer_url(node: int, members: int) -> str:
    """The peer URL of member `node`: etcd's default for a one-member cluster."""
    return "http://localhost:2380" if members == 1 else f"http://etcd{node}:2380"


def member_id(peer_urls: list[str], cluster_token: str = "etcd-cluster") -> int:
    """etcd's computeMemberId: sha1 of the sorted peer URLs and the cluster token."""
    data = "".join(sorted(peer_urls)).encode() + cluster_token.encode()
    return int(struct.unpack(">Q", hashlib.sha1(data).digest()[:8])[0])


def cluster_id(member_ids: list[int]) -> int:
    """etcd's genID: sha1 of the sorted member ids, big-endian."""
    data = b"".join(struct.pack(">Q", m) for m in sorted(member_ids))
    return int(struct.unpack(">Q", hashlib.sha1(data).digest()[:8])[0])


class Generator:
    """etcd's idutil.Generator: member id (16 bits), start time in ms (40 bits), a counter.

    The start time keeps ids unique across restarts, so a request id in the log from an earlier
    incarnation never triggers a waiter of this one.
    """

    def __init__(self, member: int, now_ms: int) -> None:
        self._prefix = (member & 0xFFFF) << (_TS_LEN + _CNT_LEN)
        self._suffix = (now_ms & ((1 << _TS_LEN) - 1)) << _CNT_LEN

    def next(self) -> int:
        """A fresh id."""
        self._suffix += 1
        return self._prefix | (self._suffix & ((1 << (_TS_LEN + _CNT_LEN)) - 1))
