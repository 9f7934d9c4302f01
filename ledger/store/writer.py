"""Write decoded registry events into the store, and take them back after a reorganisation.

Everything here runs inside the caller's transaction (one per block range), so a crash
leaves the store as it was before the range. Applying is idempotent: an event already
stored (same transaction hash and log index) is skipped, so the same logs twice change
nothing. State is only ever computed by :mod:`ledger.store.derive`, going forward and when
recomputed after a rollback.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, delete, false, insert, or_, update
from sqlmodel import Session, col, select

from ledger.contract_errors import Status
from ledger.errors import IndexConflict, IndexIncomplete, StoreError
from ledger.registry import Flag
from ledger.store.batch_models import BatchAnchor
from ledger.store.derive import (
    ANCHOR_EVENT,
    BATCH_EVENT,
    CONTAINER_CREATED,
    ITEM_EVENT_NAMES,
    REGISTRATION_EVENTS,
    SUSPENSION_EVENTS,
    BrandState,
    ChainEvent,
    ItemFold,
    Suspensions,
    apply_brand_event,
    apply_item_event,
    custody_parties,
    event_seq,
    status_name,
    suspensions,
)
from ledger.store.models import (
    DERIVED_TABLES,
    Brand,
    BrandPrefix,
    CustodyEvent,
    GovernanceEvent,
    Item,
)

__all__ = ["Applied", "RolledBack", "apply_events", "clear_derived", "rollback_to"]

_CHUNK = 500
"""Rows per IN (…) list: well under every backend's parameter limit."""
_ZERO_HASH = "0x" + "00" * 32
_ZERO_ADDRESS = "0x" + "00" * 20
T = TypeVar("T")


@dataclass
class Applied:
    """What one call of :func:`apply_events` stored."""

    item_events: int = 0
    governance_events: int = 0
    items: set[str] = field(default_factory=set)
    """Items that got a new event."""


@dataclass(frozen=True)
class RolledBack:
    """What :func:`rollback_to` took back."""

    item_events: int
    governance_events: int
    items_removed: int
    items_recomputed: int
    brands_recomputed: int


# ───────────── forward ─────────────


def apply_events(db: Session, events: Sequence[ChainEvent]) -> Applied:
    """Store ``events`` (one block range, in chain order) and update what they change."""
    applied = Applied()
    if not events:
        return applied
    low, high = events[0].block_number, events[-1].block_number
    batches = {str(e.args["batchId"]): e for e in events if e.name == BATCH_EVENT}
    item_events = [e for e in events if e.name in ITEM_EVENT_NAMES]
    governance = [
        e
        for e in events
        if e.name not in ITEM_EVENT_NAMES and e.name not in (BATCH_EVENT, ANCHOR_EVENT)
    ]
    _apply_anchors(db, [e for e in events if e.name == ANCHOR_EVENT])

    stored_logs = _stored_keys(db, CustodyEvent, low, high)
    new_items = [e for e in item_events if e.key not in stored_logs]
    stored_gov = _stored_keys(db, GovernanceEvent, low, high)
    new_gov = [e for e in governance if e.key not in stored_gov]

    _apply_governance(db, new_gov)
    _apply_items(db, new_items, batches)
    suspended = {_brand_id(e) for e in new_gov if e.name in SUSPENSION_EVENTS}
    refresh_suspension_flags(db, suspended | _activated_brands_with_suspensions(db, new_items))

    applied.item_events = len(new_items)
    applied.governance_events = len(new_gov)
    applied.items = {e.item_id for e in new_items}
    return applied


def _stored_keys(
    db: Session, table: type[CustodyEvent] | type[GovernanceEvent], low: int, high: int
) -> set[tuple[str, int]]:
    rows = db.exec(
        select(table.tx_hash, table.log_index).where(
            col(table.block_number) >= low, col(table.block_number) <= high
        )
    )
    return {(tx, index) for tx, index in rows}


