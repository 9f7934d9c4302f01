"""Captured EPCIS events: stored with the outbox operations that apply them, all at once.

The chain records each ObjectEvent's hash next to the item event it causes; the event
itself (its time, places, business transactions, extensions) lives here, so that exports can
give it back exactly and anyone can re-hash it against the chain. An AggregationEvent is
applied by one ``pack`` or ``unpack`` operation for all its children, which records no hash
on chain: its rows here (one per child, sharing that operation) are what recognise it when
it is sent again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from ledger.epcis.capture import PlannedStep
from ledger.errors import Conflict, NotFound
from ledger.identifiers import ItemId
from ledger.outbox.store import OperationRead, Outbox, new_operation_id, read_operation
from ledger.store.database import session
from ledger.store.operation_models import CapturedEvent, Operation

__all__ = ["CaptureRead", "CapturedItemEvent", "Captures"]


@dataclass(frozen=True)
class CapturedItemEvent:
    """One item's share of a captured event, with the operation that applies it."""

    event_index: int
    event_hash: str
    item_id: str
    step: str
    event: dict[str, Any]
    context: Any
    captured_at: datetime
    operation: OperationRead


@dataclass(frozen=True)
class CaptureRead:
    capture_id: str
    org_id: int
    captured_at: datetime
    events: tuple[CapturedItemEvent, ...]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Captures:
    """The captured EPCIS events in the store behind ``engine`` (already migrated)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = _utc_now) -> None:
        self.engine = engine
        self._clock = clock

    def record(
        self, org_id: int, steps: Sequence[PlannedStep], context: Any, outbox: Outbox
    ) -> CaptureRead:
        """Queue one operation per step and keep each item's share of its event, in one
        transaction."""
        capture_id = new_operation_id()
        now = self._clock()
        context_json = json.dumps(context)
        operations: list[Operation] = []
        rows: list[CapturedEvent] = []
        for number, step in enumerate(steps):
            operation = outbox.new_operation(
                org_id, f"epcis-capture:{capture_id}:{number}", step.kind, step.request()
            )
            operations.append(operation)
            event_json = json.dumps(step.event)  # as sent: the hash follows nested key order
            for item, name in step.item_steps():
                captured = CapturedEvent(
                    capture_id=capture_id,
                    position=len(rows),
                    org_id=org_id,
                    event_index=step.event_index,
                    event_hash=step.digest,
                    item_id=item.hex(),
                    step=name,
                    event_json=event_json,
                    context_json=context_json,
                    operation_id=operation.id,
                    captured_at=now,
                )
                rows.append(captured)
        try:
            with session(self.engine) as db:
                db.add_all(operations)
                db.flush()  # operations first: captured events point at them
                db.add_all(rows)
        except IntegrityError:
            raise Conflict(
                "EPCIS capture",
                "an event of this document was captured by another request at the same "
                "time; nothing was recorded, send it again to see which",
            ) from None
        return self.get(org_id, capture_id)

    def get(self, org_id: int, capture_id: str) -> CaptureRead:
        """The organisation's capture; NotFound for another organisation's."""
        with session(self.engine) as db:
            pairs = db.exec(
                select(CapturedEvent, Operation)
                .join(Operation, col(Operation.id) == col(CapturedEvent.operation_id))
                .where(CapturedEvent.capture_id == capture_id)
                .order_by(col(CapturedEvent.position))
            ).all()
        if not pairs or pairs[0][0].org_id != org_id:
            raise NotFound("EPCIS capture", capture_id)
        events = tuple(_item_event(row, operation) for row, operation in pairs)
        return CaptureRead(capture_id, org_id, events[0].captured_at, events)

    def capture_of(self, digest: str, item: ItemId) -> str | None:
        """The capture that recorded the event with ``digest`` for ``item``, if any."""
        with session(self.engine) as db:
            return db.exec(
                select(CapturedEvent.capture_id).where(
                    CapturedEvent.event_hash == digest, CapturedEvent.item_id == item.hex()
                )
            ).first()

    def of_item(self, item: ItemId) -> dict[str, CapturedItemEvent]:
        """The item's captured events, by digest."""
        with session(self.engine) as db:
            pairs = db.exec(
                select(CapturedEvent, Operation)
                .join(Operation, col(Operation.id) == col(CapturedEvent.operation_id))
                .where(CapturedEvent.item_id == item.hex())
            ).all()
        return {row.event_hash: _item_event(row, operation) for row, operation in pairs}


def _item_event(row: CapturedEvent, operation: Operation) -> CapturedItemEvent:
    captured_at = row.captured_at
    if captured_at.tzinfo is None:  # SQLite gives naive datetimes back
        captured_at = captured_at.replace(tzinfo=UTC)
    return CapturedItemEvent(
        event_index=row.event_index,
        event_hash=row.event_hash,
        item_id=row.item_id,
        step=row.step,
        event=json.loads(row.event_json),
        context=json.loads(row.context_json),
        captured_at=captured_at,
        operation=read_operation(operation),
    )
