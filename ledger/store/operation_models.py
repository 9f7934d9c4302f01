"""The store's own tables for writes to the chain: the outbox, senders' nonces, custodial keys.

* ``Operation``: every write request, stored with its idempotency key *before* anything is
  sent, then followed through ``queued`` → ``submitted`` → ``confirmed`` or ``failed``.
* ``SenderAccount``: the next nonce of each account the service sends from, so that one
  submitter assigns nonces without asking the node and recovers them after a crash.
* ``CustodialKey``: keys the service holds for small partners, encrypted at rest.
* ``CapturedEvent``: an EPCIS event a partner captured, as it was sent, with the operation
  that applies it; the chain records only the event's hash, so this is the event's body.

None of this is on chain and none of it can be rebuilt from it: it is kept like the other
tables of the store's own (``ledger.store.market_models``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = ["OPERATION_TABLES", "CapturedEvent", "CustodialKey", "Operation", "SenderAccount"]

HASH_LENGTH = 66
ADDRESS_LENGTH = 42


class Operation(SQLModel, table=True):
    """One write request and what became of it."""

    __tablename__ = "operation"
    __table_args__ = (
        UniqueConstraint("org_id", "idempotency_key", name="uq_operation_idempotency"),
        Index("ix_operation_status", "status", "updated_at"),
        Index("ix_operation_sender_nonce", "sender", "nonce"),
    )

    id: str = Field(primary_key=True, max_length=32)
    org_id: int = Field(
        sa_column_args=[ForeignKey("organisation.id", name="fk_operation_organisation")],
    )
    idempotency_key: str = Field(max_length=128)
    kind: str = Field(max_length=32)
    """What to do: ``register``, ``ship``, ``receive``, ``transfer``, ``relay``, …"""
    request_json: str = Field(sa_type=Text)
    """The validated request, as canonical JSON."""
    request_hash: str = Field(max_length=64)
    """SHA-256 of ``request_json``: the same key with another request is a conflict."""
    status: str = Field(max_length=12)
    """``queued``, ``submitted``, ``confirmed`` or ``failed``."""
    sender: str | None = Field(default=None, max_length=ADDRESS_LENGTH)
    nonce: int | None = Field(default=None, sa_type=BigInteger)
    tx_hash: str | None = Field(default=None, max_length=HASH_LENGTH)
    """The transaction that was mined, or the latest one sent."""
    tx_hashes_json: str = Field(default="[]", sa_type=Text)
    """Every transaction sent for this nonce (re-sent with higher fees when stuck)."""
    max_fee_per_gas: int | None = Field(default=None, sa_type=BigInteger)
    max_priority_fee_per_gas: int | None = Field(default=None, sa_type=BigInteger)
    block_number: int | None = Field(default=None, sa_type=BigInteger)
    result_json: str | None = Field(default=None, sa_type=Text)
    error_json: str | None = Field(default=None, sa_type=Text)
    """For ``failed``: the decoded contract error (name, message, data) or what went wrong."""
    attempts: int = 0
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None = None
    confirmed_at: datetime | None = None


class SenderAccount(SQLModel, table=True):
    """An account the service sends transactions from, and the next nonce it will use."""

    __tablename__ = "sender_account"

    address: str = Field(primary_key=True, max_length=ADDRESS_LENGTH)
    chain_id: int = Field(sa_type=BigInteger)
    next_nonce: int = Field(sa_type=BigInteger)
    """Never lowered: a nonce once given to an operation stays that operation's."""
    org_id: int | None = Field(
        default=None,
        index=True,
        sa_column_args=[ForeignKey("organisation.id", name="fk_sender_account_organisation")],
    )
    """The organisation this account sends for (None: the service's own account)."""


class CustodialKey(SQLModel, table=True):
    """A partner's private key held by the service, encrypted (AES-GCM) at rest."""

    __tablename__ = "custodial_key"

    address: str = Field(primary_key=True, max_length=ADDRESS_LENGTH)
    org_id: int = Field(
        index=True,
        sa_column_args=[ForeignKey("organisation.id", name="fk_custodial_key_organisation")],
    )
    ciphertext: str = Field(sa_type=Text)
    """Base64 of the 12-byte nonce followed by the AES-GCM ciphertext and tag."""
    key_id: str = Field(max_length=16)
    """Which encryption key (from settings) sealed it, so keys can be rotated."""
    created_at: datetime


class CapturedEvent(SQLModel, table=True):
    """One item's share of a captured EPCIS event: an event naming three EPCs is three rows
    with the same hash, each applied by its own operation."""

    __tablename__ = "captured_event"
    __table_args__ = (
        UniqueConstraint("event_hash", "item_id", name="uq_captured_event_item"),
        Index("ix_captured_event_capture", "capture_id", "position"),
    )

    id: int | None = Field(default=None, primary_key=True)
    capture_id: str = Field(max_length=32)
    position: int
    """The row's place in its capture: the order the operations apply in."""
    org_id: int = Field(
        sa_column_args=[ForeignKey("organisation.id", name="fk_captured_event_organisation")],
    )
    event_index: int
    """Where the event stands in the captured document's event list (from 0)."""
    event_hash: str = Field(max_length=HASH_LENGTH)
    """The SHA-256 digest of the event's CBV 2.0 hash ID, 0x hex: what the chain records."""
    item_id: str = Field(index=True, max_length=HASH_LENGTH)
    step: str = Field(max_length=24)
    event_json: str = Field(sa_type=Text)
    """The event as captured (with its hash ID as ``eventID``)."""
    context_json: str = Field(sa_type=Text)
    """The captured document's ``@context``: it defines the event's extension prefixes."""
    operation_id: str = Field(
        max_length=32,
        sa_column_args=[ForeignKey("operation.id", name="fk_captured_event_operation")],
    )
    captured_at: datetime


OPERATION_TABLES = (CapturedEvent, CustodialKey, SenderAccount, Operation)
"""The store's own tables of this module, children before parents."""
