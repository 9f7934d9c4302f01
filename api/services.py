"""What the app works with, built once per process and handed to ``create_app``.

The registry (the chain) is required; the store is optional so that the scan path still
answers, from the chain alone, when no database is configured. With a store, scans still
answer when the node is down: from the index, marked stale (:mod:`api.verdict_cache`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Protocol

from eth_account import Account
from fastapi import Depends, Request
from sqlalchemy import Engine

from api.scan_writer import ScanWriter
from api.verdict_cache import NODE_DOWN, VerdictCache
from ledger.alerts.signal_alerts import publish_clone_signals
from ledger.errors import StoreUnavailable
from ledger.marketplace.check import ListingChecker
from ledger.marketplace.signing import DecisionSigner
from ledger.registry import Registry
from ledger.relay import Relayer
from ledger.store.orgs import Organisations
from ledger.store.repository import Store
from ledger.store.signals import NewSignal

__all__ = ["Background", "Services", "ServicesDep"]


class Background(Protocol):
    """A worker the app starts with its lifespan and stops at shutdown."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


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
    background: list[Background] = field(default_factory=list)
    """Workers started and stopped with the app (alert deliveries, …)."""
    relayer: Relayer | None = None
    """Checks and builds relayed requests of parties without gas; None = no relaying."""
    relayer_org_id: int | None = None
    """The organisation whose outbox holds relayed requests (its account pays the gas)."""
    decision_key: bytes | None = None
    """Private key that signs listing decisions; None = a fresh one for this process."""
    epcis_schema: Path | None = None
    """GS1's EPCIS 2.0 JSON schema, which EPCIS capture validates documents against."""
    webhook_private_destinations: bool = False
    """Whether webhooks may point to non-public addresses (``ledger.alerts.destinations``)."""
    decision_signer: DecisionSigner = field(init=False)
    verdicts: VerdictCache = field(init=False)

    scans: ScanWriter | None = field(init=False)

    def __post_init__(self) -> None:
        self.verdicts = VerdictCache(self.registry, store=self.store)
        key = self.decision_key if self.decision_key is not None else bytes(Account.create().key)
        self.decision_signer = DecisionSigner.from_key(
            key, chain_id=self.registry.chain_id, registry=self.registry.address
        )
        self.scans = None
        if self.store is not None:
            engine = self.store.engine

            def alert(found: list[NewSignal]) -> None:
                publish_clone_signals(engine, found)

            self.scans = ScanWriter(self.store, on_signals=alert)

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

    @property
    def engine(self) -> Engine:
        """The store's engine; what needs the store (keys, listings, reports) fails without."""
        if self.store is None:
            raise StoreUnavailable(
                "(none)",
                "this service runs without a store, which API keys and the "
                "marketplace routes need; set VERITAG_DATABASE_URL",
            )
        return self.store.engine

    def organisations(self) -> Organisations:
        return Organisations(self.engine, clock=self.clock)

    def listing_checker(self) -> ListingChecker:
        return ListingChecker(self.engine, self.decision_signer, clock=self.clock)

    def brand_name(self, brand_id: int) -> str | None:
        """The brand's name from the chain; from the index while the node does not answer
        (not kept: the chain is asked again once it answers)."""
        if brand_id in self.brand_names:
            return self.brand_names[brand_id]
        if not self.verdicts.node_down:
            try:
                name = self.verdicts.registry.brand_name(brand_id)
            except NODE_DOWN:
                pass
            else:
                self.brand_names[brand_id] = name
                return name
        stored = self.store.brand(brand_id) if self.store is not None else None
        return None if stored is None else stored.name


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
