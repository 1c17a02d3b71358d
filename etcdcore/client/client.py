"""A KV client that behaves as etcd's Go client (clientv3) does toward a failing cluster.

Each call goes to the member the client is pinned to. An Unavailable answer moves the client to
the next member (the balancer leaves a member that cannot serve); a read (Range, repeatable) is
then retried there with a linear backoff until its deadline, but a write (Put, DeleteRange,
Txn, Compact: not repeatable) is never retried once it may have reached a server, since it may
have taken effect. A call that gets no answer by its deadline fails with DeadlineExceeded and
the client moves on too. A client without failover (`ClientConfig.failover`) stays on its member
whatever it answers, as a Go client given that one endpoint does: its reads are retried there.
A client that does not require a leader (clientv3 without WithRequireLeader) is served by a
member that has lost its leader: a serializable read, from whatever that member holds.
`outcome_known` says which errors prove that nothing happened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from etcdcore.api import rpc, rpctypes
from etcdcore.api.call import Call, Reply
from etcdcore.api.rpctypes import Code, EtcdError
from etcdcore.bugs import CLIENT_RETRIES_WRITES
from etcdcore.env import Env, Future, Process

__all__ = ["DEADLINE_EXCEEDED", "Client", "ClientConfig", "outcome_known"]

DEADLINE_EXCEEDED = rpctypes.Status(Code.DEADLINE_EXCEEDED, "context deadline exceeded")

_METHOD = {rpc.RangeRequest: "Range", rpc.PutRequest: "Put",
           rpc.DeleteRangeRequest: "DeleteRange", rpc.TxnRequest: "Txn",
           rpc.CompactionRequest: "Compact"}
_REPEATABLE = frozenset({"Range"})

# Errors that say the request was refused before it could take effect.
_DEFINITE_CODES = frozenset({Code.INVALID_ARGUMENT, Code.OUT_OF_RANGE, Code.NOT_FOUND,
                             Code.FAILED_PRECONDITION, Code.RESOURCE_EXHAUSTED,
                             Code.UNIMPLEMENTED})
_DEFINITE = frozenset({rpctypes.NO_LEADER, rpctypes.PROPOSAL_DROPPED})


def outcome_known(err: EtcdError) -> bool:
    """True if `err` proves the request did not take effect (false: it may have, or may yet).

    Validation and store errors are definite; so is "no leader" (the server refused before
    proposing) and raft's dropped proposal. Timeouts, a leader change, a stopped server and
    the client's own deadline leave the outcome unknown.
    """
    return err.code in _DEFINITE_CODES or err.status in _DEFINITE


@dataclass(frozen=True)
class ClientConfig:
    """How long a call may take, the retry backoff (clientv3: 25 ms, 10% jitter), whether the
    client moves to the next member when its own fails it (False: it stays pinned), and whether
    its calls require the member to know a leader (clientv3.WithRequireLeader)."""

    timeout_us: int = 1_000_000
    backoff_us: int = 25_000
    backoff_jitter: float = 0.10
    failover: bool = True
    require_leader: bool = True


def _resolver(fut: Future) -> Callable[[], None]:
    return lambda: fut.succeed(None)


class Client:
    """One client, pinned to one member at a time (for good without failover), with the Go
    client's retry rules."""

    def __init__(self, env: Env, endpoints: list[int], cfg: ClientConfig | None = None,
                 pinned: int = 0, bugs: frozenset[str] = frozenset()) -> None:
        self.env = env
        self.endpoints = list(endpoints)
        self.cfg = cfg or ClientConfig()
        self.pinned = pinned % len(self.endpoints)
        self._rand = env.rand("client")
        self._next_call = 0
        self._calls: dict[int, Future] = {}
        self.retries_lost_calls = CLIENT_RETRIES_WRITES in bugs
        env.set_receiver(self._receive)

    @property
    def endpoint(self) -> int:
        """The member calls go to now."""
        return self.endpoints[self.pinned]

    def _receive(self, frm: int, msg: Any) -> None:
        if isinstance(msg, Reply):
            fut = self._calls.pop(msg.id, None)
            if fut is not None:  # else: an answer after the deadline, dropped as gRPC does
                fut.succeed(msg)
            else:
                self.env.probes.hit("client.late_reply_dropped")

    def _failover(self) -> None:
        if self.cfg.failover:
            self.pinned = (self.pinned + 1) % len(self.endpoints)

    def do(self, request: rpc.Request) -> Process:
        """Call the KV method for `request`; its response, or raise the EtcdError."""
        method = _METHOD[type(request)]
        env = self.env
        deadline = env.now() + self.cfg.timeout_us
        attempt = 0
        while True:
            self._next_call += 1
            call_id = self._next_call
            fut = env.future()
            self._calls[call_id] = fut
            env.send(self.endpoint, Call(call_id, method, request, self.cfg.require_leader))
            timer = env.call_later(max(0, deadline - env.now()), _resolver(fut))
            reply = yield fut
            timer.cancel()
            self._calls.pop(call_id, None)
            if reply is None:
                self._failover()
                self.env.probes.sometimes(method not in _REPEATABLE, "client.write_outcome_unknown")
                if self.retries_lost_calls and attempt == 0:
                    # The planted bug: a call its member never answered (a lost connection,
                    # which gRPC reports as Unavailable) is sent again, write or not.
                    attempt += 1
                    deadline = env.now() + self.cfg.timeout_us
                    continue
                raise DEADLINE_EXCEEDED.err()
            assert isinstance(reply, Reply)
            if reply.error is None:
                assert reply.response is not None
                return reply.response
            err = reply.error
            if err.code == Code.UNAVAILABLE:
                self._failover()
                if method in _REPEATABLE:
                    attempt += 1
                    jitter = 1 + self.cfg.backoff_jitter * (2 * self._rand.random() - 1)
                    wait = int(self.cfg.backoff_us * attempt * jitter)
                    if env.now() + wait < deadline:
                        yield env.sleep(wait)
                        continue
            env.probes.sometimes(method not in _REPEATABLE and not outcome_known(err),
                                 "client.write_outcome_unknown")
            raise err
