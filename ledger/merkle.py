"""Merkle batches: one on-chain root for up to millions of items, one proof per item.

The tree matches what ``ProvenanceRegistry.activateBatchItem`` checks with OpenZeppelin's
``MerkleProof``::

    leaf   = keccak256(keccak256(abi.encode(itemId, claimKey)))   claimKey: address or zero
    parent = keccak256(min(a, b) ‖ max(a, b))                      sorted pairs
    level k+1 pairs the nodes of level k in order; an odd last node is carried up unchanged

A tree is kept as its levels, each one ``bytes`` of 32-byte nodes (leaves in batch order
first, the root last), so a million leaves are 64 MB of bytes objects, not millions of
Python objects, and a proof is one 32-byte slice per level. Hashing goes straight to
``safe-pysha3`` (eth-hash's own backend): a call costs about a microsecond, against about
ten through pycryptodome's interface: the store keeps the levels the
same way (:mod:`ledger.store.merkle_batches`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sha3 import keccak_256

from ledger.identifiers import ItemId

__all__ = [
    "HASH_BYTES",
    "BatchProof",
    "MerkleTree",
    "leaf_hash",
    "leaf_hashes",
    "parent_level",
    "proof_from_levels",
    "verify_proof",
]

HASH_BYTES = 32
_ZERO_ADDRESS = b"\x00" * 20
_PAD = b"\x00" * 12
"""abi.encode pads an address on the left to 32 bytes."""


def _keccak(data: bytes) -> bytes:
    digest: bytes = keccak_256(data).digest()
    return digest


def _address_bytes(claim_key: str | bytes | None) -> bytes:
    if claim_key is None:
        return _ZERO_ADDRESS
    raw = claim_key if isinstance(claim_key, bytes) else bytes.fromhex(claim_key.removeprefix("0x"))
    if len(raw) != 20:
        raise ValueError(f"a claim key is a 20-byte address, got {len(raw)} bytes")
    return raw


def leaf_hash(item: ItemId | bytes, claim_key: str | bytes | None = None) -> bytes:
    """The leaf of ``item`` with its claim key address (None or zero: no claim key)."""
    value = item.value if isinstance(item, ItemId) else item
    if len(value) != HASH_BYTES:
        raise ValueError(f"an item id is 32 bytes, got {len(value)}")
    return _keccak(_keccak(value + _PAD + _address_bytes(claim_key)))


def leaf_hashes(item_ids: Sequence[bytes], claim_keys: Sequence[bytes] | None = None) -> bytes:
    """The leaves of many items (raw 32-byte ids; claim keys as raw 20-byte addresses or
    None for none), concatenated in order: the tree's level 0."""
    k = keccak_256
    if claim_keys is None:
        tail = _PAD + _ZERO_ADDRESS
        return b"".join(k(k(i + tail).digest()).digest() for i in item_ids)
    if len(claim_keys) != len(item_ids):
        raise ValueError(f"{len(item_ids)} item ids but {len(claim_keys)} claim keys")
    return b"".join(
        k(k(i + _PAD + key).digest()).digest() for i, key in zip(item_ids, claim_keys, strict=True)
    )


def parent_level(level: bytes) -> bytes:
    """The level above ``level``: sorted pairs hashed, an odd last node carried up."""
    k = keccak_256
    count = len(level) // HASH_BYTES
    out = []
    for start in range(0, (count // 2) * 2 * HASH_BYTES, 2 * HASH_BYTES):
        a = level[start : start + HASH_BYTES]
        b = level[start + HASH_BYTES : start + 2 * HASH_BYTES]
        out.append(k(a + b if a <= b else b + a).digest())
    if count % 2:
        out.append(level[-HASH_BYTES:])
    return b"".join(out)


def proof_from_levels(levels: Sequence[bytes], index: int) -> list[bytes]:
    """The sibling hashes of leaf ``index``, leaf level first, root excluded."""
    count = len(levels[0]) // HASH_BYTES
    if not 0 <= index < count:
        raise IndexError(f"leaf {index} is not in a tree of {count} leaves")
    proof = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling * HASH_BYTES < len(level):
            proof.append(level[sibling * HASH_BYTES : (sibling + 1) * HASH_BYTES])
        index //= 2
    return proof


def verify_proof(root: bytes, leaf: bytes, proof: Iterable[bytes]) -> bool:
    """OpenZeppelin's ``MerkleProof.verify``: fold the proof into the leaf, sorted pairs."""
    node = leaf
    for sibling in proof:
        node = _keccak(node + sibling if node <= sibling else sibling + node)
    return node == root


@dataclass(frozen=True)
class BatchProof:
    """Everything that shows one item is a leaf of an anchored batch."""

    root: bytes
    index: int
    claim_key: str | None
    """The claim key address in the leaf (checksummed), or None for the zero address."""
    siblings: tuple[bytes, ...]

    def leaf(self, item: ItemId) -> bytes:
        return leaf_hash(item, self.claim_key)

    def verifies(self, item: ItemId) -> bool:
        return verify_proof(self.root, self.leaf(item), self.siblings)


class MerkleTree:
    """A batch's tree over its leaves (level 0), built level by level up to the root."""

    def __init__(self, levels: Sequence[bytes]) -> None:
        if not levels or not levels[0] or len(levels[0]) % HASH_BYTES:
            raise ValueError("a Merkle tree needs at least one 32-byte leaf")
        self.levels: tuple[bytes, ...] = tuple(levels)

    @classmethod
    def from_leaves(cls, leaves: bytes) -> MerkleTree:
        """Build the tree over ``leaves`` (concatenated 32-byte leaf hashes, in order)."""
        if not leaves or len(leaves) % HASH_BYTES:
            raise ValueError("a Merkle tree needs at least one 32-byte leaf")
        levels = [leaves]
        while len(levels[-1]) > HASH_BYTES:
            levels.append(parent_level(levels[-1]))
        return cls(levels)

    @classmethod
    def of_items(
        cls, item_ids: Sequence[bytes], claim_keys: Sequence[bytes] | None = None
    ) -> MerkleTree:
        return cls.from_leaves(leaf_hashes(item_ids, claim_keys))

    @property
    def root(self) -> bytes:
        return self.levels[-1]

    def __len__(self) -> int:
        return len(self.levels[0]) // HASH_BYTES

    def leaf(self, index: int) -> bytes:
        return self.levels[0][index * HASH_BYTES : (index + 1) * HASH_BYTES]

    def proof(self, index: int) -> list[bytes]:
        return proof_from_levels(self.levels, index)

    def verify(self, leaf: bytes, proof: Iterable[bytes]) -> bool:
        return verify_proof(self.root, leaf, proof)
