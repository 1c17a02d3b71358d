"""etcd's MVCC key-value store, pure: revisions, ranges, compaction, hashing, batch commits.

    store = Store()
    txn = store.write(); rev = txn.put(b"k", b"v"); txn.end()
    store.read().range(b"k").kvs            # [KeyValue(b"k", 2, 2, 1, b"v", 0)]
    record = store.commit()                 # append to the backend file and fsync
    store, valid = Store.restore(file_bytes)

After etcd's server/storage/mvcc (kvstore.go, kvstore_txn.go, key_index.go, hash.go).
"""

from .backend import BackendCorruptError
from .key_index import KeyIndex, TreeIndex
from .kv import (
    ErrCompacted,
    ErrFutureRev,
    KeyValue,
    MvccError,
    RangeOptions,
    RangeResult,
    Revision,
)
from .store import ReadTxn, Store, WriteTxn

__all__ = [
    "BackendCorruptError",
    "ErrCompacted",
    "ErrFutureRev",
    "KeyIndex",
    "KeyValue",
    "MvccError",
    "RangeOptions",
    "RangeResult",
    "ReadTxn",
    "Revision",
    "Store",
    "TreeIndex",
    "WriteTxn",
]
