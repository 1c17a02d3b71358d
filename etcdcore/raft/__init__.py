"""A pure Raft, after etcd-io/raft: no clock, no IO, no threads; driven by a RawNode.

The driver ticks it, steps it with peers' messages, proposes data, and loops over
`ready()` / persist / send / apply / `advance()`. See `rawnode` for the contract.

    node = RawNode(Config(id=1, peers=[1, 2, 3], rand=env.rand("raft")), MemoryStorage())
    node = RawNode(config, MemoryStorage(hard_state, entries))  # restart from a replayed WAL
"""

from .errors import ProposalDropped, RaftError
from .log import RaftLog
from .progress import Inflights, Progress, ProgressState
from .quorum import VoteResult
from .raft import Config, Raft
from .rawnode import RawNode
from .storage import MemoryStorage
from .types import (
    NONE,
    Entry,
    HardState,
    Message,
    MessageType,
    ReadState,
    Ready,
    SoftState,
    StateType,
)

__all__ = [
    "NONE",
    "Config",
    "Entry",
    "HardState",
    "Inflights",
    "MemoryStorage",
    "Message",
    "MessageType",
    "Progress",
    "ProgressState",
    "ProposalDropped",
    "Raft",
    "RaftError",
    "RaftLog",
    "RawNode",
    "ReadState",
    "Ready",
    "SoftState",
    "StateType",
    "VoteResult",
]
