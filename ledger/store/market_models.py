"""The store's own tables for organisations, marketplaces and detection. None is on chain.

* **Access**: ``Organisation`` (registry operator, brand, custodian, marketplace) and its
  ``ApiKey``\\ s, stored as SHA-256 hashes only.
* **Marketplaces**: ``Seller`` accounts of a marketplace, the ledger addresses each proved
  it controls (``SellerAddress``), the single-use ``SellerNonce``\\ s of those proofs, and
  the ``Listing``\\ s checked (the latest decision per listing id).
* **Detection**: ``Site`` (where a ledger address is, for custody-path regions),
  ``ItemSignal`` (clone signals derived from scans) and ``Report``\\ s of suspected fakes.
* **Alerts**: ``Webhook`` subscriptions, each ``WebhookDelivery`` and every attempt at it
  (``WebhookAttempt``), and the ``AlertCursor`` that remembers which chain events were
  alerted on.

Times are timezone-aware UTC ``datetime``\\ s; ids of things the outside world names
(listing and seller ids) are the marketplace's own strings, at most 128 characters.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = [
    "MARKET_TABLES",
    "AlertCursor",
    "ApiKey",
    "ItemSignal",
    "Listing",
    "Organisation",
    "Report",
    "Seller",
    "SellerAddress",
    "SellerNonce",
    "Site",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]

HASH_LENGTH = 66
ADDRESS_LENGTH = 42
EXTERNAL_ID_LENGTH = 128
"""Longest listing or seller id a marketplace may use."""


# ───────────── access ─────────────


class Organisation(SQLModel, table=True):
    """A party that calls the API with a key: what it may do follows from its ``role``."""

    __tablename__ = "organisation"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    role: str = Field(max_length=16)
    """``registry``, ``brand``, ``custodian`` or ``marketplace``."""
    brand_id: int | None = Field(default=None, sa_type=BigInteger)
    """The on-chain brand a ``brand`` organisation speaks for."""
    created_at: datetime


class ApiKey(SQLModel, table=True):
    """One API key: ``vtk_<prefix>_<secret>``; only its SHA-256 is kept."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(
        index=True,
        sa_column_args=[ForeignKey("organisation.id", name="fk_api_key_organisation")],
    )
    prefix: str = Field(max_length=16, unique=True)
    """The public part (``vtk_`` + 8 hex digits) by which a key is looked up and revoked."""
    key_hash: str = Field(max_length=64)
    created_at: datetime
    revoked_at: datetime | None = None


# ───────────── marketplaces ─────────────


class Seller(SQLModel, table=True):
    """A seller account of a marketplace, with the running counts its risk is scored from."""

    __tablename__ = "seller"

    marketplace_id: int = Field(
        primary_key=True,
        sa_column_args=[ForeignKey("organisation.id", name="fk_seller_organisation")],
        sa_column_kwargs={"autoincrement": False},
    )
    seller_id: str = Field(primary_key=True, max_length=EXTERNAL_ID_LENGTH)
    created_at: datetime
    listings_checked: int = 0
    listings_blocked: int = 0
    never_held: int = 0
    """Listings of registered items this seller's addresses never held on chain."""
    confirmed_reports: int = 0


class SellerAddress(SQLModel, table=True):
    """A ledger address a seller proved it controls (EIP-4361 message it signed)."""

    __tablename__ = "seller_address"
    __table_args__ = (
        Index("ix_seller_address_address", "address"),
        UniqueConstraint("marketplace_id", "seller_id", "address", name="uq_seller_address"),
    )

    id: int | None = Field(default=None, primary_key=True)
    marketplace_id: int
    seller_id: str = Field(max_length=EXTERNAL_ID_LENGTH)
    address: str = Field(max_length=ADDRESS_LENGTH)
    linked_at: datetime


class SellerNonce(SQLModel, table=True):
    """A nonce the API issued for one seller's address proof; usable once, until it expires."""

    __tablename__ = "seller_nonce"

    nonce: str = Field(primary_key=True, max_length=32)
    marketplace_id: int
    seller_id: str = Field(max_length=EXTERNAL_ID_LENGTH)
    address: str = Field(max_length=ADDRESS_LENGTH)
    """The address the challenge was issued for; only a proof by it may use the nonce."""
    domain: str = Field(max_length=255)
    uri: str = Field(sa_type=Text)
    chain_id: int = Field(sa_type=BigInteger)
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class Listing(SQLModel, table=True):
    """A marketplace listing as last checked. ``active`` until ended or blocked."""

    __tablename__ = "listing"
    __table_args__ = (
        Index("ix_listing_item_active", "item_id", "active"),
        Index("ix_listing_seller", "marketplace_id", "seller_id"),
    )

    marketplace_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    listing_id: str = Field(primary_key=True, max_length=EXTERNAL_ID_LENGTH)
    seller_id: str = Field(max_length=EXTERNAL_ID_LENGTH)
    code: str = Field(sa_type=Text)
    """The code as the marketplace sent it (a Digital Link, or GTIN and serial)."""
    gtin: str = Field(max_length=14)
    serial: str = Field(max_length=20)
    item_id: str = Field(max_length=HASH_LENGTH)
    brand_id: int | None = Field(default=None, index=True, sa_type=BigInteger)
    decision: str = Field(max_length=8)
    """``allow``, ``review`` or ``block``."""
    verdict: str = Field(max_length=16)
    reasons: str = Field(sa_type=Text)
    """Reason codes of the latest decision, comma-separated."""
    block_number: int = Field(sa_type=BigInteger)
    """The block the decision was read at."""
    active: bool
    checks: int = 1
    first_checked_at: datetime = Field(index=True)
    checked_at: datetime
    ended_at: datetime | None = None


