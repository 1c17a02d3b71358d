"""One simulated disk per node: a page cache over durable storage, with faults.

Invariants:
- A file name maps to an inode; rename moves the inode, so durability travels with it.
- Metadata operations (create, rename, remove) are durable at once, as on a journaled file
  system; a file's *content* becomes durable only when an fsync of it completes.
- An inode's durable content only moves forward: an fsync whose snapshot is older than what is
  already durable changes nothing (fsyncs may complete out of order under jitter).
- Every random draw comes from the disk's own stream, in an order fixed by the calls made, and
  files are visited in sorted order wherever a draw or the trace depends on it.
- Faults that lose or damage data never touch synced bytes, except those that are about synced
  bytes (corruption, bit flips, misdirected writes, truncation of a synced tail); each strikes
  with a trace event naming the file and the bytes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from etcdcore.env import DiskError, DiskFullError
from sim.world.kernel import Environment
from sim.world.trace import Trace

__all__ = ["DiskConfig", "SimDisk"]

FsyncCallback = Callable[[DiskError | None], None]

_ERROR_OPS = ("read", "write", "fsync")


@dataclass(frozen=True)
class DiskConfig:
    """Fixed properties of a disk; faults change behaviour on top of these."""

    fsync_base_us: int = 1000
    fsync_jitter_us: int = 500  # latency is base ± jitter, drawn uniformly as an integer
    torn_probability: float = 0.5  # chance that an unsynced append leaves a torn prefix on crash
    # The unit a disk writes whole: written back (or lost) out of order, unreadable when bad.
    sector_size: int = 512

    def __post_init__(self) -> None:
        if self.fsync_base_us < 0 or self.fsync_jitter_us < 0:
            raise ValueError("fsync_base_us and fsync_jitter_us must be >= 0")
        if not 0.0 <= self.torn_probability <= 1.0:
            raise ValueError("torn_probability must be in [0, 1]")
        if self.sector_size < 1:
            raise ValueError("sector_size must be >= 1")


@dataclass(slots=True, eq=False)
class _Snapshot:
    """What an in-flight fsync will make durable: the first `length` bytes of the content,
    or `data` once a rewrite has made the content stop starting with them."""

    length: int
    data: bytes | None = None


@dataclass(slots=True)
class _Inode:
    content: bytearray
    # The durable content is `durable_bytes` when set, else the first `durable_len` bytes of
    # `content`. Appends (the WAL's hot path) keep that prefix intact, so fsync copies nothing;
    # only a rewrite (write, truncate, corruption) copies out what still points into content.
    durable_bytes: bytes | None = None
    durable_len: int = 0
    # Bumped on every content change, so an fsync knows how new its snapshot is.
    version: int = 0
    durable_version: int = 0
    pending: list[_Snapshot] = field(default_factory=list)
    # Latent sector errors: [start, end) ranges a read fails on until they are rewritten.
    bad: list[tuple[int, int]] = field(default_factory=list)

    @property
    def durable_size(self) -> int:
        return self.durable_len if self.durable_bytes is None else len(self.durable_bytes)

    @property
    def durable(self) -> bytes:
        if self.durable_bytes is not None:
            return self.durable_bytes
        return bytes(self.content[: self.durable_len])

    def detach(self) -> None:
        """Before content changes other than an append: copy out the prefixes still shared."""
        if self.durable_bytes is None:
            self.durable_bytes = bytes(self.content[: self.durable_len])
        for snap in self.pending:
            if snap.data is None:
                snap.data = bytes(self.content[: snap.length])

    def make_durable(self, snap: _Snapshot) -> None:
        if snap.data is None:
            self.durable_bytes = None
            self.durable_len = snap.length
        else:
            self.durable_bytes = snap.data


class _Fsync:
    """An fsync in flight: what it will make durable, and whom to tell (a queue item)."""

    __slots__ = ("disk", "failed", "generation", "inode", "on_done", "path", "snapshot",
                 "version")

    def __init__(
        self, disk: SimDisk, path: str, inode: _Inode, snapshot: _Snapshot, version: int,
        failed: bool, generation: int, on_done: FsyncCallback,
    ) -> None:
        self.disk = disk
        self.path = path
        self.inode = inode
        self.snapshot = snapshot
        self.version = version
        self.failed = failed
        self.generation = generation
        self.on_done = on_done

    def __call__(self, _event: object) -> None:
        self.disk._fsync_done(self)


def _ppm(p: float) -> int:
    # Trace fields must be ints/strs/bools/None for a canonical encoding, so rates are in ppm.
    return round(p * 1_000_000)


class SimDisk:
    """A node's disk: synchronous file operations, asynchronous fsync, crash and faults."""

    def __init__(
        self,
        env: Environment,
        rng: random.Random,
        trace: Trace,
        node: int,
        config: DiskConfig | None = None,
    ) -> None:
        self._kernel = env.kernel
        self._rng = rng
        self._trace = trace
        self.node = node
        self.config = config if config is not None else DiskConfig()
        self._files: dict[str, _Inode] = {}
        self._used = 0  # total bytes of current content, kept so the capacity check is O(1)
        # A crash or wipe bumps this; fsyncs started under an older generation are dropped.
        self._generation = 0
        self._latency_factor = 1
        self._stall_until = 0
        self._p_read = 0.0
        self._p_write = 0.0
        self._p_fsync = 0.0
        self._capacity: int | None = None
        self._p_misdirect = 0.0
        # One flag for every fault an append may meet, so an unarmed append checks one thing.
        self._append_faults = False
        self._reorder_next_crash = False

    # -- file operations ----------------------------------------------------------------------

    def write(self, path: str, data: bytes) -> None:
        """Replace the whole content of `path` (created if missing); not durable until fsync."""
        self._maybe_fail_write("write", path)
        inode = self._files.get(path)
        old = len(inode.content) if inode is not None else 0
        self._check_space("write", path, len(data) - old)
        if inode is None:
            inode = self._files[path] = _Inode(bytearray())
        inode.detach()
        inode.content[:] = data
        inode.version += 1
        inode.bad.clear()  # every sector rewritten
        self._used += len(data) - old

    def append(self, path: str, data: bytes) -> None:
        """Append `data` to `path` (created if missing); not durable until fsync."""
        if self._append_faults:
            if self._p_write:
                self._maybe_fail_write("append", path)
            if self._capacity is not None:
                self._check_space("append", path, len(data))
            if (self._p_misdirect and self._rng.random() < self._p_misdirect
                    and self._misdirect(path, data)):
                return
        inode = self._files.get(path)
        if inode is None:
            inode = self._files[path] = _Inode(bytearray())
        inode.content += data
        inode.version += 1
        self._used += len(data)

    def read(self, path: str) -> bytes:
        """The current content of `path` (FileNotFoundError if missing)."""
        if self._p_read and self._rng.random() < self._p_read:
            self._trace.emit("disk.error", self.node, "read", path)
            raise DiskError(f"node {self.node}: injected read error on {path!r}")
        inode = self._inode(path)
        if inode.bad:
            start = inode.bad[0][0]
            self._trace.emit("disk.bad_sector_read", self.node, path, start)
            raise DiskError(f"node {self.node}: read {path!r}: input/output error "
                            f"(unreadable sector at offset {start})")
        return bytes(inode.content)

    def rename(self, src: str, dst: str) -> None:
        """Atomically rename `src` to `dst`, replacing `dst`; the inode keeps its durable state."""
        self._maybe_fail_write("rename", src)
        inode = self._inode(src)
        if src == dst:
            return
        replaced = self._files.pop(dst, None)
        if replaced is not None:
            self._used -= len(replaced.content)
        del self._files[src]
        self._files[dst] = inode

    def truncate(self, path: str, size: int) -> None:
        """Cut `path` to `size` bytes, or extend it with zeros (FileNotFoundError if missing)."""
        if size < 0:
            raise ValueError(f"truncate size must be >= 0, got {size}")
        self._maybe_fail_write("truncate", path)
        inode = self._inode(path)
        inode.detach()
        delta = size - len(inode.content)
        if delta > 0:
            self._check_space("truncate", path, delta)
            inode.content += bytes(delta)
        else:
            del inode.content[size:]
            if inode.bad:
                _clip_bad(inode, size)
        inode.version += 1
        self._used += delta

    def list(self) -> list[str]:
        """All file names, sorted."""
        return sorted(self._files)

    def remove(self, path: str) -> None:
        """Delete `path` (FileNotFoundError if missing)."""
        self._maybe_fail_write("remove", path)
        inode = self._inode(path)
        del self._files[path]
        self._used -= len(inode.content)

    def exists(self, path: str) -> bool:
        """True if `path` exists."""
        return path in self._files

    def size(self, path: str) -> int:
        """Length of the current content of `path` (FileNotFoundError if missing)."""
        return len(self._inode(path).content)

    def durable(self, path: str) -> bytes:
        """What `path` would hold after a crash, torn writes aside (for tests)."""
        return self._inode(path).durable

    # -- fsync --------------------------------------------------------------------------------

    def fsync(self, path: str, on_done: FsyncCallback) -> None:
        """Make `path`'s content as of now durable after a latency, then call `on_done`.

        `on_done(None)` on success, `on_done(DiskError)` on an injected failure; never called
        if the disk crashes or is wiped first. FileNotFoundError at once if `path` is missing.
        """
        inode = self._inode(path)
        snapshot = _Snapshot(len(inode.content))
        inode.pending.append(snapshot)
        version = inode.version
        failed = bool(self._p_fsync) and self._rng.random() < self._p_fsync
        jitter = self.config.fsync_jitter_us
        latency = self.config.fsync_base_us
        if jitter:
            # randint(-jitter, jitter) as random.Random draws it, without its three calls.
            width = 2 * jitter + 1
            bits = width.bit_length()
            getrandbits = self._rng.getrandbits
            r = getrandbits(bits)
            while r >= width:
                r = getrandbits(bits)
            latency += r - jitter
        latency = max(0, latency) * self._latency_factor
        generation = self._generation

        # A bare scheduled callback, not a process: fsync is on the hot path. The _Fsync is the
        # callback itself: a closure here would refer to itself through the stall retry, a
        # cycle per fsync that only the garbage collector could free.
        self._kernel.call_after(
            latency, _Fsync(self, path, inode, snapshot, version, failed, generation, on_done))

    def _fsync_done(self, op: _Fsync) -> None:
        if op.generation != self._generation:
            return
        now = self._kernel.now
        if now < self._stall_until:
            # Re-check on wake-up: the stall may have been extended meanwhile.
            self._kernel.call_after(self._stall_until - now, op)
            return
        inode = op.inode
        snapshot = op.snapshot
        inode.pending.remove(snapshot)
        if op.failed:
            self._trace.emit("disk.error", self.node, "fsync", op.path)
            op.on_done(DiskError(f"node {self.node}: injected fsync error on {op.path!r}"))
            return
        if op.version > inode.durable_version:
            inode.make_durable(snapshot)
            inode.durable_version = op.version
        self._trace.emit("disk.fsync", self.node, op.path, snapshot.length)
        op.on_done(None)

    # -- crash and replacement ----------------------------------------------------------------

    def crash(self) -> None:
        """Lose everything not fsynced, maybe leaving a torn prefix of an unsynced append (or,
        once armed by lose_unsynced_out_of_order, any subset of its sectors)."""
        self._generation += 1
        reorder = self._reorder_next_crash
        self._reorder_next_crash = False
        for path in sorted(self._files):
            inode = self._files[path]
            durable = inode.durable
            content = inode.content
            extends = len(content) > len(durable) and content.startswith(durable)
            if reorder and extends:
                self._write_back_out_of_order(path, inode, len(durable))
                continue
            torn = 0
            if extends:
                tail = len(content) - len(durable)
                if self._rng.random() < self.config.torn_probability and tail > 1:
                    torn = self._rng.randint(1, tail - 1)
            kept = len(durable) + torn
            self._used += kept - len(content)
            del content[kept:]
            content[: len(durable)] = durable
            self._settle(inode, kept)
            self._trace.emit("disk.crash", self.node, path, len(durable), torn)

    def _write_back_out_of_order(self, path: str, inode: _Inode, synced: int) -> None:
        # Each sector holding unsynced bytes was written back, or not, whatever the order of
        # the writes: a lost one reads as zeros from where the synced bytes end. The file ends
        # with its last sector written back; synced bytes are never touched.
        content = inode.content
        size = self.config.sector_size
        end = len(content)
        first = synced // size
        last = (end - 1) // size
        kept_sectors = 0
        new_end = synced
        for k in range(first, last + 1):
            lo = max(synced, k * size)
            hi = min(end, (k + 1) * size)
            if self._rng.random() < 0.5:
                kept_sectors += 1
                new_end = hi
            else:
                content[lo:hi] = bytes(hi - lo)
        self._used += new_end - end
        del content[new_end:]
        self._settle(inode, new_end)
        self._trace.emit("disk.lost_writes", self.node, path, synced, new_end, kept_sectors,
                         last - first + 1)

    def _settle(self, inode: _Inode, kept: int) -> None:
        # What survived a crash is on the platter now, so a second crash keeps it.
        inode.version += 1
        self._trace.probes.sometimes(bool(inode.pending), "disk.crash_during_fsync")
        inode.pending.clear()
        inode.durable_bytes = None
        inode.durable_len = kept
        inode.durable_version = inode.version
        if inode.bad:
            _clip_bad(inode, kept)

    def wipe(self) -> None:
        """Replace the disk with an empty one: every file gone, durable content too."""
        self._generation += 1
        self._files.clear()
        self._used = 0
        self._trace.emit("disk.wipe", self.node)

    # -- faults -------------------------------------------------------------------------------

    def set_latency_factor(self, factor: int) -> None:
        """Multiply the latency of fsyncs started from now on by `factor` (>= 1)."""
        if factor < 1:
            raise ValueError(f"latency factor must be >= 1, got {factor}")
        self._latency_factor = factor
        self._trace.emit("disk.latency", self.node, factor)

    def stall(self, until_us: int) -> None:
        """Hold every fsync, including those in flight, until global time `until_us`."""
        self._stall_until = until_us
        self._trace.emit("disk.stall", self.node, until_us)

    def set_error_rate(self, op: str, p: float) -> None:
        """Fail each `op` ("read", "write" or "fsync") with probability `p`.

        "write" covers write, append, truncate, rename and remove; a failed one changes nothing.
        """
        if op not in _ERROR_OPS:
            raise ValueError(f"op must be one of {_ERROR_OPS}, got {op!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"error rate must be in [0, 1], got {p}")
        if op == "read":
            self._p_read = p
        elif op == "write":
            self._p_write = p
        else:
            self._p_fsync = p
        self._arm_appends()
        self._trace.emit("disk.error_rate", self.node, op, _ppm(p))

    def set_capacity(self, limit: int | None) -> None:
        """Refuse growth past `limit` total bytes of current content (None: unlimited)."""
        self._capacity = limit
        self._arm_appends()
        self._trace.emit("disk.capacity", self.node, limit)

    def corrupt(self) -> tuple[str, int] | None:
        """Flip one byte of some file's durable content; (path, offset), or None if none."""
        candidates = [path for path in sorted(self._files) if self._files[path].durable_size]
        if not candidates:
            return None
        path = candidates[self._rng.randrange(len(candidates))]
        inode = self._files[path]
        offset = self._rng.randrange(inode.durable_size)
        mask = self._rng.randint(1, 255)
        self._damage(inode, offset, bytes([inode.durable[offset] ^ mask]))
        self._trace.emit("disk.corrupt", self.node, path, offset)
        return path, offset

    def flip_bit(self, path: str | None = None) -> tuple[str, int, int] | None:
        """Flip one bit of the durable content of `path` (None: of any file with some); the
        (path, offset, bit) flipped, or None if there was nothing to flip."""
        if path is None:
            candidates = [p for p in sorted(self._files) if self._files[p].durable_size]
        else:
            inode = self._files.get(path)
            candidates = [path] if inode is not None and inode.durable_size else []
        if not candidates:
            self._trace.emit("disk.bitflip", self.node, path, None, None)
            return None
        target = candidates[self._rng.randrange(len(candidates))]
        inode = self._files[target]
        offset = self._rng.randrange(inode.durable_size)
        bit = self._rng.randrange(8)
        self._damage(inode, offset, bytes([inode.durable[offset] ^ (1 << bit)]))
        self._trace.emit("disk.bitflip", self.node, target, offset, bit)
        return target, offset, bit

    def lose_unsynced_out_of_order(self) -> None:
        """Arm the next crash to keep any subset of each file's unsynced sectors (pages written
        back in any order), rather than a prefix; synced bytes are never touched."""
        self._reorder_next_crash = True

    def set_misdirect_rate(self, p: float) -> None:
        """Misdirect each append with probability `p`: its bytes land at a wrong offset of the
        same file or of another (over synced bytes), and its own place reads as zeros."""
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"misdirect rate must be in [0, 1], got {p}")
        self._p_misdirect = p
        self._arm_appends()
        self._trace.emit("disk.misdirect_rate", self.node, _ppm(p))

    def add_bad_sector(self, path: str | None = None) -> tuple[str, int, int] | None:
        """Make one sector of `path` (None: of any file with content) fail every read (EIO)
        until it is rewritten; (path, start, end), or None if there is no such file."""
        if path is None:
            candidates = [p for p in sorted(self._files) if self._files[p].content]
        else:
            inode = self._files.get(path)
            candidates = [path] if inode is not None and inode.content else []
        if not candidates:
            self._trace.emit("disk.bad_sector", self.node, path, None, None)
            return None
        target = candidates[self._rng.randrange(len(candidates))]
        inode = self._files[target]
        size = self.config.sector_size
        length = len(inode.content)
        start = self._rng.randrange((length + size - 1) // size) * size
        end = min(length, start + size)
        inode.bad.append((start, end))
        inode.bad.sort()
        self._trace.emit("disk.bad_sector", self.node, target, start, end)
        return target, start, end

    def truncate_synced(self, path: str, nbytes: int) -> int:
        """Lose the last `nbytes` of `path`'s synced content (and anything after it), as a disk
        or a file system that loses acknowledged writes does; the new length.

        FileNotFoundError if `path` is missing.
        """
        if nbytes < 0:
            raise ValueError(f"bytes to cut must be >= 0, got {nbytes}")
        inode = self._inode(path)
        durable = inode.durable
        kept = max(0, len(durable) - nbytes)
        content = inode.content
        self._used += kept - len(content)
        content[:] = durable[:kept]
        self._settle(inode, kept)
        self._trace.emit("disk.truncate_synced", self.node, path, len(durable), kept)
        return kept

    def clear_faults(self) -> None:
        """Back to a healthy disk: factor 1, no stall, no error or misdirect rates, no capacity
        limit. Damage already done (corruption, unreadable sectors) stays."""
        self._latency_factor = 1
        self._stall_until = 0
        self._p_read = self._p_write = self._p_fsync = 0.0
        self._capacity = None
        self._p_misdirect = 0.0
        self._reorder_next_crash = False
        self._arm_appends()
        self._trace.emit("disk.clear_faults", self.node)

    def _arm_appends(self) -> None:
        self._append_faults = bool(
            self._p_write or self._capacity is not None or self._p_misdirect)

    def _misdirect(self, path: str, data: bytes) -> bool:
        """Land `data` somewhere over synced bytes instead of at the end of `path`; False if no
        file has synced bytes to land on (the append then goes where it should)."""
        candidates: list[str] = []
        for name in sorted(self._files):
            inode = self._files[name]
            # Only over a file whose page cache still holds its synced bytes: the damage is
            # then in both, and no fsync in flight can write the old bytes back over it.
            if inode.durable_size and (
                    inode.durable_bytes is None or inode.content.startswith(inode.durable_bytes)):
                candidates.append(name)
        if not candidates or not data:
            return False
        target = candidates[self._rng.randrange(len(candidates))]
        target_inode = self._files[target]
        offset = self._rng.randrange(target_inode.durable_size)
        own = self._files.get(path)
        if own is None:
            own = self._files[path] = _Inode(bytearray())
        intended = len(own.content)
        # The file grows, but nothing was written where the data should be.
        own.content += bytes(len(data))
        own.version += 1
        self._used += len(data)
        self._damage(target_inode, offset, data)
        self._trace.emit("disk.misdirect", self.node, path, intended, target, offset, len(data))
        return True

    def _damage(self, inode: _Inode, offset: int, data: bytes) -> None:
        """Bytes land on the platter at `offset`, within the file's synced content: the durable
        content, the page cache where it holds the same blocks, and the fsyncs in flight all
        hold them from now on (they never grow the file)."""
        shared = inode.durable_bytes is None or inode.content.startswith(inode.durable_bytes)
        inode.detach()
        durable = inode.durable_bytes
        assert durable is not None
        for snap in inode.pending:
            assert snap.data is not None
            snap.data = _overwrite(snap.data, offset, data)
        inode.durable_bytes = _overwrite(durable, offset, data)
        if shared:
            end = min(len(inode.content), offset + len(data))
            if end > offset:
                inode.content[offset:end] = data[: end - offset]
                inode.version += 1

    # -- internals ----------------------------------------------------------------------------

    def _inode(self, path: str) -> _Inode:
        inode = self._files.get(path)
        if inode is None:
            raise FileNotFoundError(f"node {self.node}: no such file {path!r}")
        return inode

    def _maybe_fail_write(self, op: str, path: str) -> None:
        if self._p_write and self._rng.random() < self._p_write:
            self._trace.emit("disk.error", self.node, op, path)
            raise DiskError(f"node {self.node}: injected {op} error on {path!r}")

    def _check_space(self, op: str, path: str, growth: int) -> None:
        if self._capacity is not None and growth > 0 and self._used + growth > self._capacity:
            self._trace.emit("disk.full", self.node, op, path)
            raise DiskFullError(f"node {self.node}: no space left for {op} on {path!r}")


def _overwrite(buf: bytes, offset: int, data: bytes) -> bytes:
    """`buf` with `data` written at `offset`, never longer than it was."""
    end = min(len(buf), offset + len(data))
    if end <= offset:
        return buf
    return buf[:offset] + data[: end - offset] + buf[end:]


def _clip_bad(inode: _Inode, size: int) -> None:
    """Forget the unreadable sectors past `size` (cut off): a sector written again reads."""
    inode.bad = [(lo, min(hi, size)) for lo, hi in inode.bad if lo < size]
