"""Tables of Merkle batches (:mod:`ledger.merkle`): what a brand prepared, what the chain says.

* **The store's own** (prepared off chain; the chain holds only the root):
  ``MerkleBatch`` (one row per prepared batch), ``MerkleLevel`` (the tree, BLOBs of up to
  4096 32-byte nodes per level, leaves first and the root's level left out: a proof is one
  32-byte ``substr`` per level) and ``MerkleLeaf`` (which item, with which claim key, sits
  at which leaf). A million leaves are a million small rows and 64 MB of BLOBs, never a row
  per node nor a stored proof per leaf.
* **Derived from the chain**: ``BatchAnchor``, one row per ``BatchAnchored`` event, rebuilt
  by the indexer like the other derived tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = [
    "BATCH_TABLES",
    "LEVEL_CHUNK_NODES",
    "BatchAnchor",
    "MerkleBatch",
    "MerkleLeaf",
    "MerkleLevel",
]

HASH_LENGTH = 66
ADDRESS_LENGTH = 42


class MerkleBatch(SQLModel, table=True):
    """A batch prepared by a brand's operator: its root, size and shared document."""

    __tablename__ = "merkle_batch"
    __table_args__ = (UniqueConstraint("root", name="uq_merkle_batch_root"),)

    id: int | None = Field(default=None, primary_key=True)
    root: str = Field(max_length=HASH_LENGTH)
    operator: str = Field(max_length=ADDRESS_LENGTH)
    """The operator account that anchors (or anchored) it."""
    doc_hash: str | None = Field(default=None, max_length=HASH_LENGTH)
    count: int = Field(sa_type=BigInteger)
    depth: int
    """Levels below the root (0 for a one-leaf batch): the length of every proof, at most."""
    prepared_at: datetime


LEVEL_CHUNK_NODES = 4096
"""Nodes per ``MerkleLevel`` row (128 KiB): slicing a sibling out of a BLOB reads the BLOB up
to it, and a whole million-leaf level (32 MiB) made a proof cost 45 ms on SQLite."""


class MerkleLevel(SQLModel, table=True):
    """Nodes ``chunk * LEVEL_CHUNK_NODES`` onwards of one level of a batch's tree, 32 bytes
    each, in order (level 0: the leaves)."""

    __tablename__ = "merkle_level"

    batch_id: int = Field(
        primary_key=True,
        sa_column_kwargs={"autoincrement": False},
        sa_column_args=[ForeignKey("merkle_batch.id", name="fk_merkle_level_batch")],
    )
    level: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    chunk: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    nodes: bytes = Field(sa_type=LargeBinary)


class MerkleLeaf(SQLModel, table=True):
    """The item at one leaf of a batch, with the claim key its leaf commits to."""

    __tablename__ = "merkle_leaf"

    batch_id: int = Field(
        primary_key=True,
        sa_column_kwargs={"autoincrement": False},
        sa_column_args=[ForeignKey("merkle_batch.id", name="fk_merkle_leaf_batch")],
    )
    leaf_index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    item_id: str = Field(index=True, max_length=HASH_LENGTH)
    claim_key: str | None = Field(default=None, max_length=ADDRESS_LENGTH)
    """Checksummed address, or None for the zero address (no claim key)."""


class BatchAnchor(SQLModel, table=True):
    """A ``BatchAnchored`` event: the root is on chain from this block."""

    __tablename__ = "batch_anchor"

    root: str = Field(primary_key=True, max_length=HASH_LENGTH)
    brand_id: int = Field(index=True, sa_type=BigInteger)
    operator: str = Field(max_length=ADDRESS_LENGTH)
    doc_hash: str | None = Field(default=None, max_length=HASH_LENGTH)
    count: int = Field(sa_type=BigInteger)
    anchored_at: int = Field(sa_type=BigInteger)
    """The anchoring block's timestamp: the registration time of every item of the batch."""
    block_number: int = Field(index=True, sa_type=BigInteger)
    block_hash: str = Field(max_length=HASH_LENGTH)
    tx_hash: str = Field(max_length=HASH_LENGTH)
    log_index: int


BATCH_TABLES = (MerkleLeaf, MerkleLevel, MerkleBatch)
"""The store's own batch tables, children first."""
