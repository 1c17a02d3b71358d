"""etcd v3's key-value store as a model for the checker: MVCC revisions, ranges, txns, compaction.

Semantics follow etcd's server (etcdserver/txn, storage/mvcc), and where they are subtle:

- An empty store is at revision 1; the compact revision starts at -1 as in mvcc's store.
- A write request (put, delete_range, txn) that changes something bumps the revision once; all
  its changes carry the new revision. A delete of nothing and a txn whose executed branch changes
  nothing leave the revision alone. Inside a txn, each operation sees the ones before it (3.5/3.6).
- Header revisions: a range answers with the current revision, not the one it read at; a
  compaction with the current revision; inside a txn a put answers with the txn's new revision, a
  range and a delete with the revision as of that point, a nested txn with 0 (etcd never fills
  nested headers).
- Range at revision r: r > current -> "future revision"; r < compact revision -> "compacted"
  (r equal to the compact revision still reads). Compact(r): r <= compact revision ->
  "compacted", r > current -> "future revision". A txn checks the ranges of the branches it will
  take, against the store before the txn, and fails as a whole.
- Compares: each key in the compare's range must pass; an empty range compares as a zero
  KeyValue (version, create, mod and lease 0), except a VALUE compare, which is then false
  whatever its result ("no way to represent a missing value"). Values compare as bytes
  (code-point order of str is UTF-8 byte order). All compares of all nested txns are evaluated
  against the store before the txn.
- Errors may carry gRPC's "etcdserver: " prefix or not. A result {"error": ...} is accepted when
  it is the compacted / future revision error the store would give then; any other error means
  the request did not take effect (validation errors, e.g. duplicate keys in a txn).
- Matching a result: a top-level or response field absent from the recorded result is not checked;
  fields of a key-value take proto3 defaults ("" and 0). Unknown fields are ignored. The fields
  etcd defines must have their types (`validate`, recorded.py): an int64 is a JSON integer or a
  decimal string (as etcd's JSON gateway writes it), a flag true or false, null a default.
- Serializable reads promise no recency, so they are not checked: a serializable range, and a
  txn whose every op on both branches is a serializable range (etcd's isTxnSerializable: the
  member answers from its own store; a txn with no op at all is one too). Any other read-only
  txn is linearizable, whatever flags its ranges carry. A read-only request whose outcome is
  unknown changes nothing, whenever it takes effect.
- Not modelled (refused by `validate`, or a HistoryError from `step`): leases, ignore_value /
  ignore_lease, sorting on a target other than the key. A txn that writes one key twice is
  applied in order (etcd rejects it before it runs).

Keeping the search small. Revisions are global, so the history is one part; but almost every ok
result names the revision it saw, which pins writes and reads in place. What is left is the
unknown-outcome writes: which of them filled the revisions no ok write took. `partition` reads
the history once for two sound shortcuts (both used only by a search rooted at the `init()` that
follows it):
- `Facts` (feasibility.py): what the ok results say about each revision's writes (which key and
  value it wrote, which keys nothing wrote, versions, absences, what a txn's compares that held
  name). An unknown write is refused at once at a revision those contradict, or when it leaves
  too few revisions for the puts a later version read counts (`Facts.feasible`), rather than
  when the search reaches the result that contradicts it.
- `interchangeable` (interchangeable.py): unknown writes that differ only in values no result
  shows (and no LESS / GREATER value compare falls between) are one class, so a run of
  revisions only unknown writes filled is searched once per kind of write.
- `Horizon` (horizon.py): states compare by what the rest of the history can still observe, so
  that choices that differ only in versions nobody reads again make one search node, not many.
`contradictions` (contradictions.py) finds, without any search, the usual proofs that there is
no linearization.

The modules, each importing only those above it: errors, versions, responses (matching),
recorded (reading a result), requests (parsing), footprint (what a request touches), results
(what an ok result shows), horizon, state, store (executing a request), feasibility,
operations (compiled once), interchangeable, contradictions, describe, model.
"""

from sim.lincheck.models.etcd.errors import COMPACTED, FUTURE_REV, StoreError, normalize_error
from sim.lincheck.models.etcd.model import EtcdModel
from sim.lincheck.models.etcd.requests import parse_request
from sim.lincheck.models.etcd.responses import to_json
from sim.lincheck.models.etcd.state import INITIAL, EtcdState
from sim.lincheck.models.etcd.store import execute
from sim.lincheck.models.etcd.versions import KeyValue

__all__ = [
    "COMPACTED",
    "FUTURE_REV",
    "INITIAL",
    "EtcdModel",
    "EtcdState",
    "KeyValue",
    "StoreError",
    "execute",
    "normalize_error",
    "parse_request",
    "to_json",
]