def _apply_items(db: Session, events: Sequence[ChainEvent], batches: dict[str, ChainEvent]) -> None:
    if not events:
        return
    ids = sorted({e.item_id for e in events})
    known = {item.item_id: item for item in _items(db, ids)}
    folds = {item_id: _fold_of(item) for item_id, item in known.items()}
    created: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for event in events:
        item_id, seq = event.item_id, event_seq(event)
        state = folds.get(item_id)
        operator = None
        if event.name in REGISTRATION_EVENTS:
            if state is not None:
                raise IndexConflict(item_id, 1, _stored_tx(db, item_id, 1), event.tx_hash)
            created[item_id] = _registration(db, event, batches)
            operator = created[item_id]["operator"]
            if event.name == CONTAINER_CREATED:
                folds[item_id] = ItemFold.registered(
                    str(event.args["by"]), event.block_number, container=True
                )
            else:
                folds[item_id] = ItemFold.registered(operator, event.block_number)
        else:
            _check_next(db, item_id, state, seq, event)
            assert state is not None  # _check_next raised otherwise
            apply_item_event(state, event)
        rows.append(_custody_row(event, seq, operator))
    for item_id, row in created.items():
        row.update(_fold_columns(folds[item_id]))
    for chunk in _chunks(list(created.values())):
        db.exec(insert(Item), params=chunk)
    changed = [{"item_id": i, **_fold_columns(folds[i])} for i in known]  # all got an event
    for chunk in _chunks(changed):
        db.exec(update(Item), params=chunk)
    for chunk in _chunks(rows):
        db.exec(insert(CustodyEvent), params=chunk)
    db.expire_all()  # Core statements bypassed the identity map


def _check_next(
    db: Session, item_id: str, state: ItemFold | None, seq: int, event: ChainEvent
) -> None:
    """An item event must be the one right after what the store holds."""
    have = 0 if state is None else state.seq
    if seq == have + 1 and state is not None:
        return
    if seq <= have:
        raise IndexConflict(item_id, seq, _stored_tx(db, item_id, seq), event.tx_hash)
    raise IndexIncomplete(item_id, have, seq, tuple(range(have + 1, seq)))


def _stored_tx(db: Session, item_id: str, seq: int) -> str:
    tx = db.exec(
        select(CustodyEvent.tx_hash).where(CustodyEvent.item_id == item_id, CustodyEvent.seq == seq)
    ).first()
    return tx or "(none)"


def _apply_anchors(db: Session, events: Sequence[ChainEvent]) -> None:
    """Keep each ``BatchAnchored`` event (once: applying twice changes nothing)."""
    for event in events:
        root = str(event.args["root"])
        if db.get(BatchAnchor, root) is not None:
            continue
        doc_hash = str(event.args["docHash"])
        db.add(
            BatchAnchor(
                root=root,
                brand_id=int(event.args["brandId"]),
                operator=str(event.args["operator"]),
                doc_hash=None if doc_hash == _ZERO_HASH else doc_hash,
                count=int(event.args["count"]),
                anchored_at=event.timestamp,
                block_number=event.block_number,
                block_hash=event.block_hash,
                tx_hash=event.tx_hash,
                log_index=event.log_index,
            )
        )
    if events:
        db.flush()


def _activated_brands_with_suspensions(db: Session, events: Sequence[ChainEvent]) -> set[int]:
    """Brands of newly activated batch items that have ever been suspended (or had an
    operator suspended): a suspension may cover the batch's anchoring, which lies before
    the item existed in the store, so their flags are computed again."""
    brands = {
        int(row.brand_id)
        for row in _items(db, sorted({e.item_id for e in events if e.name == "BatchItemActivated"}))
    }
    if not brands:
        return set()
    rows = db.exec(
        select(GovernanceEvent.brand_id)
        .where(col(GovernanceEvent.brand_id).in_(brands))
        .where(col(GovernanceEvent.name).in_(SUSPENSION_EVENTS))
        .distinct()
    )
    return {int(b) for b in rows if b is not None}


