"""HashKV: a checksum of the key-value versions up to a revision, as etcd's hash.go.

Two members that applied the same history hash the same at each revision; the corruption check
compares them. The hash covers the bucket in revision order: every revision in
(compact revision, rev], and below that only what a compaction at `rev` would keep (what is left
of a compaction may still be waiting for deletion in etcd; here it is gone already).
"""

from __future__ import annotations

import zlib

from .backend import Backend, encode_kv, rev_bytes
from .kv import Revision

__all__ = ["unsafe_hash_by_rev"]

_BUCKET_NAME = b"key"  # etcd seeds the hash with the bucket's name


def unsafe_hash_by_rev(backend: Backend, compact_revision: int, revision: int,
                       keep: set[Revision]) -> int:
    """crc32 over the bucket's (revision bytes, value bytes) pairs that the hash covers."""
    h = zlib.crc32(_BUCKET_NAME)
    for rev, tombstone, kv in backend.for_each(revision):
        # Skip revisions a compaction would delete. (etcd skips none when `keep` is empty, an
        # accident of its "is there a compaction" test; we skip them the same either way.)
        if rev.main <= compact_revision and rev not in keep:
            continue
        h = zlib.crc32(rev_bytes(rev, tombstone), h)
        h = zlib.crc32(encode_kv(kv), h)
    return h
