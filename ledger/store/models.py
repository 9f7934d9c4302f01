"""The store's tables. Two kinds of data live here, and the difference matters:

* **Derived from the chain** (rebuilt by ``veritag index --rebuild`` at any time):
  ``Brand``, ``BrandPrefix``, ``GovernanceEvent``, ``Item``, ``CustodyEvent``,
  ``BatchAnchor`` (:mod:`ledger.store.batch_models`), and the
  indexer's bookkeeping ``IndexerCheckpoint`` and ``IndexedBlock``.
* **The store's own** (never on chain, kept safe by migrations and backups):
  ``ItemCode`` (the GTIN and serial behind an item id), ``ContainerCode`` (the SSCC behind
  a container id), ``ProductDocument`` and ``Scan``,
  the organisations, marketplace, detection and alert tables of
  :mod:`ledger.store.market_models`, the outbox of :mod:`ledger.store.operation_models`, and
  the prepared Merkle batches of :mod:`ledger.store.batch_models`.

Conventions: item ids, hashes and transaction hashes are ``0x`` + lowercase hex; addresses
are EIP-55 checksummed; chain timestamps are the chain's own (seconds since the epoch, as
integers); block numbers and brand ids are 64-bit. These are table models only: what the
library hands out is in :mod:`ledger.store.schemas`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from ledger.store.batch_models import BATCH_TABLES, BatchAnchor
from ledger.store.market_models import MARKET_TABLES
from ledger.store.operation_models import OPERATION_TABLES

__all__ = [
    "DERIVED_TABLES",
    "OWN_TABLES",
    "Brand",
    "BrandPrefix",
    "ContainerCode",
    "CustodyEvent",
    "GovernanceEvent",
    "IndexedBlock",
    "IndexerCheckpoint",
    "Item",
    "ItemCode",
    "ProductDocument",
    "Scan",
]

HASH_LENGTH = 66
"""``0x`` + 64 hex digits: item ids, block, transaction and document hashes."""
ADDRESS_LENGTH = 42
"""``0x`` + 40 hex digits, checksummed."""


# ───────────── derived from the chain ─────────────


class Brand(SQLModel, table=True):
    """A brand admitted by the registry admin, as of the last indexed block."""

    __tablename__ = "brand"

    brand_id: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    admin: str = Field(max_length=ADDRESS_LENGTH)
    name: str
    suspended_from: int = Field(default=0, sa_type=BigInteger)
    """Timestamp from which the brand is suspended; 0 = not suspended."""
    admitted_block: int = Field(sa_type=BigInteger)


class BrandPrefix(SQLModel, table=True):
    """A GS1 company prefix assigned to a brand (prefixes are never taken away)."""

    __tablename__ = "brand_prefix"

    prefix: str = Field(primary_key=True, max_length=12)
    brand_id: int = Field(
        index=True,
        sa_type=BigInteger,
        sa_column_args=[ForeignKey("brand.brand_id", name="fk_brand_prefix_brand")],
    )
    block_number: int = Field(sa_type=BigInteger)


class GovernanceEvent(SQLModel, table=True):
    """Every registry event that is not an item's: brands, prefixes, operators, partners, admin.

    Kept so that brand state and the ``registered_while_suspended`` flags can be recomputed
    when a reorganisation takes some of them back.
    """

    __tablename__ = "governance_event"

    tx_hash: str = Field(primary_key=True, max_length=HASH_LENGTH)
    log_index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    block_number: int = Field(index=True, sa_type=BigInteger)
    block_hash: str = Field(max_length=HASH_LENGTH)
    timestamp: int = Field(sa_type=BigInteger)
    name: str = Field(max_length=64)
    brand_id: int | None = Field(default=None, index=True, sa_type=BigInteger)
    """None for events of the registry itself (its admin)."""
    account: str | None = Field(default=None, max_length=ADDRESS_LENGTH)
    """The admin, operator or partner the event is about, if any."""
    args_json: str = Field(sa_type=Text)
    """Every argument of the event, as JSON (bytes as ``0x`` hex)."""


class Item(SQLModel, table=True):
    """One registered item's state, folded from its custody events."""

    __tablename__ = "item"

    item_id: str = Field(primary_key=True, max_length=HASH_LENGTH)
    brand_id: int = Field(index=True, sa_type=BigInteger)
    operator: str = Field(index=True, max_length=ADDRESS_LENGTH)
    custodian: str = Field(index=True, max_length=ADDRESS_LENGTH)
    consignee: str | None = Field(default=None, max_length=ADDRESS_LENGTH)
    status: str = Field(max_length=16)
    """``active``, ``in_transit``, ``sold``, ``decommissioned`` or ``destroyed``."""
    flags: int = 0
    """Bit set: 1 recalled, 2 stolen, 4 claimed (``ledger.registry.Flag``)."""
    seq: int
    registered_at: int = Field(sa_type=BigInteger)
    registered_block: int = Field(index=True, sa_type=BigInteger)
    batch_id: str | None = Field(default=None, max_length=HASH_LENGTH)
    doc_hash: str | None = Field(default=None, max_length=HASH_LENGTH)
    """None when the item was registered without a product document (a zero hash)."""
    registered_while_suspended: bool = False
    last_block: int = Field(sa_type=BigInteger)
    """Block of the item's latest event: its state is final once this block is."""
    container_id: str | None = Field(default=None, index=True, max_length=HASH_LENGTH)
    """Aggregation: the container (case or pallet) it is packed in directly. While packed,
    ``custodian`` and ``status`` are its own record's; its top container's apply (the
    repository resolves them). A container's own row has brand 0 and the zero operator."""


