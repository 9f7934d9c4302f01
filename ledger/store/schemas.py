"""What goes into the store and what comes out of it, apart from the tables themselves.

Table models (:mod:`ledger.store.models`) never leave the store: readers get the models
below, so a new column is never handed out by accident.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict
from sqlmodel import SQLModel

__all__ = [
    "BrandRead",
    "CodeRow",
    "CustodyEventRead",
    "DocumentCheck",
    "DocumentStatus",
    "ItemRead",
    "ProductDocumentIn",
    "ScanStats",
    "StoredDocument",
]


# ───────────── in ─────────────


class CodeRow(SQLModel):
    """One item's GTIN and serial with the item id they hash to."""

    gtin: str
    serial: str
    item_id: str


class ProductDocumentIn(BaseModel):
    """The fields of a product data document the store understands; others are kept as given."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    model: str | None = None
    image_url: str | None = None
    lot: str | None = None
    manufacture_date: str | None = None
    factory: str | None = None


# ───────────── out ─────────────


class ItemRead(SQLModel):
    """An item as indexed from the chain. ``confirmed``: its latest event is in a final block."""

    item_id: str
    brand_id: int
    operator: str
    custodian: str
    consignee: str | None
    status: str
    flags: int
    seq: int
    registered_at: int
    registered_block: int
    batch_id: str | None
    doc_hash: str | None
    registered_while_suspended: bool
    last_block: int
    confirmed: bool
    container_id: str | None = None
    """Aggregation: the container it is packed in directly. While packed, ``custodian``,
    ``consignee`` and ``status`` are its top container's, as ``getItem`` answers on chain."""


class CustodyEventRead(SQLModel):
    """One event of an item's history, with where to re-check it on chain."""

    item_id: str
    seq: int
    name: str
    from_address: str | None
    to_address: str | None
    by_address: str | None
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    timestamp: int
    confirmed: bool
    container_id: str | None = None
    """``ItemPacked`` / ``ItemUnpacked``: the container; in ``Store.travels``: the container
    whose own event this is, which carried the item."""


class BrandRead(SQLModel):
    brand_id: int
    admin: str
    name: str
    suspended_from: int
    prefixes: list[str]


class StoredDocument(SQLModel):
    doc_hash: str
    document: dict[str, Any]
    recorded_at: datetime


class DocumentStatus(enum.StrEnum):
    """How a stored product document relates to the document hash recorded on chain."""

    MATCH = "match"
    """Stored, and its canonical bytes hash to the on-chain hash: show it."""
    MISMATCH = "mismatch"
    """Stored under that hash, but its content hashes to something else: never show it."""
    MISSING = "missing"
    """The chain names a document the store does not hold."""
    NONE = "none"
    """The item was registered without a document."""


class DocumentCheck(SQLModel):
    """The outcome of ``Store.document_matches``; ``document`` is set only for ``MATCH``."""

    status: DocumentStatus
    doc_hash: str | None
    """The hash on chain."""
    stored_hash: str | None = None
    """What the stored content hashes to (differs from ``doc_hash`` on a mismatch)."""
    document: dict[str, Any] | None = None

    @property
    def genuine(self) -> bool:
        return self.status is DocumentStatus.MATCH


class ScanStats(NamedTuple):
    """How often an item's code was scanned, and when first."""

    scans: int
    first_seen: datetime | None