def _registration(db: Session, event: ChainEvent, batches: dict[str, ChainEvent]) -> dict[str, Any]:
    """The columns of a new item fixed at registration (a batch item's come from its batch,
    a Merkle batch item's from its batch's anchoring, which is its registration time).
    A container has no brand (0) and no operator (the zero address), as on chain."""
    if event.name == "BatchItemActivated":
        return _activation(db, event)
    if event.name == CONTAINER_CREATED:
        return {
            "item_id": event.item_id,
            "brand_id": 0,
            "operator": _ZERO_ADDRESS,
            "registered_at": event.timestamp,
            "registered_block": event.block_number,
            "batch_id": None,
            "doc_hash": None,
            "registered_while_suspended": False,
        }
    if event.name == "ItemRegistered":
        source, batch_id = event, None
    else:
        batch_id = str(event.args["batchId"])
        source = batches[batch_id]  # emitted earlier in the same transaction
    doc_hash = str(source.args["docHash"])
    return {
        "item_id": event.item_id,
        "brand_id": int(source.args["brandId"]),
        "operator": str(source.args["operator"]),
        "registered_at": event.timestamp,
        "registered_block": event.block_number,
        "batch_id": batch_id,
        "doc_hash": None if doc_hash == _ZERO_HASH else doc_hash,
        "registered_while_suspended": False,  # registration is refused while suspended
    }


def _activation(db: Session, event: ChainEvent) -> dict[str, Any]:
    root = str(event.args["root"])
    anchor = db.get(BatchAnchor, root)  # anchored in an earlier block, or earlier in this range
    if anchor is None:
        raise StoreError(
            f"item {event.item_id} was activated from batch {root} in {event.tx_hash}, but the "
            "index holds no anchoring of that batch; run `veritag index --rebuild`"
        )
    return {
        "item_id": event.item_id,
        "brand_id": anchor.brand_id,
        "operator": anchor.operator,
        "registered_at": anchor.anchored_at,
        "registered_block": event.block_number,
        "batch_id": root,
        "doc_hash": anchor.doc_hash,
        "registered_while_suspended": False,  # computed once stored, see apply_events
    }


def _custody_row(event: ChainEvent, seq: int, operator: str | None) -> dict[str, Any]:
    return {
        "item_id": event.item_id,
        "seq": seq,
        "name": event.name,
        **custody_parties(event, operator),
        "block_number": event.block_number,
        "block_hash": event.block_hash,
        "tx_hash": event.tx_hash,
        "log_index": event.log_index,
        "timestamp": event.timestamp,
        "container_id": event.args.get("containerId") if "itemId" in event.args else None,
    }


def _fold_of(item: Item) -> ItemFold:
    return ItemFold(
        custodian=item.custodian,
        status=Status[item.status.upper()],
        flags=Flag(item.flags),
        seq=item.seq,
        last_block=item.last_block,
        consignee=item.consignee,
        container=item.container_id,
    )


def _fold_columns(fold: ItemFold) -> dict[str, Any]:
    return {
        "custodian": fold.custodian,
        "consignee": fold.consignee,
        "status": status_name(fold.status),
        "flags": int(fold.flags),
        "seq": fold.seq,
        "last_block": fold.last_block,
        "container_id": fold.container,
    }


def _apply_governance(db: Session, events: Sequence[ChainEvent]) -> None:
    if not events:
        return
    for chunk in _chunks([_governance_row(e) for e in events]):
        db.exec(insert(GovernanceEvent), params=chunk)
    brand_ids = sorted({b for e in events if (b := _brand_id(e)) is not None})
    states = {b: _load_brand(db, b) for b in brand_ids}
    before = {b: set(s.prefixes) if s else set() for b, s in states.items()}
    for event in events:
        brand_id = _brand_id(event)
        if brand_id is not None:
            states[brand_id] = apply_brand_event(states[brand_id], event)
    for brand_id, state in states.items():
        _save_brand(db, brand_id, state, before[brand_id])


def _governance_row(event: ChainEvent) -> dict[str, Any]:
    args = event.args
    account = next(
        (args[k] for k in ("operator", "partner", "newAdmin", "admin", "newOwner") if k in args),
        None,
    )
    return {
        "tx_hash": event.tx_hash,
        "log_index": event.log_index,
        "block_number": event.block_number,
        "block_hash": event.block_hash,
        "timestamp": event.timestamp,
        "name": event.name,
        "brand_id": _brand_id(event),
        "account": account,
        "args_json": json.dumps(dict(args), sort_keys=True),
    }


def _brand_id(event: ChainEvent) -> int | None:
    value = event.args.get("brandId")
    return None if value is None else int(value)


