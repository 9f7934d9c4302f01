"""EPCIS 2.0 and the Core Business Vocabulary: events, documents and their hash IDs."""

from ledger.epcis.event_hash import (
    document_hash_ids,
    document_pre_hashes,
    event_hash_id,
    event_pre_hash,
)
from ledger.epcis.export import export_item, party_uri
from ledger.errors import EventHashError

__all__ = [
    "EventHashError",
    "document_hash_ids",
    "document_pre_hashes",
    "event_hash_id",
    "event_pre_hash",
    "export_item",
    "party_uri",
]
