"""Named random streams derived from one root seed.

Each consumer (a link, a disk, a node's Raft, the fault schedule, the workload) asks for its own
stream by name, so adding a consumer never shifts the draws of another.
"""

from __future__ import annotations

import hashlib
import random

__all__ = ["Streams", "derive_seed"]


def derive_seed(root_seed: int, name: str) -> int:
    """A 64-bit seed for stream `name`, stable across processes and Python versions."""
    digest = hashlib.sha256(f"{root_seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Streams:
    """A family of independent `random.Random` streams, one per name."""

    def __init__(self, root_seed: int) -> None:
        self.root_seed = root_seed
        self._streams: dict[str, random.Random] = {}

    def get(self, name: str) -> random.Random:
        """The stream called `name`; the same object on every call."""
        stream = self._streams.get(name)
        if stream is None:
            stream = random.Random(derive_seed(self.root_seed, name))
            self._streams[name] = stream
        return stream
