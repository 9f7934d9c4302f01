"""The store: what Veritag keeps in a database, on SQLite (default) or PostgreSQL.

Part of it is derived from the chain by :mod:`ledger.indexer` and can be rebuilt at any
time; part of it (item codes, product documents, scans) exists nowhere else. See
:mod:`ledger.store.models` for which is which.
"""

from ledger.store.database import current_revision, default_url, make_engine, migrate, session
from ledger.store.documents import canonical_json, document_hash
from ledger.store.repository import Store
from ledger.store.schemas import (
    BrandRead,
    CodeRow,
    CustodyEventRead,
    DocumentCheck,
    DocumentStatus,
    ItemRead,
    ScanStats,
    StoredDocument,
)

__all__ = [
    "BrandRead",
    "CodeRow",
    "CustodyEventRead",
    "DocumentCheck",
    "DocumentStatus",
    "ItemRead",
    "ScanStats",
    "Store",
    "StoredDocument",
    "canonical_json",
    "current_revision",
    "default_url",
    "document_hash",
    "make_engine",
    "migrate",
    "session",
]
