"""EtcdServer: proposals through Raft, the apply loop, and linearizable reads on ReadIndex.

The seed's path, by etcd's names: `put` → `raft_request` → `process_internal_raft_request_once`
(request id, size limit, wait registry, propose, wait with a timeout) → the Raft loop
(`raft_node`) → `apply_all` → `apply_entries` → `apply_entry_normal` (skipping entries at or
below the consistent index) → the applier (`apply`) → MVCC → `wait.trigger`. Ranges that are
not serializable first pass `linearizable_read_notify`, served by `linearizable_read_loop`.
Everything waits through the Env; nothing here knows about the simulation.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from etcdcore import bugs
from etcdcore.api import rpc, rpctypes
from etcdcore.api.call import Call
from etcdcore.api.gateway import MAX_TXN_OPS
from etcdcore.api.proto_size import internal_raft_request_size
from etcdcore.api.raft_internal import InternalRaftRequest
from etcdcore.api.rpctypes import EtcdError
from etcdcore.env import Env, Future, Process, Timer
from etcdcore.knobs import Knobs
from etcdcore.mvcc import Store
from etcdcore.raft.types import Entry, ReadState
from etcdcore.server import failpoints as fp
from etcdcore.server import txn as txnpkg
from etcdcore.server.backend import Backend
from etcdcore.server.idutil import Generator, cluster_id, member_id, peer_url
from etcdcore.server.raft_node import RaftMonitor, RaftNode, RaftTiming
from etcdcore.server.wait import Wait, WaitTime

__all__ = ["EtcdServer", "ServerConfig", "ServerMonitor"]

MAX_GAP_BETWEEN_APPLY_AND_COMMIT_INDEX = 5000
_GRPC_OVERHEAD_BYTES = 512 * 1024  # etcd's grpcOverheadBytes


@dataclass(frozen=True)
class ServerConfig:
    """The knobs of etcd's ServerConfig that matter here, with etcd's defaults."""

    peers: tuple[int, ...]
    timing: RaftTiming = field(default_factory=RaftTiming)
    max_txn_ops: int = MAX_TXN_OPS
    max_request_bytes: int = 1536 * 1024  # of the InternalRaftRequest's protobuf encoding
    knobs: Knobs = field(default_factory=Knobs)  # unusual-but-legal values a scenario may pick
    cluster_token: str = "etcd-cluster"
    bugs: frozenset[str] = frozenset()  # planted bugs switched on (etcdcore.bugs)

    @property
    def max_recv_msg_bytes(self) -> int:
        """gRPC's MaxRecvMsgSize as etcd sets it: the request limit and 512 KiB for gRPC."""
        return self.max_request_bytes + _GRPC_OVERHEAD_BYTES

    @property
    def election_timeout_us(self) -> int:
        """Election ticks times the tick."""
        return self.timing.election_ticks * self.timing.tick_us

    @property
    def req_timeout_us(self) -> int:
        """etcd's ReqTimeout: 5 s plus twice the election timeout."""
        return 5_000_000 + 2 * self.election_timeout_us

    def member_id(self, node: int) -> int:
        """The etcd member id of raft node `node`."""
        return member_id([peer_url(node, len(self.peers))], self.cluster_token)

    def cluster_id(self) -> int:
        """The cluster id, from all member ids."""
        return cluster_id([self.member_id(p) for p in self.peers])


class _Notifier:
    """One batch of linearizable reads: resolved together, with an error or none."""

    def __init__(self, fut: Future) -> None:
        self.fut = fut
        self.err: EtcdError | None = None

    def notify(self, err: EtcdError | None) -> None:
        self.err = err
        self.fut.succeed()


class _Chan:
    """A small mailbox: `send` items, `recv()` a future of the next one."""

    def __init__(self, new_future: Callable[[], Future]) -> None:
        self._new = new_future
        self._items: deque[Any] = deque()
        self._waiter: Future | None = None

    def send(self, item: Any) -> None:
        if self._waiter is not None:
            waiter, self._waiter = self._waiter, None
            waiter.succeed(item)
        else:
            self._items.append(item)

    def recv(self) -> Future:
        fut = self._new()
        if self._items:
            fut.succeed(self._items.popleft())
        else:
            self._waiter = fut
        return fut


_TIMED_OUT = object()


class ServerMonitor(RaftMonitor, Protocol):
    """What an observer is told by the server, beside what its Raft driver tells."""

    def proposed(self, node: int, request_id: int, data: bytes) -> None:
        """A request waits on `request_id` for the entry it proposed, `data`."""

    def answered(self, node: int, request_id: int, entry: Entry, revision: int = 0) -> None:
        """The waiter on `request_id` gets the result of applying `entry`, which left the
        store at `revision`."""


