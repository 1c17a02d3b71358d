"""The linearizability checker: Wing & Gong's search with Lowe's cache, part by part.

Each independent part (P-compositionality: `Model.partition`) is searched depth first for an
order of its operations that respects real time and replays through the model. At each point
the candidates are the unplaced operations called no later than the earliest return among the
unplaced OK operations; OK ones are tried first, by call time, then unknown-outcome ones, most
recently called first. A dead end undoes the last placement. A search node is (OK operations
placed, unknown ones placed, model state); a node whose subtree failed is remembered, so it is
never searched again.

Why it is exact:
- Unknown-outcome operations have no return: they never limit the candidates, and one left
  unplaced never happened. So a failed node (O, s, U) also fails (O, s, U') for every U' ⊇ U;
  the cache keeps, per (O, s), the minimal failed sets U.
- Placing an unknown operation that leaves the state as it is never helps: it is skipped.
- A read (`Model.read_only`) that can take effect now goes first and alone: in any
  linearization from here it can be moved to the front. Other candidates that may leave the
  state as it is go first too, but not alone.

Why it is fast:
- OK operations are numbered by call time; the placed ones are a watermark `w` (all below are
  placed, `w` is not) and `rel`, the placed ones above it as bits relative to `w`. The search
  advances roughly in call order, so `rel` stays about as wide as the concurrency, however long
  the history.
- Where several unknown operations are pending, trying every subset of them at every dead end
  is what makes such searches explode. So a narrow search goes first (see `_Search.run`); the
  exhaustive one runs only when the narrow one fails having left something out, or grows past
  its node budget.
- Where a harness read the servers' logs, each unknown operation says whether and where it
  took effect (`Operation.applied`, `Model.hinted`/`Model.due`): it is tried first there, and a
  narrow search leaves out the ones that never did. Only the order changes: a wrong hint costs
  time, never a verdict. This is how etcd's robustness tests use the WAL's persisted requests.
- Unknown operations a model calls interchangeable (`Model.interchangeable`: they step alike
  from every state) are tried once per class at each point, the most recently called: any
  linearization that places an earlier-called one there can swap it for the later one.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections import deque
from collections.abc import Generator, Hashable, Iterator, Sequence
from dataclasses import dataclass, field

from sim.lincheck.history import Operation, Status
from sim.lincheck.model import Model, OutOfTime
from sim.lincheck.result import CheckResult, PartResult, Verdict

__all__ = ["check"]

_INFINITE = 1 << 62
_CLOCK_EVERY = 1 << 10  # children looked at between reads of the clock; a power of two
_NARROW_SCAN = 64  # classes of pending unknown ops a narrow search tries at a node, newest first
_NARROW_CHAIN = 40  # unknown ops it places in a row where no OK one can move (a run of revisions)
_NARROW_NODES = 10_000  # nodes a narrow search may add without getting further, then gives up
_WITNESS_BUDGET = 1.0  # seconds of search for a witness once a model has proved a part wrong
_TURN = 0.02  # seconds a part searches before the next part's turn


def check(
    history: Sequence[Operation], model: Model, timeout: float | None = None
) -> CheckResult:
    """Is `history` linearizable for `model`? `timeout` (wall seconds) bounds the whole check.

    FAIL operations are ignored. The parts are searched in turns, smallest first, a slice of
    time each, and the check stops at the first part proven not linearizable: one hard part
    never hides an easy failing one (Porcupine searches its parts in parallel for the same
    reason). When time runs out, or the check stopped at a failing part, the parts not yet
    decided are Verdict.UNKNOWN; the whole is UNKNOWN unless a part is not linearizable. An
    UNKNOWN part's `order` and `stuck` show how far its search got (a linearizable prefix, and
    the OK candidates blocked after it): a lead, not a verdict.
    """
    start = time.perf_counter()
    deadline = None if timeout is None else start + timeout
    live: list[Operation] = []
    for op in history:
        if op.status is Status.FAIL:
            continue
        if op.status is Status.OK:
            _ret(op)  # every OK operation must have returned
        live.append(op)
    model.deadline = deadline
    try:
        parts = _check_parts(model.partition(live), model, deadline)
    except OutOfTime:
        # The model could not even prepare the history in time: nothing was decided.
        parts = [PartResult(name="all", ops=live, verdict=Verdict.UNKNOWN)]
    finally:
        model.deadline = None  # what the model is asked later has no time limit of this check
    verdicts = {p.verdict for p in parts}
    if Verdict.NOT_LINEARIZABLE in verdicts:
        verdict = Verdict.NOT_LINEARIZABLE
    elif Verdict.UNKNOWN in verdicts:
        verdict = Verdict.UNKNOWN
    else:
        verdict = Verdict.LINEARIZABLE
    return CheckResult(
        verdict=verdict,
        parts=parts,
        operations=len(history),
        elapsed=time.perf_counter() - start,
    )


def _check_parts(
    split: list[list[Operation]], model: Model, deadline: float | None
) -> list[PartResult]:
    """Each part's result, in the parts' order; see `check` for the turns they take."""
    clock = time.perf_counter
    results: list[PartResult | None] = [None] * len(split)
    turns = deque(
        (i, _part_steps(split[i], model, deadline))
        for i in sorted(range(len(split)), key=lambda i: len(split[i]))
    )
    while turns:
        i, steps = turns.popleft()
        turn_ends = clock() + _TURN
        try:
            while True:
                next(steps)
                if clock() >= turn_ends:
                    break
        except StopIteration as done:
            results[i] = done.value
            if done.value.verdict is Verdict.NOT_LINEARIZABLE:
                break
            continue
        turns.append((i, steps))
    return [r if r is not None else PartResult(name=_part_name(split[i]), ops=split[i],
                                               verdict=Verdict.UNKNOWN)
            for i, r in enumerate(results)]


def _part_name(ops: Sequence[Operation]) -> str:
    """The key every operation of the part touches, else "all"."""
    keys = {op.key for op in ops}
    if len(keys) == 1:
        (key,) = keys
        if key is not None:
            return key
    return "all"


def _by_call(op: Operation) -> tuple[int, int]:
    return op.call, op.id


def _ret(op: Operation) -> int:
    if op.ret is None:
        raise ValueError(f"operation {op.id} ({op.f}) is OK but has no return time")
    return op.ret


def _part_steps(
    ops: list[Operation], model: Model, deadline: float | None
) -> Generator[None, None, PartResult]:
    """One part's search, yielding now and then so that the parts can take turns."""
    ok = sorted((op for op in ops if op.status is Status.OK), key=_by_call)
    unknown = sorted((op for op in ops if op.status is Status.UNKNOWN), key=_by_call)
    # A model may prove a part wrong without searching (the etcd model: a value nobody wrote, a
    # stale read); proving it by search alone can take exponential time when many outcomes are
    # unknown. The search then only looks for a witness prefix, within a small budget; a
    # linearization it finds would overrule the proof.
    contradictions = getattr(model, "contradictions", None)
    try:
        proof = contradictions(ops) if contradictions is not None else []
    except OutOfTime:
        return PartResult(name=_part_name(ops), ops=ops, verdict=Verdict.UNKNOWN)
    if proof:
        budget = time.perf_counter() + _WITNESS_BUDGET
        deadline = budget if deadline is None else min(deadline, budget)
    outcome = yield from _Search(ok, unknown, model, deadline).run()
    if proof and outcome.verdict is Verdict.UNKNOWN:
        index = {op.id: i for i, op in enumerate(ok)}
        outcome.verdict = Verdict.NOT_LINEARIZABLE
        outcome.stuck = sorted({index[op_id] for op_id, _why in proof if op_id in index})

    def ids(entries: list[int]) -> list[int]:
        return [ok[e].id if e >= 0 else unknown[~e].id for e in entries]

    return PartResult(
        name=_part_name(ops),
        ops=ops,
        verdict=outcome.verdict,
        order=ids(outcome.order),
        stuck=[ok[i].id for i in outcome.stuck],
        explored=outcome.explored,
    )


