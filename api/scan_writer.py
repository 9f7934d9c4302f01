"""Scans are written behind the answer, in batches, so a scan costs the client no commit.

A background thread takes queued scans and stores them every ``interval`` seconds in one
transaction. ``flush()`` writes what is queued now (used before reading an item's scan
count the first time, and on shutdown). A crash can lose at most the scans of the last
interval; they are analytics, never part of a verdict.
"""

from __future__ import annotations

import logging
import queue
import threading

from ledger.store.repository import ScanRecord, Store

__all__ = ["ScanWriter"]

log = logging.getLogger(__name__)


class ScanWriter:
    def __init__(self, store: Store, *, interval: float = 0.05, max_batch: int = 1_000) -> None:
        self._store = store
        self._interval = interval
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[ScanRecord] = queue.SimpleQueue()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="scan-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def submit(self, scan: ScanRecord) -> None:
        self._queue.put(scan)
        if self._thread is None:  # not started (e.g. a test without lifespan): write now
            self.flush()

    def flush(self) -> int:
        """Store every queued scan now; returns how many."""
        with self._write_lock:
            batch: list[ScanRecord] = []
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
                if len(batch) >= self._max_batch:
                    self._store.record_scans(batch)
                    batch = []
            if batch:
                self._store.record_scans(batch)
            return len(batch)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except Exception:
                log.exception("storing scans failed; they stay queued for the next try")
