"""Which of several processes sharing one store runs the background jobs.

Several API workers share a PostgreSQL store, but only one of them may follow the chain into
it, deliver webhooks or submit queued operations. :class:`LeaderLock` elects it with a
session-level advisory lock (``pg_try_advisory_lock``) held on a connection of its own: the
lock lives exactly as long as that connection, so when the leader dies PostgreSQL drops it and
the next worker to try takes over. On SQLite only one process may write anyway (``serve``
refuses several workers there), so the lock is always granted.

:class:`LeaderJobs` retries the lock every ``interval`` seconds and runs its jobs while this
process holds it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

__all__ = ["Job", "LeaderJobs", "LeaderLock"]

_log = logging.getLogger(__name__)


class Job(Protocol):
    """Something the leader runs: started once it leads, stopped when it stops leading."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for ``name`` (stable across processes and runs)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class LeaderLock:
    """The advisory lock ``name`` on ``engine``'s database, held by at most one process."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self.key: int | None = None
        """The advisory lock's key: ``name`` within the database and schema (set on first try).
        Advisory locks are database-wide; the schema keeps separate stores apart."""
        self._connection: Connection | None = None
        self._shared = engine.dialect.name != "postgresql"

    @property
    def held(self) -> bool:
        return self._shared or self._connection is not None

    def try_acquire(self) -> bool:
        """Whether this process holds the lock now (taking it if it is free).

        While held, each call checks that the lock's connection is still alive: a lost
        connection means PostgreSQL has released the lock, maybe to another process.
        """
        if self._shared:
            return True
        if self._connection is not None:
            if self._alive(self._connection):
                return True
            _log.warning("lost the connection holding leader lock %r", self.name)
            self._discard()
        try:
            connection = self.engine.connect()
        except (OperationalError, DBAPIError) as exc:
            _log.warning("cannot reach the database for leader lock %r: %s", self.name, exc)
            return False
        try:
            if self.key is None:
                where = connection.scalar(
                    text("SELECT current_database() || '.' || current_schema()")
                )
                self.key = lock_key(f"{self.name}@{where}")
            granted = connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            )
            connection.commit()  # the lock is session-level: it outlives this transaction
        except (OperationalError, DBAPIError) as exc:
            _log.warning("leader lock %r could not be tried: %s", self.name, exc)
            connection.close()
            return False
        if not granted:
            connection.close()
            return False
        self._connection = connection
        return True

    def release(self) -> None:
        """Give the lock up (a no-op when not held)."""
        connection = self._connection
        if connection is None:
            return
        try:
            connection.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            connection.commit()
        except (OperationalError, DBAPIError):
            pass  # the connection is gone, and the lock with it
        self._discard()

    def _alive(self, connection: Connection) -> bool:
        try:
            connection.scalar(text("SELECT 1"))
            connection.commit()
        except (OperationalError, DBAPIError):
            return False
        return True

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.invalidate()  # never back to the pool: it may still hold the lock
                connection.close()
            except (OperationalError, DBAPIError):
                pass


class LeaderJobs:
    """Runs ``jobs`` while this process holds ``lock``; tries for it every ``interval`` s."""

    def __init__(self, lock: LeaderLock, jobs: Sequence[Job], *, interval: float = 5.0) -> None:
        self.lock = lock
        self.jobs = list(jobs)
        self.interval = interval
        self._running = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.leading = threading.Event()
        """Set while this process leads (for tests and status)."""

    def start(self) -> None:
        self._stop.clear()
        self._step()  # a single process leads from the first moment, not after `interval`
        self._thread = threading.Thread(target=self._run, name="veritag-leader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._stop_jobs()
        self.lock.release()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._step()

    def _step(self) -> None:
        if self.lock.try_acquire():
            if not self._running:
                _log.info(
                    "leading (lock %r): starting %d background job(s)",
                    self.lock.name,
                    len(self.jobs),
                )
                for job in self.jobs:
                    job.start()
                self._running = True
                self.leading.set()
        elif self._running:
            _log.warning("no longer leading (lock %r): stopping background jobs", self.lock.name)
            self._stop_jobs()

    def _stop_jobs(self) -> None:
        if self._running:
            for job in reversed(self.jobs):
                job.stop()
            self._running = False
            self.leading.clear()
