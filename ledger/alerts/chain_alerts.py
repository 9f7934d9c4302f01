"""Alerts from the chain: every indexed recall and theft report becomes one alert.

The indexed custody events are read in chain order after the ``AlertCursor`` named
``chain``. Only events in blocks the indexer took as final are alerted on: an event in a
block a reorganisation may still take back would send a recall that never happened, and
would let later events slip in below the cursor.

Each alert's id is derived from the event's transaction hash and log index, and the
alerts and the cursor are written in one transaction; even two runs racing each other
queue each event's deliveries once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, func, or_
from sqlmodel import Session, col, select

from ledger.alerts.publish import AlertKind, AlertSpec, publish_in
from ledger.store.database import session
from ledger.store.market_models import AlertCursor, Listing
from ledger.store.models import CustodyEvent, IndexerCheckpoint, Item, ItemCode

__all__ = ["CHAIN_CURSOR", "EVENT_KINDS", "chain_alert_id", "publish_chain_alerts"]

CHAIN_CURSOR = "chain"
EVENT_KINDS = {"ItemRecalled": AlertKind.RECALL, "ItemReportedStolen": AlertKind.THEFT}
"""The custody events that raise an alert, and the kind of alert each raises."""
_BATCH = 1000


def chain_alert_id(tx_hash: str, log_index: int) -> str:
    """The alert id of one chain event: the same every time it is alerted on."""
    return hashlib.sha256(f"{tx_hash.lower()}:{log_index}".encode()).hexdigest()[:32]


def publish_chain_alerts(engine: Engine, *, now: datetime | None = None) -> int:
    """Publish the final recall and theft events not alerted on yet; returns how many."""
    published = 0
    while True:
        with session(engine) as db:
            count = _publish_batch(db, now)
        published += count
        if count < _BATCH:
            return published


def _publish_batch(db: Session, now: datetime | None) -> int:
    cursor = db.get(AlertCursor, CHAIN_CURSOR) or AlertCursor(
        name=CHAIN_CURSOR, block_number=-1, log_index=-1
    )
    final = db.exec(select(func.max(IndexerCheckpoint.confirmed_block))).one()
    if final is None:
        return 0
    rows = db.exec(
        select(CustodyEvent, Item.brand_id, ItemCode.gtin, ItemCode.serial)
        .join(Item, col(Item.item_id) == col(CustodyEvent.item_id))
        .outerjoin(ItemCode, col(ItemCode.item_id) == col(CustodyEvent.item_id))
        .where(
            col(CustodyEvent.name).in_(list(EVENT_KINDS)),
            col(CustodyEvent.block_number) <= final,
            or_(
                col(CustodyEvent.block_number) > cursor.block_number,
                and_(
                    col(CustodyEvent.block_number) == cursor.block_number,
                    col(CustodyEvent.log_index) > cursor.log_index,
                ),
            ),
        )
        .order_by(col(CustodyEvent.block_number), col(CustodyEvent.log_index))
        .limit(_BATCH)
    ).all()
    if not rows:
        return 0
    listed = _listing_marketplaces(db, {event.item_id for event, *_ in rows})
    alerts = [
        AlertSpec(
            kind=EVENT_KINDS[event.name],
            data=_data(event, brand_id, gtin, serial),
            brand_id=brand_id,
            org_ids=tuple(sorted(listed.get(event.item_id, ()))),
            alert_id=chain_alert_id(event.tx_hash, event.log_index),
        )
        for event, brand_id, gtin, serial in rows
    ]
    publish_in(db, alerts, now=now)
    last = rows[-1][0]
    cursor.block_number, cursor.log_index = last.block_number, last.log_index
    db.add(cursor)
    return len(rows)


def _listing_marketplaces(db: Session, item_ids: set[str]) -> dict[str, set[int]]:
    """The marketplaces with an active listing of each item."""
    found: dict[str, set[int]] = {}
    ids = sorted(item_ids)
    for start in range(0, len(ids), 900):
        rows = db.exec(
            select(Listing.item_id, Listing.marketplace_id).where(
                col(Listing.item_id).in_(ids[start : start + 900]),
                col(Listing.active).is_(True),
            )
        )
        for item_id, marketplace_id in rows:
            found.setdefault(item_id, set()).add(marketplace_id)
    return found


def _data(
    event: CustodyEvent, brand_id: int, gtin: str | None, serial: str | None
) -> dict[str, Any]:
    return {
        "event": event.name,
        "item_id": event.item_id,
        "gtin": gtin,
        "serial": serial,
        "brand_id": brand_id,
        "seq": event.seq,
        "by": event.by_address,
        "block": event.block_number,
        "tx": event.tx_hash,
        "log_index": event.log_index,
        "timestamp": event.timestamp,
    }
