"""Clone signals as alerts: to the item's brand and to every marketplace listing the item.

Each new signal is one alert whose id is derived from the signal's identity (item, code,
key), so detecting the same signal again never alerts twice.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Engine
from sqlmodel import col, select

from ledger.alerts.publish import AlertKind, AlertSpec, publish_in
from ledger.store.database import session
from ledger.store.market_models import Listing
from ledger.store.models import ItemCode
from ledger.store.signals import NewSignal

__all__ = ["publish_clone_signals"]


def publish_clone_signals(engine: Engine, signals: Sequence[NewSignal]) -> list[str]:
    """Queue one ``clone_signal`` alert per new signal; returns the alert ids."""
    if not signals:
        return []
    item_ids = sorted({s.item_id for s in signals})
    with session(engine) as db:
        listed: defaultdict[str, set[int]] = defaultdict(set)
        for item_id, marketplace_id in db.exec(
            select(Listing.item_id, Listing.marketplace_id).where(
                col(Listing.item_id).in_(item_ids), col(Listing.active).is_(True)
            )
        ):
            listed[item_id].add(marketplace_id)
        codes = {
            row.item_id: (row.gtin, row.serial)
            for row in db.exec(select(ItemCode).where(col(ItemCode.item_id).in_(item_ids)))
        }
        alerts = [_alert(s, listed[s.item_id], codes.get(s.item_id)) for s in signals]
        return publish_in(db, alerts)


def _alert(found: NewSignal, marketplaces: set[int], code: tuple[str, str] | None) -> AlertSpec:
    signal = found.signal
    identity = f"clone_signal/{found.item_id}/{signal.code}/{signal.key}"
    return AlertSpec(
        AlertKind.CLONE_SIGNAL,
        {
            "item_id": found.item_id,
            "gtin": code[0] if code else None,
            "serial": code[1] if code else None,
            "code": signal.code,
            "message": signal.message,
            "evidence": signal.evidence,
        },
        brand_id=found.brand_id,
        org_ids=tuple(sorted(marketplaces)),
        alert_id=hashlib.sha256(identity.encode()).hexdigest()[:32],
    )
