"""What the app works with, built once per process and handed to ``create_app``.

The registry (the chain) is required; the store is optional so that the scan path still
answers, from the chain alone, when no database is configured.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from api.scan_writer import ScanWriter
from api.verdict_cache import VerdictCache
from ledger.registry import Registry
from ledger.store.repository import Store

__all__ = ["Services", "ServicesDep"]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    registry: Registry
    store: Store | None = None
    hash_salt: bytes = b"veritag-development-salt"
    """Salt for hashing client IPs and user agents; production sets a secret one."""
    demo_codes: dict[str, str] | None = None
    """``{state: label URL}`` in demo mode; None otherwise (then /v1/demo does not exist)."""
    clock: Callable[[], datetime] = _now
    brand_names: dict[int, str | None] = field(default_factory=dict)
    verdicts: VerdictCache = field(init=False)

    scans: ScanWriter | None = field(init=False)

    def __post_init__(self) -> None:
        self.verdicts = VerdictCache(self.registry)
        self.scans = ScanWriter(self.store) if self.store is not None else None

    _scan_stats: dict[str, tuple[int, datetime | None]] = field(default_factory=dict)
    _documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def scan_recorded(self, item_id: str, scanned_at: datetime) -> tuple[int, datetime | None]:
        """Count a scan this process has just stored; returns the item's stats.

        Read from the store once per item, then counted here: the store is written on every
        scan, and only this process writes an item's scans while it serves.
        """
        assert self.store is not None
        with self._lock:
            cached = item_id in self._scan_stats
        if not cached:
            if self.scans is not None:
                self.scans.flush()  # so the count read next includes what is queued
            count, first = self.store.scan_stats(item_id)
            with self._lock:
                self._scan_stats[item_id] = (count, first)
                return count, first
        with self._lock:
            count, first = self._scan_stats[item_id]
            self._scan_stats[item_id] = (count + 1, first or scanned_at)
            return self._scan_stats[item_id]

    def product_document(self, doc_hash: str) -> dict[str, Any] | None:
        """The stored document with this hash. A found one is kept (a hash names one content);
        a missing one is asked for again, since the brand may store it later."""
        if self.store is None:
            return None
        document = self._documents.get(doc_hash)
        if document is None:
            document = self.store.product_document(doc_hash)
            if document is not None:
                self._documents[doc_hash] = document
        return document

    def brand_name(self, brand_id: int) -> str | None:
        if brand_id not in self.brand_names:
            self.brand_names[brand_id] = self.registry.brand_name(brand_id)
        return self.brand_names[brand_id]


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