class CustodyEvent(SQLModel, table=True):
    """One event of an item's history; ``seq`` runs 1, 2, … without gaps."""

    __tablename__ = "custody_event"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index", name="uq_custody_event_log"),)

    item_id: str = Field(
        primary_key=True,
        max_length=HASH_LENGTH,
        sa_column_args=[ForeignKey("item.item_id", name="fk_custody_event_item")],
    )
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    name: str = Field(max_length=64)
    from_address: str | None = Field(default=None, max_length=ADDRESS_LENGTH)
    to_address: str | None = Field(default=None, max_length=ADDRESS_LENGTH)
    by_address: str | None = Field(default=None, max_length=ADDRESS_LENGTH)
    block_number: int = Field(index=True, sa_type=BigInteger)
    block_hash: str = Field(max_length=HASH_LENGTH)
    tx_hash: str = Field(max_length=HASH_LENGTH)
    log_index: int
    timestamp: int = Field(sa_type=BigInteger)
    container_id: str | None = Field(default=None, index=True, max_length=HASH_LENGTH)
    """Aggregation: the container an ``ItemPacked`` / ``ItemUnpacked`` event names."""


class IndexerCheckpoint(SQLModel, table=True):
    """How far the store has indexed which registry: the next sync starts after this block."""

    __tablename__ = "indexer_checkpoint"

    chain_id: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    contract: str = Field(primary_key=True, max_length=ADDRESS_LENGTH)
    last_indexed_block: int = Field(sa_type=BigInteger)
    last_block_hash: str = Field(max_length=HASH_LENGTH)
    confirmed_block: int = Field(sa_type=BigInteger)
    """The highest block the indexer took as final (head − confirmations at the last sync)."""


class IndexedBlock(SQLModel, table=True):
    """Hash of an indexed block that was not yet final: where reorganisations are detected."""

    __tablename__ = "indexed_block"

    number: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    hash: str = Field(max_length=HASH_LENGTH)


# ───────────── the store's own ─────────────


class ItemCode(SQLModel, table=True):
    """The GTIN and serial behind an item id (``ledger.identifiers.item_id``); never on chain."""

    __tablename__ = "item_code"
    __table_args__ = (UniqueConstraint("gtin", "serial", name="uq_item_code_gtin_serial"),)

    item_id: str = Field(primary_key=True, max_length=HASH_LENGTH)
    gtin: str = Field(max_length=14)
    serial: str = Field(max_length=20)
    recorded_at: datetime


class ContainerCode(SQLModel, table=True):
    """The SSCC behind a container id (``ledger.identifiers.container_id``); never on chain."""

    __tablename__ = "container_code"
    __table_args__ = (UniqueConstraint("sscc", name="uq_container_code_sscc"),)

    container_id: str = Field(primary_key=True, max_length=HASH_LENGTH)
    sscc: str = Field(max_length=18)
    recorded_at: datetime


class ProductDocument(SQLModel, table=True):
    """A product data document; its keccak256 is the ``docHash`` items carry on chain."""

    __tablename__ = "product_document"

    doc_hash: str = Field(primary_key=True, max_length=HASH_LENGTH)
    document_json: str = Field(sa_type=Text)
    """The canonical JSON text whose UTF-8 bytes hash to ``doc_hash``."""
    name: str | None = None
    model: str | None = None
    image_url: str | None = None
    lot: str | None = None
    manufacture_date: str | None = Field(default=None, max_length=10)
    """ISO 8601 date, ``YYYY-MM-DD``."""
    factory: str | None = None
    recorded_at: datetime


class Scan(SQLModel, table=True):
    """One scan of a code. No personal data: client IP and user agent only as salted hashes,
    location only to one decimal (about 11 km)."""

    __tablename__ = "scan"

    id: int | None = Field(default=None, primary_key=True)
    item_id: str | None = Field(default=None, index=True, max_length=HASH_LENGTH)
    """None when the code names no registered item."""
    gtin: str = Field(max_length=14)
    serial: str = Field(max_length=20)
    scanned_at: datetime
    latitude: float | None = None
    longitude: float | None = None
    country: str | None = Field(default=None, max_length=2)
    ip_hash: str = Field(max_length=64)
    ua_hash: str = Field(max_length=64)


DERIVED_TABLES = (
    BatchAnchor,
    CustodyEvent,
    Item,
    BrandPrefix,
    Brand,
    GovernanceEvent,
    IndexedBlock,
    IndexerCheckpoint,
)
"""What ``Indexer.rebuild`` clears, children before parents."""

OWN_TABLES = (
    ItemCode,
    ContainerCode,
    ProductDocument,
    Scan,
    *OPERATION_TABLES,
    *MARKET_TABLES,
    *BATCH_TABLES,
)
"""What no rebuild ever touches."""