def _load_brand(db: Session, brand_id: int) -> BrandState | None:
    brand = db.get(Brand, brand_id)
    if brand is None:
        return None
    prefixes = db.exec(
        select(BrandPrefix.prefix, BrandPrefix.block_number).where(BrandPrefix.brand_id == brand_id)
    )
    return BrandState(
        brand.brand_id,
        brand.admin,
        brand.name,
        brand.admitted_block,
        brand.suspended_from,
        {row[0]: row[1] for row in prefixes},
    )


def _save_brand(db: Session, brand_id: int, state: BrandState | None, had: set[str]) -> None:
    """Write ``state`` over the stored brand (None: the brand does not exist)."""
    if state is None:
        db.exec(delete(BrandPrefix).where(col(BrandPrefix.brand_id) == brand_id))
        db.exec(delete(Brand).where(col(Brand.brand_id) == brand_id))
        return
    values = {
        "admin": state.admin,
        "name": state.name,
        "suspended_from": state.suspended_from,
        "admitted_block": state.admitted_block,
    }
    if db.get(Brand, brand_id) is None:
        db.exec(insert(Brand), params=[{"brand_id": brand_id, **values}])
    else:
        db.exec(update(Brand).where(col(Brand.brand_id) == brand_id).values(**values))
    gone = had - set(state.prefixes)
    if gone:
        db.exec(delete(BrandPrefix).where(col(BrandPrefix.prefix).in_(gone)))
    new = [
        {"prefix": p, "brand_id": brand_id, "block_number": b}
        for p, b in state.prefixes.items()
        if p not in had
    ]
    if new:
        db.exec(insert(BrandPrefix), params=new)
    db.expire_all()  # Core statements bypassed the identity map


def refresh_suspension_flags(db: Session, brand_ids: Iterable[int | None]) -> None:
    """Recompute ``registered_while_suspended`` of every item of these brands.

    The contract evaluates the flag from the brand's and the operator's suspensions at
    read time; a suspension may reach back before items were registered, and a
    reinstatement keeps the window it covered. Rare events, so all of a brand's items are
    updated at once.
    """
    for brand_id in sorted({b for b in brand_ids if b is not None}):
        rows = db.exec(
            select(GovernanceEvent)
            .where(
                GovernanceEvent.brand_id == brand_id,
                col(GovernanceEvent.name).in_(SUSPENSION_EVENTS),
            )
            .order_by(col(GovernanceEvent.block_number), col(GovernanceEvent.log_index))
        ).all()
        events = [_chain_event(row) for row in rows]
        brand = suspensions(e for e in events if e.name.startswith("Brand"))
        by_operator: dict[str, list[ChainEvent]] = defaultdict(list)
        for event in events:
            if event.name.startswith("Operator"):
                by_operator[str(event.args["operator"])].append(event)
        db.exec(
            update(Item)
            .where(col(Item.brand_id) == brand_id)
            .values(registered_while_suspended=_covered(brand))
        )
        for operator, own in by_operator.items():
            window = suspensions(own)
            if window.any:
                db.exec(
                    update(Item)
                    .where(col(Item.brand_id) == brand_id, col(Item.operator) == operator)
                    .where(_covered(window))
                    .values(registered_while_suspended=True)
                )


def _covered(window: Suspensions) -> ColumnElement[bool]:
    """SQL for ``window.covers(Item.registered_at)``."""
    at = col(Item.registered_at)
    terms: list[ColumnElement[bool]] = [and_(at >= start, at < end) for start, end in window.past]
    if window.current:
        terms.append(at >= window.current)
    return or_(*terms) if terms else false()


def _chain_event(row: GovernanceEvent) -> ChainEvent:
    return ChainEvent(
        name=row.name,
        block_number=row.block_number,
        block_hash=row.block_hash,
        tx_hash=row.tx_hash,
        log_index=row.log_index,
        timestamp=row.timestamp,
        args=json.loads(row.args_json),
    )


# ───────────── backward ─────────────


