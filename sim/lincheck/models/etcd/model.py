"""The etcd model: the checker's interface over the store, its facts and its shortcuts."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import ClassVar

from sim.lincheck.history import HistoryError, Operation, Status
from sim.lincheck.model import BadOperation, Model, check_time
from sim.lincheck.models.etcd.contradictions import find_contradictions
from sim.lincheck.models.etcd.describe import describe
from sim.lincheck.models.etcd.errors import COMPACTED, FUTURE_REV, StoreError
from sim.lincheck.models.etcd.feasibility import Facts
from sim.lincheck.models.etcd.footprint import puts_of, revisions_asked
from sim.lincheck.models.etcd.horizon import Horizon
from sim.lincheck.models.etcd.interchangeable import classes
from sim.lincheck.models.etcd.operations import Compiled
from sim.lincheck.models.etcd.requests import CompactReq, PutReq, parse_request
from sim.lincheck.models.etcd.responses import matches
from sim.lincheck.models.etcd.state import INITIAL, EtcdState
from sim.lincheck.models.etcd.store import execute, run

__all__ = ["EtcdModel"]


class EtcdModel(Model):
    """etcd v3's KeyValue store: put, range, delete_range, txn and compact, with revisions."""

    name: ClassVar[str] = "etcd"

    def __init__(self) -> None:
        self._compiled: dict[int, Compiled] = {}
        self._horizon: Horizon | None = None  # of the history last partitioned
        self._classes: dict[int, Hashable] = {}  # id(op) -> its class; see `interchangeable`

    def init(self) -> EtcdState:
        """An empty store at revision 1."""
        if self._horizon is None:
            return INITIAL
        return EtcdState(1, -1, {}, (), 0, self._horizon)

    def compile(self, op: Operation) -> Compiled:
        """The operation's parsed request and expectations, cached; HistoryError if malformed
        (`validate` says the same as BadOperation, for a caller that knows the file)."""
        try:
            return self._compile(op)
        except BadOperation as exc:
            line = op.ret_line if exc.in_result and op.ret_line else op.line
            raise HistoryError("history", line, f"operation {op.id} ({op.f}): {exc}") from None

    def _compile(self, op: Operation) -> Compiled:
        c = self._compiled.get(id(op))
        if c is not None and c.op is op:
            return c
        try:
            req = parse_request(op.f, op.args)
        except ValueError as exc:
            raise BadOperation(str(exc)) from None
        try:
            c = Compiled(op, req)
        except ValueError as exc:
            raise BadOperation(str(exc), in_result=True) from None
        self._compiled[id(op)] = c
        return c

    def validate(self, op: Operation) -> None:
        """etcd's requests (range, put, delete_range, txn, compact) with etcd's argument and
        result types; an int64 may be a decimal string, as etcd's JSON gateway writes it."""
        self._compile(op)

    def step(self, state: EtcdState, op: Operation) -> Iterable[Hashable]:
        """The store after `op`, if it can answer as the client saw; see the package docstring."""
        c = self._compiled.get(id(op))
        if c is None or c.op is not op:
            c = self.compile(op)
        facts = c.facts
        if state.horizon is None:
            facts = None  # a search not set up by partition(): no shortcuts
        elif facts is None or facts.horizon is not state.horizon:
            # States that compare by one history's horizon mean nothing to another history.
            raise ValueError(f"operation {op.id} is not in the history given to partition() "
                             "before init(); call partition() with the operations to check")
        if op.status is not Status.OK:
            if op.status is Status.FAIL or c.read_only:
                return (state,)  # a read changes nothing, whenever it takes effect
            req = c.req
            if facts is not None:
                if isinstance(req, CompactReq):
                    # Compaction only makes requests fail: needed only to explain a failure.
                    if not facts.compacted_error:
                        return ()
                elif state.revision + 1 in facts.claimed or state.revision >= facts.ceiling:
                    # A write takes the next revision, which no ok request may have taken; and
                    # past every revision an ok result needs, never taking effect explains as
                    # much. (A write that changes nothing is the same as never taking effect.)
                    return ()
            checked = False
            if facts is not None and isinstance(req, PutReq):
                # A put's writes do not depend on the state: decide before building it.
                rev = state.revision + 1
                fits = c.fits.get(rev)
                if fits is None:
                    fits = c.fits[rev] = facts.allows(rev, ((req.key, req.value),))
                if not fits:
                    return ()
                checked = True
            try:
                after, _, changes = run(state, req)
            except StoreError:
                return (state,)
            if changes and facts is not None:
                if not checked and not facts.allows(
                        after.revision, [(r.key, r.value) for r in changes]):
                    return ()
                if not facts.feasible(after):
                    return ()
            return (after,)
        if c.unchecked:
            return (state,)
        if c.error is not None:
            if c.error not in (COMPACTED, FUTURE_REV):
                return (state,)  # a validation error: it did not take effect
            try:
                execute(state, c.req)
            except StoreError as exc:
                return (state,) if exc.message == c.error else ()
            return ()
        if not c.rev_lo <= state.revision <= c.rev_hi:
            return ()
        try:
            after, resp = execute(state, c.req)
        except StoreError:
            return ()
        return (after,) if matches(c.observed, resp) else ()

    def partition(self, ops: Sequence[Operation]) -> list[list[Operation]]:
        """One part: every write bumps the one global revision, so keys are not independent.

        Also prepares the shortcuts for exactly these operations (see the package docstring): the
        next `init()` roots a search over them, and stepping another operation from it raises.
        OutOfTime past `self.deadline`.
        """
        deadline = self.deadline
        facts = Facts()
        compiled: list[Compiled] = []
        for n, op in enumerate(ops):
            check_time(deadline, n)
            compiled.append(self.compile(op))
        for n, c in enumerate(compiled):
            check_time(deadline, n)
            facts.putter(c.req)
            for key, value in puts_of(c.req):
                facts.writer(key, value)
            if c.op.status is Status.OK and c.error is None and not c.unchecked:
                facts.request(c.req, c.observed)
                if c.op.ret is not None and c.rev_lo >= 0:
                    facts.returned(c.rev_lo, c.op.ret)
                elif c.op.ret is not None and isinstance(c.req, CompactReq) and c.rev_hi >= 0:
                    facts.returned(c.rev_hi, c.op.ret)  # the store was there when it answered
            elif c.op.status is Status.UNKNOWN:
                facts.lost(c.req, c.op.call)
            if c.op.status is Status.OK and not c.unchecked:
                if c.error is None:
                    facts.ceiling = max(facts.ceiling, c.rev_hi)
                elif c.error == COMPACTED:
                    # A compaction past the revision it asked for: the store got there first.
                    facts.ceiling = max(facts.ceiling, 1 + max(revisions_asked(c.req), default=0))
                    facts.compacted_error = True
        facts.seal()
        check_time(deadline, 0)
        facts.horizon = self._horizon = Horizon(compiled, sorted(facts.keys))
        check_time(deadline, 0)
        for c in compiled:
            c.facts = facts
        self._classes = classes(compiled, facts.horizon)
        return [list(ops)]

    def interchangeable(self, op: Operation) -> Hashable | None:
        """Unknown-outcome requests that write alike: the same request up to values nobody sees
        (in no result, no compare), so they step alike from every state; see interchangeable.py."""
        return self._classes.get(id(op))

    def hinted(self, op: Operation) -> Hashable | None:
        """The revision an unknown-outcome write left the store at, as the servers' logs say."""
        return op.applied or None

    def due(self, state: EtcdState) -> Hashable | None:
        """The revision the next write takes."""
        return state.revision + 1

    def contradictions(self, ops: Sequence[Operation]) -> list[tuple[int, str]]:
        """Proofs without search that `ops` has no linearization: (operation id, why) pairs.

        Finds the usual bugs: a read of a value no request writes, of an overwritten version
        (stale: an ok put wrote the key between the version read and the read's revision), two
        versions at one revision, a revision two ok writes took. Empty proves nothing.
        OutOfTime past `self.deadline`.
        """
        return find_contradictions(
            [self.compile(op) for op in ops if op.status is not Status.FAIL], self.deadline)

    def describe_operation(self, op: Operation) -> str:
        """E.g. `put(k1, 'v3') -> rev 7`."""
        return describe(op)

    def describe_state(self, state: EtcdState) -> str:
        """Revision, compact revision and the live keys."""
        return repr(state)