# ───────────── detection ─────────────


class Site(SQLModel, table=True):
    """Where a ledger address (a factory, warehouse, shop) is, for custody-path regions."""

    __tablename__ = "site"
    __table_args__ = (UniqueConstraint("gln", name="uq_site_gln"),)

    address: str = Field(primary_key=True, max_length=ADDRESS_LENGTH)
    name: str = Field(max_length=200)
    latitude: float
    longitude: float
    country: str | None = Field(default=None, max_length=2)
    gln: str | None = Field(default=None, max_length=13)
    """The site's GS1 Global Location Number: how EPCIS events name it (SGLN, PGLN)."""
    recorded_at: datetime


class ItemSignal(SQLModel, table=True):
    """A clone signal derived from an item's scans, with the evidence for it."""

    __tablename__ = "item_signal"
    __table_args__ = (UniqueConstraint("item_id", "code", "key", name="uq_item_signal"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(index=True, max_length=HASH_LENGTH)
    code: str = Field(max_length=48)
    key: str = Field(max_length=64)
    """What makes two detections the same signal (for example the two scans' ids)."""
    message: str = Field(sa_type=Text)
    evidence_json: str = Field(sa_type=Text)
    detected_at: datetime


class Report(SQLModel, table=True):
    """A suspected fake reported by a consumer (no organisation) or a marketplace."""

    __tablename__ = "report"

    id: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(index=True, max_length=HASH_LENGTH)
    gtin: str = Field(max_length=14)
    serial: str = Field(max_length=20)
    brand_id: int | None = Field(default=None, index=True, sa_type=BigInteger)
    reporter_org_id: int | None = Field(default=None)
    """None for a consumer's report."""
    listing_id: str | None = Field(default=None, max_length=EXTERNAL_ID_LENGTH)
    seller_id: str | None = Field(default=None, max_length=EXTERNAL_ID_LENGTH)
    kind: str = Field(max_length=32)
    message: str | None = Field(default=None, sa_type=Text)
    latitude: float | None = None
    longitude: float | None = None
    status: str = Field(default="open", max_length=16)
    """``open``, ``confirmed`` or ``dismissed``."""
    created_at: datetime
    resolved_at: datetime | None = None
    resolved_by_org_id: int | None = None


# ───────────── alerts ─────────────


class Webhook(SQLModel, table=True):
    """An organisation's subscription: alerts of the listed kinds are POSTed to ``url``."""

    __tablename__ = "webhook"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(
        index=True,
        sa_column_args=[ForeignKey("organisation.id", name="fk_webhook_organisation")],
    )
    url: str = Field(sa_type=Text)
    secret: str = Field(max_length=128)
    """The HMAC key deliveries are signed with (kept readable: it must sign)."""
    events: str = Field(sa_type=Text)
    """Alert kinds, comma-separated."""
    created_at: datetime
    disabled_at: datetime | None = None


class WebhookDelivery(SQLModel, table=True):
    """One alert to one webhook: retried with backoff until delivered or given up."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("webhook_id", "alert_id", name="uq_webhook_delivery_alert"),
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    webhook_id: int = Field(
        sa_column_args=[ForeignKey("webhook.id", name="fk_webhook_delivery_webhook")],
    )
    alert_id: str = Field(max_length=64)
    """The alert's id, the same for every webhook it goes to; receivers deduplicate on it."""
    kind: str = Field(max_length=32)
    payload: str = Field(sa_type=Text)
    status: str = Field(max_length=12)
    """``pending``, ``delivered``, ``failed`` (gave up) or ``cancelled`` (webhook deleted)."""
    attempts: int = 0
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None = None


class WebhookAttempt(SQLModel, table=True):
    """Every try at a delivery, successful or not: the delivery log."""

    __tablename__ = "webhook_attempt"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(
        index=True,
        sa_column_args=[ForeignKey("webhook_delivery.id", name="fk_webhook_attempt_delivery")],
    )
    attempted_at: datetime
    status_code: int | None = None
    error: str | None = Field(default=None, sa_type=Text)
    duration_ms: int


class AlertCursor(SQLModel, table=True):
    """How far a source of alerts (the chain's custody events) has been alerted on."""

    __tablename__ = "alert_cursor"

    name: str = Field(primary_key=True, max_length=32)
    block_number: int = Field(sa_type=BigInteger)
    log_index: int


MARKET_TABLES = (
    WebhookAttempt,
    WebhookDelivery,
    Webhook,
    AlertCursor,
    Report,
    ItemSignal,
    Site,
    Listing,
    SellerNonce,
    SellerAddress,
    Seller,
    ApiKey,
    Organisation,
)
"""The store's own tables of this module, children before parents."""