@dataclass
class _Outcome:
    verdict: Verdict
    order: list[int] = field(default_factory=list)  # entries: OK index i, or ~j for unknown j
    stuck: list[int] = field(default_factory=list)  # OK indices
    explored: int = 0
    placed: int = 0  # OK ops in `order`


class _Search:
    """The depth-first search over one part; `run` once."""

    def __init__(
        self, ok: list[Operation], unknown: list[Operation], model: Model, deadline: float | None
    ) -> None:
        self.ok = ok
        self.unknown = unknown
        self.model = model
        self.deadline = deadline
        calls = [op.call for op in ok]
        ucalls = [op.call for op in unknown]
        self.rets = [_ret(op) for op in ok]
        self.reads = [model.read_only(op) for op in ok]
        # For each OK op: how many OK / unknown ops are called no later than it returns. When it
        # is the earliest-returning unplaced op, those bound the candidates.
        self.limit = [bisect_right(calls, r) for r in self.rets]
        self.ulimit = [bisect_right(ucalls, r) for r in self.rets]
        # Unknown ops of one class step alike: only the most recently called pending one is
        # tried at a node (an earlier-called one fits wherever it would).
        self.classes = [model.interchangeable(op) for op in unknown]
        # Hints from the servers' logs (`Operation.applied`): where each unknown op took effect
        # (tried first when the state is there), and which never did. A narrow search places a
        # hinted op only where its hint says, and never one hinted never applied.
        self.due: dict[Hashable, list[int]] = {}
        self.never = 0  # hinted never applied, or applied elsewhere than where they are pending
        for j, op in enumerate(unknown):
            hint = model.hinted(op)
            if hint is not None:
                self.due.setdefault(hint, []).append(j)
            if hint is not None or op.applied == 0:
                self.never |= 1 << j
        self.narrow = False  # see `run`
        self.narrowed = False  # the narrow search left something out: its failure proves nothing

    def ok_candidates(self, w: int, rel: int) -> tuple[list[int], int]:
        """Unplaced OK candidates in call order, and how many unknown ops are called in time."""
        rets, limit = self.rets, self.limit
        cands = [w]
        first = rets[w]
        bound = limit[w]
        src = w
        # Ops called after the earliest return so far can neither be candidates nor return
        # earlier (ret >= call), so the scan stops at `bound`.
        i = w + 1
        bits = rel >> 1
        while i < bound:
            if not bits & 1:
                cands.append(i)
                r = rets[i]
                if r < first:
                    first = r
                    bound = limit[i]
                    src = i
            bits >>= 1
            i += 1
        return cands, self.ulimit[src]

    def children(
        self, w: int, rel: int, umask: int, state: Hashable, chain: int
    ) -> Iterator[tuple[int, Hashable, bool]]:
        """(entry, next state, chained): OK candidates first, then unknown ones (entry ~j).

        `chained` marks an unknown op a narrow search placed only because nothing else could
        move; `chain` counts those placed in a row just before this node.
        """
        step = self.model.step
        ok = self.ok
        reads = self.reads
        cands, ubound = self.ok_candidates(w, rel)
        blocked: list[int] = []
        for i in cands:
            if reads[i]:
                fits = list(step(state, ok[i]))
                if fits:
                    # A read that fits here goes first, alone: any linearization from here
                    # stays one when the read moves to the front.
                    for s in fits:
                        yield i, s, False
                    return
                blocked.append(i)
        later: list[tuple[int, list[Hashable]]] = []
        for i in cands:
            if not reads[i]:
                after = list(step(state, ok[i]))
                if not after:
                    blocked.append(i)
                elif state in after:
                    # It may leave the state as it is, like a read the model did not declare:
                    # likely right, so first, but not alone.
                    yield i, state, False
                    later.append((i, [s for s in after if s != state]))
                else:
                    later.append((i, after))
        for i, after in later:
            for s in after:
                yield i, s, False
        if not ubound:
            return
        unknown = self.unknown
        classes = self.classes
        tried: set[Hashable] = set()
        pending = ~umask & ((1 << ubound) - 1)
        if self.due:
            due = self.due.get(self.model.due(state))
            if due:
                # What the logs say took effect here: likely right, so first (but not alone:
                # a hint is no evidence).
                for j in due:
                    if pending >> j & 1:
                        pending ^= 1 << j
                        for s in step(state, unknown[j]):
                            if s != state:
                                yield ~j, s, False
        if not self.narrow:
            while pending:
                # The most recently called first: it is the likeliest to have taken effect just
                # now; older ones that never took effect pile up.
                j = pending.bit_length() - 1
                pending ^= 1 << j
                kind = classes[j]
                if kind is not None:
                    if kind in tried:
                        continue
                    tried.add(kind)
                for s in step(state, unknown[j]):
                    if s != state:
                        yield ~j, s, False
            return
        if pending & self.never:
            pending &= ~self.never
            self.narrowed = True
        nothing_moves = len(blocked) == len(cands) and chain < _NARROW_CHAIN
        unblocking: list[tuple[int, Hashable]] = []
        moving: list[tuple[int, Hashable]] = []
        scanned = 0
        while pending and scanned < _NARROW_SCAN:
            j = pending.bit_length() - 1
            pending ^= 1 << j
            kind = classes[j]
            if kind is not None:
                if kind in tried:
                    continue
                tried.add(kind)
            scanned += 1
            for s in step(state, unknown[j]):
                if s == state:
                    continue
                if any(any(True for _ in step(s, ok[b])) for b in blocked):
                    unblocking.append((j, s))
                elif nothing_moves:
                    moving.append((j, s))
                else:
                    self.narrowed = True
        if pending:
            self.narrowed = True
        for j, s in unblocking:
            yield ~j, s, False
        for j, s in moving:
            yield ~j, s, True

    def run(self) -> Generator[None, None, _Outcome]:
        """A narrow search, then, if it fails having left something out, the exhaustive one.

        The narrow search looks only at the _NARROW_SCAN most recently called pending unknown
        ops, and places one only where it lets a blocked OK candidate take effect, or where no
        OK candidate can (up to _NARROW_CHAIN in a row). What it finds is a linearization; most
        linearizable histories need nothing else.
        """
        if not self.unknown:
            return (yield from self.search())
        self.narrow = True
        first = yield from self.search()
        if first.verdict is not Verdict.NOT_LINEARIZABLE or not self.narrowed:
            return first
        self.narrow = False
        second = yield from self.search()
        if second.verdict is Verdict.UNKNOWN and first.placed > second.placed:
            first.verdict = Verdict.UNKNOWN  # its prefix got further: show that one
            second, first = first, second
        second.explored += first.explored
        return second

    def search(self) -> Generator[None, None, _Outcome]:
        """Search until every OK op is placed, the space is exhausted, or time runs out;
        yielding every _CLOCK_EVERY children looked at."""
        n_ok = len(self.ok)
        deadline = self.deadline
        clock = time.perf_counter
        if deadline is not None and clock() > deadline:
            return _Outcome(Verdict.UNKNOWN)
        state0 = self.model.init()
        if n_ok == 0:
            return _Outcome(Verdict.LINEARIZABLE, explored=1)
        children = self.children
        # A narrow search gives up once it has looked at _NARROW_NODES nodes since it last got
        # further (placed more OK ops than ever): stuck, not merely long.
        patience = _NARROW_NODES if self.narrow else _INFINITE
        give_up = patience
        # (w, rel, state) -> the minimal failed unknown-placed sets there: an int, or a list.
        # In a narrow search a failure may depend on the path (its chain); that search's
        # failure then counts for nothing anyway, since it has narrowed.
        failed: dict[tuple[int, int, Hashable], int | list[int]] = {}
        stack = [(children(0, 0, 0, state0, 0), 0, 0, 0, state0, 0, 0)]
        path: list[int] = []
        explored = 1
        ticks = 0  # children looked at, pruned or not: the clock is read every _CLOCK_EVERY
        # The node with the most OK ops placed, first reached; best_path[:low] == path[:low].
        best_count = 0
        best_node: tuple[int, int, Hashable] = (0, 0, state0)
        best_path: list[int] = []
        low = 0
        while stack:
            gen, w, rel, umask, state, count, chain = stack[-1]
            child = next(gen, None)
            if child is None:
                stack.pop()
                key = (w, rel, state)
                seen = failed.get(key)
                if seen is None:
                    failed[key] = umask
                elif isinstance(seen, int):
                    failed[key] = umask if not umask & ~seen else [seen, umask]
                else:
                    kept = [m for m in seen if umask & ~m]  # drop supersets of umask
                    kept.append(umask)
                    failed[key] = kept
                if path:
                    path.pop()
                    if len(path) < low:
                        low = len(path)
                continue
            e, s, chained = child
            ticks += 1
            if not ticks & (_CLOCK_EVERY - 1):
                yield
            if not ticks & (_CLOCK_EVERY - 1) and deadline is not None and clock() > deadline:
                # No verdict; the furthest it got, for a person to look at.
                return _Outcome(
                    Verdict.UNKNOWN,
                    order=best_path,
                    stuck=self.stuck(best_node, final=False),
                    explored=explored,
                    placed=best_count,
                )
            if e >= 0:
                c2 = count + 1
                u2 = umask
                if e == w:
                    r = rel | 1
                    shift = (r ^ (r + 1)).bit_length() - 1  # trailing ones: the new watermark
                    w2 = w + shift
                    rel2 = r >> shift
                else:
                    w2 = w
                    rel2 = rel | (1 << (e - w))
            else:
                c2 = count
                u2 = umask | (1 << ~e)
                w2 = w
                rel2 = rel
            if failed:
                seen = failed.get((w2, rel2, s))
                if seen is not None:
                    if isinstance(seen, int):
                        if not seen & ~u2:
                            continue
                    elif any(not m & ~u2 for m in seen):
                        continue
            explored += 1
            if explored > give_up:
                # A narrow search this busy is missing what it left out: the exhaustive one,
                # with its cache, does better from here.
                self.narrowed = True
                return _Outcome(Verdict.NOT_LINEARIZABLE, explored=explored, placed=best_count)
            path.append(e)
            if c2 == n_ok:
                return _Outcome(Verdict.LINEARIZABLE, order=path, explored=explored)
            if c2 > best_count:
                best_count = c2
                give_up = explored + patience
                best_node = (w2, rel2, s)
                del best_path[low:]
                best_path.extend(path[low:])
                low = len(path)
            chain2 = chain + 1 if chained else 0
            stack.append((children(w2, rel2, u2, s, chain2), w2, rel2, u2, s, c2, chain2))
        return _Outcome(
            Verdict.NOT_LINEARIZABLE,
            order=best_path,
            stuck=self.stuck(best_node, final=True),
            explored=explored,
            placed=best_count,
        )

    def stuck(self, node: tuple[int, int, Hashable], final: bool) -> list[int]:
        """The OK candidates at `node` that cannot take effect there.

        After an exhausted search (`final`) `node` is the deepest: every OK candidate there is
        blocked, or a child would be deeper; the fallback only guards that argument.
        """
        w, rel, state = node
        cands, _ = self.ok_candidates(w, rel)
        step = self.model.step
        blocked = [i for i in cands if not any(True for _ in step(state, self.ok[i]))]
        return blocked or cands if final else blocked
