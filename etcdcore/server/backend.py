"""The backend on disk: the MVCC store's batch commits appended to one file and fsynced.

As etcd's backend (bbolt with a batch tx): writes collect in memory and are committed every
`batch_interval_us` (100 ms by default) or when forced (a compaction forces one); each commit
holds the consistent index with the writes, atomically, so a restart knows exactly which raft
entries the store already has. A crash loses what was not committed; the WAL replays it.

Why a file of its own rather than rebuilding from the WAL: etcd does it this way, and it is what
makes the consistent index matter (an entry at or below it must not be applied again).
"""

from __future__ import annotations

from etcdcore.env import DiskError, Env, Process
from etcdcore.mvcc import BackendCorruptError, Store
from etcdcore.server import failpoints as fp

__all__ = ["BATCH_INTERVAL_US", "DB_PATH", "Backend"]

DB_PATH = "member/snap/db"
BATCH_INTERVAL_US = 100_000


class Backend:
    """The store and its file; `run()` is the batch-commit loop."""

    def __init__(self, env: Env, batch_interval_us: int = BATCH_INTERVAL_US,
                 bugs: frozenset[str] = frozenset()) -> None:
        self.env = env
        self.batch_interval_us = batch_interval_us
        self.bugs = bugs  # planted bugs switched on (etcdcore.bugs), handed to the store
        self.store = Store(bugs=bugs)
        self._committing = False

    def open(self) -> Process:
        """Restore the store from the file (cutting a torn tail), or create the file; True if
        that worked. A disk error (an unreadable sector included) or a corrupt record stops the
        member (False), as etcd panics when it cannot open its backend: every record is checked
        before the store serves anything.
        """
        disk = self.env.disk
        try:
            if disk.exists(DB_PATH):
                data = disk.read(DB_PATH)
                self.store, valid = Store.restore(data, bugs=self.bugs)
                if valid < len(data):
                    self.env.trace("backend.repair", len(data) - valid, self.store.torn)
                    self.env.probes.hit("backend.torn_tail_repaired")
                    disk.truncate(DB_PATH, valid)
                    yield disk.fsync(DB_PATH)
            else:
                disk.write(DB_PATH, b"")
                yield disk.fsync(DB_PATH)
        except BackendCorruptError as corrupt:
            self.env.fail(f"backend: failed to open database {DB_PATH}: {corrupt}")
            return False
        except DiskError as exc:
            self.env.fail(f"backend: failed to open database {DB_PATH}: {exc}")
            return False
        return True

    def run(self) -> None:
        """Start the backend's run loop: each interval, commit the batch if it holds anything,
        then wait the interval again (etcd resets its timer after the commit)."""
        self.env.call_later(self.batch_interval_us, self._tick)

    def _tick(self) -> None:
        # A timer, not a process, while there is nothing to commit: with a 1 ms interval most
        # ticks find the batch empty, and a process's wake-up costs several times a timer's.
        if self._committing or self.store.dirty:
            self.env.spawn(self._commit_then_wait(), "backend.commit")
        else:
            self.env.call_later(self.batch_interval_us, self._tick)

    def _commit_then_wait(self) -> Process:
        yield from self.commit()
        self.env.call_later(self.batch_interval_us, self._tick)

    def commit(self) -> Process:
        """Commit what changed since the last commit (a forced commit, when called directly)."""
        while self._committing:  # one commit at a time: records must land in order
            yield self.env.sleep(1_000)
        record = self.store.commit()
        if not record:
            return
        self._committing = True
        env = self.env
        try:
            if fp.BEFORE_COMMIT in env.armed:
                yield env.failpoint(fp.BEFORE_COMMIT)
            env.disk.append(DB_PATH, record)
            yield env.disk.fsync(DB_PATH)
            if fp.AFTER_COMMIT in env.armed:
                yield env.failpoint(fp.AFTER_COMMIT)
        except DiskError as exc:
            env.fail(f"backend: commit failed: {exc}")  # etcd panics: bbolt cannot go on
        finally:
            self._committing = False
