"""The outbox: every write request, stored with its idempotency key before anything is sent.

:meth:`Outbox.submit` checks the request for its kind, normalises it and stores it
``queued`` with its canonical JSON and that JSON's SHA-256. The same key with the same
request is the same operation (a client retrying after a timeout gets the first answer);
the same key with another request is a :class:`~ledger.errors.Conflict`. What happens
next is the :class:`~ledger.outbox.submitter.Submitter`'s.

Operation ids sort in creation order (nanoseconds since the epoch, then random bits), which
is the order the submitter sends them in.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from ledger.errors import Conflict, IdempotencyKeyRequired, InvalidRecord, NotFound
from ledger.outbox.operations import DEFAULT_MAX_BATCH_SIZE, validate_request
from ledger.store.database import session
from ledger.store.operation_models import Operation

__all__ = [
    "OpStatus",
    "OperationRead",
    "Outbox",
    "SentTx",
    "canonical_json",
    "new_operation_id",
    "read_operation",
]

_KEY = re.compile(r"[\x21-\x7e]{1,128}")
"""Idempotency keys: 1 to 128 printable ASCII characters without spaces."""
_MAX_LIST = 1000


class OpStatus(enum.StrEnum):
    QUEUED = "queued"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    FAILED = "failed"


@dataclass(frozen=True)
class SentTx:
    """One signed transaction sent for an operation's nonce (re-sends bump its fees)."""

    hash: str
    raw: str
    """The signed transaction (``0x`` hex), re-broadcast when the node has lost it."""
    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    sent_at: float
    """Seconds since the epoch (the submitter's clock) when it was signed, or when the
    chain was found to have lost it."""

    def as_json(self) -> dict[str, Any]:
        return {
            "hash": self.hash,
            "raw": self.raw,
            "gas": self.gas,
            "max_fee_per_gas": self.max_fee_per_gas,
            "max_priority_fee_per_gas": self.max_priority_fee_per_gas,
            "sent_at": self.sent_at,
        }


@dataclass(frozen=True)
class OperationRead:
    id: str
    org_id: int
    idempotency_key: str
    kind: str
    request: dict[str, Any]
    status: OpStatus
    sender: str | None
    nonce: int | None
    tx_hash: str | None
    transactions: tuple[SentTx, ...]
    block_number: int | None
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    confirmed_at: datetime | None


def _utc_now() -> datetime:
    return datetime.now(UTC)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_last_id_time = 0
_id_lock = threading.Lock()


def new_operation_id() -> str:
    global _last_id_time  # noqa: PLW0603 (ids of one process must strictly increase)
    with _id_lock:
        _last_id_time = max(time.time_ns(), _last_id_time + 1)
        stamp = _last_id_time
    return f"{stamp:016x}{secrets.token_hex(8)}"


class Outbox:
    """The operations of every organisation, in the store behind ``engine``."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime] = _utc_now,
        *,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    ) -> None:
        self.engine = engine
        self._clock = clock
        self.max_batch_size = max_batch_size

    def submit(
        self, org_id: int, idempotency_key: str, kind: str, request: Mapping[str, Any]
    ) -> tuple[OperationRead, bool]:
        """Store the request ``queued``; returns the operation and whether it is new."""
        row = self.new_operation(org_id, idempotency_key, kind, request)
        existing = self._by_key(org_id, idempotency_key)
        if existing is None:
            try:
                with session(self.engine) as db:
                    db.add(row)
                return read_operation(row), True
            except IntegrityError:
                existing = self._by_key(org_id, idempotency_key)  # a concurrent retry won
                assert existing is not None
        if existing.kind != kind or existing.request_hash != row.request_hash:
            raise Conflict(
                f"idempotency key {idempotency_key!r}",
                f"it was used for another {existing.kind} request (operation {existing.id}); "
                "use a new key for a new request",
            )
        return read_operation(existing), False

    def new_operation(
        self, org_id: int, idempotency_key: str, kind: str, request: Mapping[str, Any]
    ) -> Operation:
        """The ``queued`` row for a checked and normalised request, not yet stored: for
        callers that store several operations with rows of their own in one transaction."""
        if not isinstance(idempotency_key, str) or not _KEY.fullmatch(idempotency_key):
            raise IdempotencyKeyRequired(
                "its idempotency key must be 1 to 128 printable ASCII characters, no spaces"
            )
        normalised = validate_request(kind, request, max_batch_size=self.max_batch_size)
        text = canonical_json(normalised)
        now = self._clock()
        return Operation(
            id=new_operation_id(),
            org_id=org_id,
            idempotency_key=idempotency_key,
            kind=kind,
            request_json=text,
            request_hash=hashlib.sha256(text.encode()).hexdigest(),
            status=OpStatus.QUEUED.value,
            created_at=now,
            updated_at=now,
        )

    def get(self, org_id: int, op_id: str) -> OperationRead:
        """The organisation's operation; NotFound for another organisation's."""
        with session(self.engine) as db:
            row = db.get(Operation, op_id)
        if row is None or row.org_id != org_id:
            raise NotFound("operation", op_id)
        return read_operation(row)

    def list(
        self, org_id: int, status: OpStatus | str | None = None, limit: int = 100
    ) -> list[OperationRead]:
        """The organisation's operations, newest first."""
        if not 1 <= limit <= _MAX_LIST:
            raise InvalidRecord("operation list", f"limit must be 1 to {_MAX_LIST}")
        query = select(Operation).where(Operation.org_id == org_id)
        if status is not None:
            query = query.where(Operation.status == OpStatus(status).value)
        with session(self.engine) as db:
            rows = db.exec(query.order_by(col(Operation.id).desc()).limit(limit)).all()
        return [read_operation(r) for r in rows]

    def find(self, org_id: int, idempotency_key: str) -> OperationRead | None:
        """The organisation's operation stored under ``idempotency_key``, if any."""
        row = self._by_key(org_id, idempotency_key)
        return read_operation(row) if row is not None else None

    def _by_key(self, org_id: int, key: str) -> Operation | None:
        with session(self.engine) as db:
            return db.exec(
                select(Operation).where(
                    Operation.org_id == org_id, Operation.idempotency_key == key
                )
            ).first()


def read_operation(row: Operation) -> OperationRead:
    return OperationRead(
        id=row.id,
        org_id=row.org_id,
        idempotency_key=row.idempotency_key,
        kind=row.kind,
        request=json.loads(row.request_json),
        status=OpStatus(row.status),
        sender=row.sender,
        nonce=row.nonce,
        tx_hash=row.tx_hash,
        transactions=tuple(SentTx(**t) for t in json.loads(row.tx_hashes_json)),
        block_number=row.block_number,
        result=json.loads(row.result_json) if row.result_json else None,
        error=json.loads(row.error_json) if row.error_json else None,
        attempts=row.attempts,
        created_at=row.created_at,
        updated_at=row.updated_at,
        submitted_at=row.submitted_at,
        confirmed_at=row.confirmed_at,
    )
