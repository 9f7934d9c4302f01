"""Product data documents and the hash that ties each to its items on chain.

The rule, the same everywhere a document is hashed (brand tooling, the store, verifiers)::

    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    doc_hash  = keccak256(canonical)

That is Python's ``json`` with keys sorted, no whitespace and its default
``ensure_ascii=True`` (non-ASCII characters written as ``\\uXXXX``), so the bytes are ASCII.
``NaN`` and infinities are refused (they are not JSON). Numbers are written as Python writes
them; put non-integer quantities in strings to be safe across languages.

A document is a JSON object. These keys are understood and shown (all optional, strings);
any other key is kept and hashed as given:

=================  =====================================================
``name``           product name
``model``          model or reference
``image_url``      an https URL of a product image
``lot``            production lot or batch
``manufacture_date`` ISO 8601 date, ``YYYY-MM-DD``
``factory``        where it was made
=================  =====================================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from eth_utils.crypto import keccak

__all__ = ["KNOWN_FIELDS", "canonical_json", "document_hash"]

KNOWN_FIELDS = ("name", "model", "image_url", "lot", "manufacture_date", "factory")


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """The canonical bytes of ``document``, the ones its hash is taken over.

    Raises ``ValueError`` for a value JSON cannot hold (NaN, infinity) and ``TypeError`` for
    one that is not JSON at all.
    """
    return json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def document_hash(document: Mapping[str, Any]) -> str:
    """keccak256 of the canonical bytes, as ``0x`` + 64 lowercase hex digits."""
    return "0x" + keccak(canonical_json(document)).hex()
