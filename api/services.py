"""What the app works with, built once per process and handed to ``create_app``.

The registry (the chain) is required; the store is optional so that the scan path still
answers, from the chain alone, when no database is configured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request

from ledger.registry import Registry

__all__ = ["ScanStore", "Services", "ServicesDep"]


class ScanStore(Protocol):
    """The store's part in a scan: scan records and product documents."""

    def record_scan(
        self,
        *,
        item_id: str | None,
        gtin: str,
        serial: str,
        scanned_at: datetime,
        latitude: float | None,
        longitude: float | None,
        ip_hash: str,
        ua_hash: str,
    ) -> None: ...

    def scan_stats(self, item_id: str) -> tuple[int, datetime | None]: ...

    def product_document(self, doc_hash: str) -> dict[str, Any] | None: ...


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    registry: Registry
    store: ScanStore | None = None
    hash_salt: bytes = b"veritag-development-salt"
    """Salt for hashing client IPs and user agents; production sets a secret one."""
    demo_codes: dict[str, str] | None = None
    """``{state: label URL}`` in demo mode; None otherwise (then /v1/demo does not exist)."""
    clock: Callable[[], datetime] = _now
    brand_names: dict[int, str | None] = field(default_factory=dict)

    def brand_name(self, brand_id: int) -> str | None:
        if brand_id not in self.brand_names:
            self.brand_names[brand_id] = self.registry.brand_name(brand_id)
        return self.brand_names[brand_id]


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