def rollback_to(db: Session, block: int) -> RolledBack:
    """Take back everything derived from blocks after ``block``; recompute what remains.

    Items registered after ``block`` go; items that only lost later events are folded again
    from their remaining events; brands touched after ``block`` are folded again from their
    remaining governance events, and the suspension flags of their items recomputed.
    """
    after_item = col(CustodyEvent.block_number) > block
    affected = set(db.exec(select(CustodyEvent.item_id).where(after_item).distinct()).all())
    item_events = _count(db.exec(delete(CustodyEvent).where(after_item)))
    items_removed = _count(db.exec(delete(Item).where(col(Item.registered_block) > block)))
    remaining = sorted(affected - _gone(db, affected))
    for ids in _chunks(remaining):
        _refold(db, ids)

    db.exec(delete(BatchAnchor).where(col(BatchAnchor.block_number) > block))
    after_gov = col(GovernanceEvent.block_number) > block
    taken = db.exec(select(GovernanceEvent.brand_id, GovernanceEvent.name).where(after_gov)).all()
    governance_events = _count(db.exec(delete(GovernanceEvent).where(after_gov)))
    brands = sorted({b for b, _ in taken if b is not None})
    for brand_id in brands:
        stored = _load_brand(db, brand_id)
        had = set(stored.prefixes) if stored else set()
        _save_brand(db, brand_id, _refold_brand(db, brand_id), had)
    refresh_suspension_flags(db, {b for b, name in taken if name in SUSPENSION_EVENTS})
    return RolledBack(item_events, governance_events, items_removed, len(remaining), len(brands))


def _gone(db: Session, ids: set[str]) -> set[str]:
    present: set[str] = set()
    for chunk in _chunks(sorted(ids)):
        present.update(i.item_id for i in _items(db, chunk))
    return ids - present


def _refold(db: Session, ids: Sequence[str]) -> None:
    events_by_item: dict[str, list[CustodyEvent]] = defaultdict(list)
    for row in db.exec(
        select(CustodyEvent)
        .where(col(CustodyEvent.item_id).in_(ids))
        .order_by(col(CustodyEvent.item_id), col(CustodyEvent.seq))
    ):
        events_by_item[row.item_id].append(row)
    updates = []
    for item in _items(db, ids):
        rows = events_by_item[item.item_id]
        if rows and rows[0].name == CONTAINER_CREATED:
            fold = ItemFold.registered(
                str(rows[0].by_address), item.registered_block, container=True
            )
        else:
            fold = ItemFold.registered(item.operator, item.registered_block)
        for row in rows:
            if row.seq > 1:
                apply_item_event(fold, _custody_event(row))
        updates.append({"item_id": item.item_id, **_fold_columns(fold)})
    if updates:
        db.exec(update(Item), params=updates)
    db.expire_all()


def _custody_event(row: CustodyEvent) -> ChainEvent:
    """Enough of a stored custody event for :func:`apply_item_event`."""
    args: dict[str, Any] = {"seq": row.seq}
    if row.container_id is not None:
        args["containerId"] = row.container_id
    if row.name == "ItemClaimed":
        args["owner"] = row.to_address
    elif row.from_address is not None:
        args["from"], args["to"] = row.from_address, row.to_address
    else:
        args["by"] = row.by_address
    return ChainEvent(
        row.name, row.block_number, row.block_hash, row.tx_hash, row.log_index, row.timestamp, args
    )


def _refold_brand(db: Session, brand_id: int) -> BrandState | None:
    rows = db.exec(
        select(GovernanceEvent)
        .where(GovernanceEvent.brand_id == brand_id)
        .order_by(col(GovernanceEvent.block_number), col(GovernanceEvent.log_index))
    ).all()
    state: BrandState | None = None
    for row in rows:
        state = apply_brand_event(state, _chain_event(row))
    return state


def clear_derived(db: Session) -> None:
    """Delete every row derived from the chain; codes, documents and scans stay."""
    for table in DERIVED_TABLES:
        db.exec(delete(table))


# ───────────── helpers ─────────────


def _items(db: Session, ids: Sequence[str]) -> list[Item]:
    found: list[Item] = []
    for chunk in _chunks(list(ids)):
        found.extend(db.exec(select(Item).where(col(Item.item_id).in_(chunk))).all())
    return found


def _chunks(rows: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _count(result: Any) -> int:
    return int(result.rowcount or 0)
