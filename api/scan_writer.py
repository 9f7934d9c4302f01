"""Scans are written behind the answer, in batches, so a scan costs the client no commit.

A background thread takes queued scans and stores them every ``interval`` seconds in one
transaction. ``flush()`` writes what is queued now (used before reading an item's scan
count the first time, and on shutdown). A crash can lose at most the scans of the last
interval, and the clone signals they would have shown; the chain's verdict never rests on
them.

After each stored batch the writer runs clone detection on the batch's (registered) items
and keeps every scanned item's signals in memory, so the scan route reads them without a
query. The background thread detects an item at most every ``detect_every`` seconds (a
cloned code can be scanned hundreds of times a second; its scans wait for the next round);
``flush()`` detects at once. Detection failing never loses scans:
it is logged and tried again with the item's next scans.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from ledger.store.repository import ScanRecord, Store
from ledger.store.signals import NewSignal, SignalStore, StoredSignal

__all__ = ["ScanWriter"]

log = logging.getLogger(__name__)


class ScanWriter:
    def __init__(
        self,
        store: Store,
        *,
        interval: float = 0.05,
        max_batch: int = 1_000,
        detect_every: float = 1.0,
        signals: SignalStore | None = None,
        on_signals: Callable[[list[NewSignal]], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        max_retained: int = 100_000,
    ) -> None:
        self._store = store
        self._max_retained = max_retained
        self._retry: list[ScanRecord] = []
        self._interval = interval
        self._max_batch = max_batch
        self._detect_every = detect_every
        self._monotonic = monotonic
        self._signals = signals if signals is not None else SignalStore(store.engine)
        self.on_signals = on_signals
        """Called with the signals each batch newly found (alerts); its failures are logged."""
        self._queue: queue.SimpleQueue[ScanRecord] = queue.SimpleQueue()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._known: dict[str, list[StoredSignal]] = {}
        self._known_lock = threading.Lock()
        self._pending: set[str] = set()
        """Items with scans stored since their last detection (guarded by the write lock)."""
        self._detected_at: dict[str, float] = {}

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
        """Store every queued scan now and run detection on every item with scans not yet
        judged; returns how many scans were stored."""
        return self._flush(throttled=False)

    def _flush(self, *, throttled: bool) -> int:
        """``throttled``: detect only the items whose turn has come (``detect_every``).

        Scans a failed write could not store are kept, in order, for the next flush (up to
        ``max_retained``; beyond that the oldest are dropped and counted in the log)."""
        with self._write_lock:
            batch, self._retry = self._retry, []
            written = 0
            try:
                while True:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                    if len(batch) >= self._max_batch:
                        self._write(batch)
                        written, batch = written + len(batch), []
                if batch:
                    self._write(batch)
                    written, batch = written + len(batch), []
            finally:
                self._keep_for_retry(batch)
            self._detect_pending(throttled=throttled)
            return written

    def _keep_for_retry(self, batch: list[ScanRecord]) -> None:
        dropped = len(batch) - self._max_retained
        if dropped > 0:
            log.warning(
                "dropping the %d oldest unstored scans: the store is still failing", dropped
            )
            batch = batch[dropped:]
        self._retry = batch

    def signals(self, item_id: str) -> list[StoredSignal]:
        """The item's stored clone signals, oldest first: read once per item, then kept
        up to date by each detection (only this process's writer stores signals)."""
        with self._known_lock:
            known = self._known.get(item_id)
        if known is not None:
            return known
        loaded = self._signals.signals_for([item_id])
        with self._known_lock:
            return self._known.setdefault(item_id, loaded.get(item_id, []))

    def _write(self, batch: list[ScanRecord]) -> None:
        self._store.record_scans(batch)
        self._pending.update(scan.item_id for scan in batch if scan.item_id is not None)

    def _detect_pending(self, *, throttled: bool) -> None:
        if not self._pending:
            return
        now = self._monotonic()
        recent = {i: t for i, t in self._detected_at.items() if now - t < self._detect_every}
        due = {i for i in self._pending if i not in recent} if throttled else self._pending
        self._detected_at = recent | dict.fromkeys(due, now)
        if due:
            self._pending = self._pending - due
            self._detect(due)

    def _detect(self, items: set[str]) -> None:
        try:
            found = self._signals.detect(items)
            if found:
                fresh = self._signals.signals_for({s.item_id for s in found})
                with self._known_lock:
                    self._known.update(fresh)
        except Exception:
            log.exception("clone detection failed for %d item(s); the scans are kept", len(items))
            return
        if found and self.on_signals is not None:
            try:
                self.on_signals(found)
            except Exception:
                log.exception("handling %d new clone signal(s) failed", len(found))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._flush(throttled=True)
            except Exception:
                log.exception("storing scans failed; they stay queued for the next try")
