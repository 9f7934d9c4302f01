"""Register a batch of up to millions of items with one Merkle root on chain.

Three steps, each usable alone::

    item_ids_for(gtin, serials)          the canonical item ids, hashed in bulk
    prepare(item_ids, claim_keys)        the tree (ledger.merkle)
    save_and_anchor(...)                 leaves and levels into the store first (the
                                         store's own: a root on chain without its leaves
                                         could never be proven), then anchorBatch

Items then come on chain one by one, with their first action (``Registry.first_action``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from sha3 import keccak_256

from ledger.identifiers import validate_gtin, validate_serial
from ledger.merkle import MerkleTree
from ledger.registry import Registry
from ledger.store.merkle_batches import MerkleBatches, PreparedBatch
from ledger.transactions import TxResult

__all__ = ["AnchoredBatch", "item_ids_for", "prepare", "save_and_anchor"]

_ZERO_HASH = b"\x00" * 32


@dataclass(frozen=True)
class AnchoredBatch:
    prepared: PreparedBatch
    anchor: TxResult


def item_ids_for(gtin: str, serials: Sequence[str]) -> list[bytes]:
    """``ledger.identifiers.item_id(gtin, s)`` for every serial, as raw bytes: the GTIN is
    checked once, each serial as always, and the hashing skips the per-item wrapping."""
    prefix = f"01/{validate_gtin(gtin)}/21/"
    ids = []
    for serial in serials:
        validate_serial(serial)
        ids.append(keccak_256((prefix + serial).encode("utf-8")).digest())
    return ids


def prepare(item_ids: Sequence[bytes], claim_keys: Sequence[bytes] | None = None) -> MerkleTree:
    """The batch's tree; ``claim_keys`` are raw 20-byte addresses (zeros for none)."""
    if len(set(item_ids)) != len(item_ids):
        raise ValueError("an item appears twice in the batch")
    return MerkleTree.of_items(item_ids, claim_keys)


def save_and_anchor(
    registry: Registry,
    operator: LocalAccount,
    batches: MerkleBatches,
    tree: MerkleTree,
    item_ids: Sequence[bytes],
    *,
    claim_keys: Sequence[bytes] | None = None,
    doc_hash: bytes = _ZERO_HASH,
) -> AnchoredBatch:
    """Keep the batch in the store, then anchor its root as ``operator``."""
    prepared = batches.save(
        tree,
        item_ids,
        claim_keys,
        operator=operator.address,
        doc_hash=None if doc_hash == _ZERO_HASH else "0x" + doc_hash.hex(),
    )
    anchor = registry.anchor_batch(operator, tree.root, len(tree), doc_hash)
    return AnchoredBatch(prepared, anchor)
