"""Test fakes for etcdcore's environment: an in-memory Disk with crashes, tears, writes lost
out of order, and corruption."""

from __future__ import annotations

from etcdcore.env import DiskError

__all__ = ["Done", "MemDisk"]


class Done:
    """A waitable that has already resolved."""

    triggered = True


class MemDisk:
    """An in-memory Disk: each file has current content and durable (fsynced) content.

    Creating, renaming and removing files are durable at once (a simplification); data written to
    a file is durable only after fsync. Set `broken` to make every call raise DiskError.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.durable: dict[str, bytes] = {}
        self.broken = False
        self.fsyncs = 0

    def _check(self) -> None:
        if self.broken:
            raise DiskError(5, "input/output error")

    def _content(self, path: str) -> bytes:
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.files[path]

    def write(self, path: str, data: bytes) -> None:
        self._check()
        self.files[path] = bytes(data)
        self.durable.setdefault(path, b"")

    def append(self, path: str, data: bytes) -> None:
        self._check()
        self.files[path] = self.files.get(path, b"") + data
        self.durable.setdefault(path, b"")

    def read(self, path: str) -> bytes:
        self._check()
        return self._content(path)

    def rename(self, src: str, dst: str) -> None:
        self._check()
        self.files[dst] = self._content(src)
        self.durable[dst] = self.durable.pop(src)
        del self.files[src]

    def truncate(self, path: str, size: int) -> None:
        self._check()
        self.files[path] = self._content(path)[:size]

    def list(self) -> list[str]:
        self._check()
        return sorted(self.files)

    def remove(self, path: str) -> None:
        self._check()
        self._content(path)
        del self.files[path]
        del self.durable[path]

    def exists(self, path: str) -> bool:
        self._check()
        return path in self.files

    def fsync(self, path: str) -> Done:
        self._check()
        self.durable[path] = self._content(path)
        self.fsyncs += 1
        return Done()

    # Faults.

    def unsynced(self, path: str) -> int:
        """How many bytes of `path` were appended since its last fsync (0 if not an extension)."""
        cur, dur = self.files[path], self.durable[path]
        return len(cur) - len(dur) if cur.startswith(dur) else 0

    def crash(self, torn: int | None = None) -> None:
        """Lose unsynced data; where a file grew by appends, keep the first `torn` new bytes."""
        for path, dur in self.durable.items():
            cur = self.files[path]
            if torn is not None and cur.startswith(dur):
                dur += cur[len(dur) : len(dur) + torn]
            self.files[path] = dur
            self.durable[path] = dur

    def crash_out_of_order(self, kept: set[int], sector: int = 512) -> None:
        """Lose unsynced data as a page cache written back in any order: of each file's
        unsynced sectors (numbered from 0, the one holding the first unsynced byte), those in
        `kept` were written, the others read as zeros; the file ends with the last one kept.
        Synced bytes are never touched (sim.world.disk's model)."""
        for path, dur in self.durable.items():
            cur = self.files[path]
            if len(cur) > len(dur) and cur.startswith(dur):
                out = bytearray(cur)
                end = len(dur)
                first = len(dur) // sector
                for i, k in enumerate(range(first, (len(cur) - 1) // sector + 1)):
                    lo, hi = max(len(dur), k * sector), min(len(cur), (k + 1) * sector)
                    if i in kept:
                        end = hi
                    else:
                        out[lo:hi] = bytes(hi - lo)
                dur = bytes(out[:end])
            self.files[path] = dur
            self.durable[path] = dur

    def corrupt(self, path: str, offset: int, mask: int = 0xFF) -> None:
        """Flip bits of the byte at `offset` in both the current and the durable content."""
        for content in (self.files, self.durable):
            data = bytearray(content[path])
            if offset < len(data):
                data[offset] ^= mask
                content[path] = bytes(data)
