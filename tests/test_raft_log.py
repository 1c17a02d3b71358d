"""The Raft log: log matching, conflict truncation, and the limits on commit."""

from __future__ import annotations

import pytest

from etcdcore.raft import Entry, HardState, MemoryStorage, RaftError, RaftLog


def ents(*terms: int, start: int = 1) -> list[Entry]:
    """Entries with the given terms, from index `start`."""
    return [
        Entry(term=t, index=start + k, data=f"{start + k}@{t}".encode())
        for k, t in enumerate(terms)
    ]


def log_of(*terms: int, committed: int = 0) -> RaftLog:
    """A log whose stable entries have the given terms."""
    log = RaftLog(MemoryStorage(HardState(), ents(*terms)))
    log.commit_to(committed)
    return log


def terms(log: RaftLog) -> list[int | None]:
    return [log.term_at(i) for i in range(1, log.last_index() + 1)]


def test_find_conflict_returns_the_first_index_whose_term_differs_or_zero() -> None:
    log = log_of(1, 2, 3)
    assert log.find_conflict([]) == 0
    assert log.find_conflict(ents(1, 2, 3)) == 0
    assert log.find_conflict(ents(2, 3, start=2)) == 0
    assert log.find_conflict(ents(2, 3, 4, 4, start=2)) == 4  # new entries count as differing
    assert log.find_conflict(ents(4, 4, start=1)) == 1
    assert log.find_conflict(ents(2, 4, 4, start=2)) == 3


def test_an_append_that_does_not_follow_on_from_our_log_is_refused() -> None:
    log = log_of(1, 2, 3)
    assert log.maybe_append(3, 2, 0, ents(4, start=4)) is None  # entry 3 has term 3, not 2
    assert log.maybe_append(4, 3, 0, ents(4, start=5)) is None  # we have no entry 4
    assert terms(log) == [1, 2, 3]


def test_conflicting_uncommitted_entries_are_truncated_and_replaced() -> None:
    log = log_of(1, 1, 1, 1, committed=1)
    assert log.maybe_append(1, 1, 0, ents(2, 2, start=2)) == 3
    assert terms(log) == [1, 2, 2]


def test_conflicting_unstable_entries_are_truncated_and_replaced() -> None:
    log = log_of(1)
    log.append(ents(1, 1, 1, start=2))
    assert log.maybe_append(2, 1, 0, ents(3, start=3)) == 3
    assert terms(log) == [1, 1, 3]
    assert log.unstable.offset == 2


def test_a_stale_append_never_truncates_entries_it_matches() -> None:
    log = log_of(1, 1, 2, 2, 2)
    # An old MsgApp carrying only a prefix of what we hold arrives late.
    assert log.maybe_append(1, 1, 0, ents(1, 2, start=2)) == 3
    assert terms(log) == [1, 1, 2, 2, 2]
    assert log.maybe_append(0, 0, 0, []) == 0
    assert terms(log) == [1, 1, 2, 2, 2]


def test_truncating_a_committed_entry_is_refused() -> None:
    log = log_of(1, 1, 1, committed=2)
    with pytest.raises(RaftError):
        log.maybe_append(1, 1, 0, ents(2, 2, start=2))
    assert terms(log) == [1, 1, 1]
    with pytest.raises(RaftError):
        log.append(ents(2, start=2))


def test_a_follower_commit_is_clamped_to_the_last_new_entry() -> None:
    # Entries 3 and 4 came from an old leader and may not match the new one's log.
    log = log_of(1, 1, 1, 1)
    assert log.maybe_append(1, 1, 4, ents(1, start=2)) == 2
    assert log.committed == 2
    assert log.maybe_append(2, 1, 1, []) == 2
    assert log.committed == 2  # never lowered


def test_the_commit_index_never_passes_the_last_index() -> None:
    log = log_of(1, 1)
    with pytest.raises(RaftError):
        log.commit_to(3)


def test_only_an_entry_of_the_given_term_is_committed_by_maybe_commit() -> None:
    log = log_of(1, 2, 3)
    assert not log.maybe_commit(2, 3)
    assert log.committed == 0
    assert log.maybe_commit(3, 3)
    assert log.committed == 3


def test_find_conflict_by_term_skips_every_entry_of_a_larger_term() -> None:
    log = log_of(1, 1, 2, 2, 5, 5, 5)
    assert log.find_conflict_by_term(7, 4) == (4, 2)
    assert log.find_conflict_by_term(7, 5) == (7, 5)
    assert log.find_conflict_by_term(4, 1) == (2, 1)
    assert log.find_conflict_by_term(7, 0) == (0, 0)
    assert log.find_conflict_by_term(9, 5) == (9, 0)  # beyond our log: unknown, maybe a match


def test_up_to_date_compares_last_term_then_last_index() -> None:
    log = log_of(1, 2, 2)
    assert log.is_up_to_date(3, 2)
    assert log.is_up_to_date(1, 3)
    assert not log.is_up_to_date(2, 2)
    assert not log.is_up_to_date(9, 1)


def test_unstable_entries_are_handed_out_once_and_a_truncation_hands_out_the_new_ones() -> None:
    log = log_of(1)
    log.append(ents(1, 1, start=2))
    assert [e.index for e in log.next_unstable_entries()] == [2, 3]
    log.accept_unstable()
    assert not log.has_next_unstable_entries()
    log.append(ents(2, start=3))
    assert [(e.index, e.term) for e in log.next_unstable_entries()] == [(3, 2)]
    log.stable_to(3, 1)  # the driver persisted the old entry 3: not ours anymore
    assert log.stable_last_index() == 1
    log.stable_to(2, 1)
    assert log.stable_last_index() == 2


def test_storage_append_replaces_its_tail_and_refuses_gaps() -> None:
    s = MemoryStorage(HardState(), ents(1, 1, 1))
    s.append(ents(2, start=2))
    assert [s.term(i) for i in range(0, 4)] == [0, 1, 2, None]
    with pytest.raises(RaftError):
        s.append(ents(2, start=4))
