"""Answers at a block never change: cache them per (code, block), and the head briefly.

Scans of one code cluster in time (a cloned code is scanned many times an hour), and a
chain adds a block every few seconds, so most scans are answered from memory while every
answer still names the block it was read at. The head is polled at most every
``head_ttl`` seconds: an answer can be that much older than the newest block, never more.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from ledger.registry import Registry
from ledger.verify import Verdict, verify_item

__all__ = ["VerdictCache"]


class VerdictCache:
    def __init__(
        self,
        registry: Registry,
        *,
        head_ttl: float = 0.5,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._head_ttl = head_ttl
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._head: tuple[float, int] | None = None
        self._entries: OrderedDict[tuple[str, str, int], Verdict] = OrderedDict()

    def head(self) -> int:
        now = self._monotonic()
        with self._lock:
            if self._head is not None and now - self._head[0] < self._head_ttl:
                return self._head[1]
        block = int(self._registry.w3.eth.block_number)
        with self._lock:
            self._head = (now, block)
        return block

    def verdict(self, gtin: str, serial: str) -> Verdict:
        block = self.head()
        key = (gtin, serial, block)
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
                return cached
        verdict = verify_item(self._registry, gtin, serial, block=block)
        with self._lock:
            self._entries[key] = verdict
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return verdict
