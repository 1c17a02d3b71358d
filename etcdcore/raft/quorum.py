"""Majority quorums: the commit index a set of matches supports, and vote tallies."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

__all__ = ["VoteResult", "committed_index", "majority", "vote_result"]


class VoteResult(enum.IntEnum):
    """The outcome of an election so far."""

    PENDING = 0
    LOST = 1
    WON = 2


def majority(n: int) -> int:
    """The size of a majority of `n` voters."""
    return n // 2 + 1


def committed_index(matches: Iterable[int]) -> int:
    """The highest index that a majority of voters (whose match indexes are given) holds."""
    ordered = sorted(matches, reverse=True)
    return ordered[len(ordered) // 2]


def vote_result(voters: Iterable[int], votes: Mapping[int, bool]) -> VoteResult:
    """WON once a majority granted, LOST once a majority can no longer grant, else PENDING."""
    granted = rejected = missing = 0
    for v in voters:
        vote = votes.get(v)
        if vote is None:
            missing += 1
        elif vote:
            granted += 1
        else:
            rejected += 1
    q = majority(granted + rejected + missing)
    if granted >= q:
        return VoteResult.WON
    if granted + missing >= q:
        return VoteResult.PENDING
    return VoteResult.LOST