class EtcdServer:
    """One etcd member: backend, Raft node, apply loop, read loop."""

    def __init__(self, env: Env, cfg: ServerConfig, monitor: ServerMonitor | None = None) -> None:
        self.env = env
        self.cfg = cfg
        self.id = env.node_id
        self.member_id = cfg.member_id(self.id)
        self.cluster_id = cfg.cluster_id()
        self.monitor = monitor
        self.backend = Backend(env, cfg.knobs.batch_interval_us, bugs=cfg.bugs)
        self.r = RaftNode(env, list(cfg.peers), cfg.timing, monitor=monitor, hooks=self,
                          bootstrap_term=1, bugs=cfg.bugs, knobs=cfg.knobs)
        self.apply_below_consistent_index = bugs.APPLY_BELOW_CONSISTENT_INDEX in cfg.bugs
        self.apply_entry_us = cfg.knobs.apply_entry_us
        self.apply_batch_us = cfg.knobs.apply_batch_us
        self.grpc: Callable[[Call], Process] | None = None  # serve_grpc sets it
        self.w = Wait(env.future)
        self.apply_wait = WaitTime(env.future)
        self.req_id_gen = Generator(self.member_id, env.now() // 1000)
        self.applied_index = 0
        self.applied_term = 0
        self.committed_index = 0
        self.lead_elected_time = 0
        self._lead = 0
        self._apply_queue: _Chan = _Chan(env.future)
        # linearizable reads
        self._read_wanted = False
        self._read_wake: Future | None = None
        self.read_notifier = _Notifier(env.future())
        self._read_events: _Chan | None = None
        self._leader_epoch = 0

    @property
    def store(self) -> Store:
        """The MVCC store."""
        return self.backend.store

    @property
    def term(self) -> int:
        """The current Raft term."""
        return self.r.term

    @property
    def lead(self) -> int:
        """The Raft id of the leader this member knows, 0 if none."""
        return self._lead

    # ---- start (etcd's EtcdServer.start: prepare, then spawn run) --------------------------

    def start(self) -> None:
        """Open the backend, start Raft from the WAL, and spawn the loops."""
        self.env.spawn(self._start(), "etcdserver.start")

    def _start(self) -> Process:
        if not (yield from self.backend.open()):
            return
        self.store.probes = self.env.probes  # the run's counter, in the store restored just now
        ci = self.store.consistent_index
        self.applied_index = self.committed_index = ci
        self.applied_term = self.store.term
        self.apply_wait.trigger(ci)
        self.r.start()
        if self.r.node is None:
            return  # the WAL could not be read: the node has stopped itself
        self.env.set_receiver(self._receive)
        self.env.spawn(self.run(), "etcdserver.run")
        self.env.spawn(self.linearizable_read_loop(), "etcdserver.read")
        self.backend.run()

    def _receive(self, frm: int, msg: Any) -> None:
        if isinstance(msg, Call):
            self.env.spawn(self._serve(frm, msg), "grpc")
        else:
            self.r.receive(frm, msg)

    def _serve(self, frm: int, call: Call) -> Process:
        if self.grpc is None:
            return  # nothing listens for clients: the call is never answered
        reply = yield from self.grpc(call)
        self.env.send(frm, reply)

    def serve_grpc(self, handler: Callable[[Call], Process]) -> None:
        """Answer clients' calls with `handler` (etcd's embed wires v3rpc to the server)."""
        self.grpc = handler

    # ---- hooks the Raft loop calls --------------------------------------------------------

    def apply(self, entries: list[Entry]) -> None:
        """Committed entries from a Ready, handed to the apply loop (etcd's applyc)."""
        if entries:
            self.committed_index = max(self.committed_index, entries[-1].index)
            self._apply_queue.send(entries)

    def read_state(self, rs: ReadState) -> None:
        """A ReadIndex answer (etcd hands only the Ready's last one to the read loop)."""
        if self._read_events is not None:
            self._read_events.send(("state", rs))

    def leader_changed(self, lead: int, term: int) -> None:
        """The leader this member knows changed."""
        self._lead = lead
        self._leader_epoch += 1
        if lead:
            self.lead_elected_time = self.env.now()
        if self._read_events is not None:
            self._read_events.send(("leader",))

    # ---- the apply loop -------------------------------------------------------------------

    def run(self) -> Process:
        """etcd's run(): apply what Raft hands over, in order.

        A process of its own, as etcd's applyAll runs on a FIFO scheduler apart from the Raft
        loop: while applying takes time, Raft goes on committing, and the applied index lags.
        """
        while True:
            entries = yield self._apply_queue.recv()
            yield from self.apply_all(entries)

    def apply_all(self, entries: list[Entry]) -> Process:
        """Apply a batch of committed entries and wake those waiting for the applied index."""
        if self.apply_batch_us:
            yield self.env.sleep(self.apply_batch_us)
        yield from self.apply_entries(entries)
        self.apply_wait.trigger(self.applied_index)

    def apply_entries(self, entries: list[Entry]) -> Process:
        """The entries above the applied index, one by one."""
        first = entries[0].index
        if first > self.applied_index + 1:
            self.env.fail(f"etcdserver: unexpected committed entry index {first}, "
                          f"applied index is {self.applied_index}")
            return
        reapply = self.apply_below_consistent_index
        env = self.env
        entry_us = self.apply_entry_us
        for e in entries:
            # After a restart applied_index starts at the backend's consistent index: this
            # skips what the store already holds (the planted bug applies it again).
            if e.index <= self.applied_index and not reapply:
                self.env.probes.hit("server.replayed_entry_skipped")
                continue
            cost = entry_us + env.apply_delay_us()
            if cost:
                # The entry takes effect once its work is done; reads meanwhile see the store
                # as the entries before it left it.
                yield env.sleep(cost)
            yield from self.apply_entry_normal(e)
            self.applied_index, self.applied_term = e.index, e.term

    def apply_entry_normal(self, e: Entry) -> Process:
        """Apply one entry to the store, unless the store already has it (consistent index)."""
        store = self.store
        should_apply = e.index > store.consistent_index or self.apply_below_consistent_index
        if should_apply:
            # Saved in the same batch as the entry's writes: a restart never re-applies it.
            store.set_consistent_index(e.index, e.term)
        if not e.data:  # the leader's empty entry of its term
            if self._read_events is not None:
                self._read_events.send(("first_commit",))
            return
        req = InternalRaftRequest.unmarshal(e.data)
        if not should_apply:
            return
        result: rpc.Response | EtcdError
        try:
            result = yield from self.apply_request(req.request)
        except EtcdError as exc:
            result = exc
        if self.monitor is not None:
            self.monitor.answered(self.id, req.id, e, self.store.rev())
        self.w.trigger(req.id, result)

    def apply_request(self, r: rpc.Request) -> Process:
        """The applier (etcd's applierV3backend): run the request against the store."""
        store = self.store
        if isinstance(r, (rpc.PutRequest, rpc.DeleteRangeRequest)):
            t = store.write()
            try:
                if isinstance(r, rpc.PutRequest):
                    return txnpkg.put(t, r)
                return txnpkg.delete_range(t, r)
            finally:
                t.end()
        if isinstance(r, rpc.TxnRequest):
            return txnpkg.txn(store, r)
        if isinstance(r, rpc.CompactionRequest):
            resp = txnpkg.compaction(store, r)
            # etcd persists the scheduled compaction at once, between these two failpoints.
            env = self.env
            if fp.COMPACT_BEFORE_COMMIT_SCHEDULED_COMPACT in env.armed:
                yield env.failpoint(fp.COMPACT_BEFORE_COMMIT_SCHEDULED_COMPACT)
            yield from self.backend.commit()
            if fp.COMPACT_AFTER_COMMIT_SCHEDULED_COMPACT in env.armed:
                yield env.failpoint(fp.COMPACT_AFTER_COMMIT_SCHEDULED_COMPACT)
            return resp
        return txnpkg.range_(store.read(), r)

    # ---- proposals ------------------------------------------------------------------------

    def raft_request(self, r: rpc.Request) -> Process:
        """Propose `r` and wait for its result (etcd's raftRequest)."""
        result = yield from self.process_internal_raft_request_once(r)
        if isinstance(result, EtcdError):
            raise result
        return result

    def process_internal_raft_request_once(self, r: rpc.Request) -> Process:
        """Assign an id, check the size, register a waiter, propose, wait or time out."""
        if self.committed_index > self.applied_index + MAX_GAP_BETWEEN_APPLY_AND_COMMIT_INDEX:
            raise rpctypes.TOO_MANY_REQUESTS.err()
        id_ = self.req_id_gen.next()
        # etcd holds the protobuf encoding to the limit, not the JSON one the entry carries.
        if internal_raft_request_size(id_, r) > self.cfg.max_request_bytes:
            raise rpctypes.REQUEST_TOO_LARGE.err()
        data = InternalRaftRequest(id_, r).marshal()
        ch = self.w.register(id_)
        if self.monitor is not None:
            self.monitor.proposed(self.id, id_, data)
        start = self.env.now()
        timer = self.env.call_later(self.cfg.req_timeout_us,
                                    lambda: self.w.trigger(id_, _TIMED_OUT))
        if not self.r.propose(data):
            timer.cancel()
            self.w.trigger(id_, None)  # GC the waiter
            self.env.probes.hit("server.proposal_dropped")
            raise rpctypes.PROPOSAL_DROPPED.err()
        x = yield ch
        timer.cancel()
        if x is _TIMED_OUT:
            self.env.probes.hit("server.request_timed_out")
            raise self.parse_propose_ctx_err(start)
        return x

    def parse_propose_ctx_err(self, start: int) -> EtcdError:
        """Which timeout error: one that began around a leader change blames the old leader."""
        prev_lead_lost = self.lead_elected_time - 2 * self.cfg.election_timeout_us
        if prev_lead_lost < start < self.lead_elected_time:
            return rpctypes.TIMEOUT_DUE_TO_LEADER_FAIL.err()
        return rpctypes.TIMEOUT.err()

    # ---- linearizable reads ----------------------------------------------------------------

    def linearizable_read_notify(self) -> Process:
        """Wait until this member has applied everything committed when the read began."""
        if bugs.LINEARIZABLE_READ_LOCAL in self.cfg.bugs:
            return  # the planted bug: answer from whatever this member has applied
        nc = self.read_notifier
        if not self._read_wanted:
            self._read_wanted = True
            if self._read_wake is not None:
                wake, self._read_wake = self._read_wake, None
                wake.succeed()
        yield nc.fut
        if nc.err is not None:
            raise nc.err.status.err()

    def linearizable_read_loop(self) -> Process:
        """Serve reads in batches: one ReadIndex for every read that asked before it went out."""
        while True:
            while not self._read_wanted:
                self._read_wake = self.env.future()
                yield self._read_wake
            self._read_wanted = False
            request_id = self.req_id_gen.next()
            nr = self.read_notifier
            self.read_notifier = _Notifier(self.env.future())
            try:
                confirmed = yield from self.request_current_index(request_id)
            except EtcdError as exc:
                nr.notify(exc)
                continue
            if self.applied_index < confirmed:
                self.env.probes.hit("server.read_waited_for_apply")
                yield self.apply_wait.wait(confirmed)
            nr.notify(None)

    def request_current_index(self, request_id: int) -> Process:
        """Send ReadIndex and wait for its answer: resent every 500 ms and after the first
        commit of a term, abandoned on a leader change or after the request timeout."""
        env = self.env
        ctx = struct.pack(">Q", request_id)
        events = _Chan(env.future)
        self._read_events = events
        error_timer = env.call_later(self.cfg.req_timeout_us, lambda: events.send(("timeout",)))
        retry: Timer | None = None
        try:
            while True:
                # Ask (again): at first, every 500 ms, and when the leader first commits in
                # its term (before that it cannot answer).
                self.r.read_index(ctx)
                if retry is not None:
                    retry.cancel()
                retry = env.call_later(self.cfg.knobs.read_index_retry_us,
                                       lambda: events.send(("retry",)))
                while True:
                    ev = yield events.recv()
                    kind = ev[0]
                    if kind == "state":
                        if ev[1].request_ctx == ctx:  # else: the answer to an abandoned read
                            return ev[1].index
                        env.probes.hit("server.stale_read_state_ignored")
                    elif kind == "leader":
                        env.probes.hit("server.read_abandoned_leader_changed")
                        raise rpctypes.LEADER_CHANGED.err()
                    elif kind == "timeout":
                        raise rpctypes.TIMEOUT.err()
                    else:
                        env.probes.sometimes(kind == "retry", "server.read_index_retried")
                        break
        finally:
            error_timer.cancel()
            if retry is not None:
                retry.cancel()
            self._read_events = None

    # ---- the KV operations (EtcdServer.Range/Put/DeleteRange/Txn/Compact) ------------------

    def range(self, r: rpc.RangeRequest) -> Process:
        """A range: linearizable unless serializable, then served from the local store."""
        if not r.serializable:
            yield from self.linearizable_read_notify()
        return txnpkg.range_(self.store.read(), r)

    def put(self, r: rpc.PutRequest) -> Process:
        """A put, through Raft."""
        return (yield from self.raft_request(r))

    def delete_range(self, r: rpc.DeleteRangeRequest) -> Process:
        """A delete, through Raft."""
        return (yield from self.raft_request(r))

    def txn(self, r: rpc.TxnRequest) -> Process:
        """A read-only txn is served locally (after a linearizable read unless all its ranges
        are serializable); any other goes through Raft."""
        if txnpkg.is_txn_readonly(r):
            if not txnpkg.is_txn_serializable(r):
                yield from self.linearizable_read_notify()
            return txnpkg.txn(self.store, r)
        return (yield from self.raft_request(r))

    def compact(self, r: rpc.CompactionRequest) -> Process:
        """A compaction, through Raft. As etcd's Compact, its header carries the store's
        revision once the request returns, not the one it was applied at: entries applied
        meanwhile make it later."""
        resp = yield from self.raft_request(r)
        if resp.header is not None:
            resp.header.revision = self.store.rev()
        return resp
