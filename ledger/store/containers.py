"""Aggregation in the store: the SSCC behind each container, and what packed items inherit.

A container (case or pallet) is indexed as an ``Item`` row of its own (brand 0, the zero
operator). A packed item's row keeps its own record's holder and status and names its
direct container in ``container_id``; like ``getItem`` on chain, reads resolve the custodian,
consignee and status of its top container (two levels up at most). :func:`travels` gives the
container events that carried an item, the store's mirror of ``Registry.travels``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert
from sqlmodel import Session, col, select

from ledger.errors import InvalidRecord, VeritagError
from ledger.identifiers import container_id, validate_sscc
from ledger.registry import MAX_NESTING, Flag
from ledger.store.database import session
from ledger.store.models import ContainerCode, CustodyEvent, IndexerCheckpoint, Item
from ledger.store.schemas import CustodyEventRead

__all__ = ["Containers", "top_container_state", "travels"]

_STATE_COLUMNS = ("custodian", "consignee", "status")


def top_container_state(db: Session, row: Item) -> dict[str, Any]:
    """The custodian, consignee and status a packed item takes from its top container, and
    its flags with the containers' STOLEN flag, as ``getItem`` answers (nothing for an item
    that is not packed, or whose container is not indexed)."""
    top: Item | None = None
    inherited = 0
    parent = row.container_id
    for _ in range(MAX_NESTING):
        if parent is None:
            break
        found = db.get(Item, parent)
        if found is None:
            break
        top, parent = found, found.container_id
        inherited |= found.flags & Flag.STOLEN
    if top is None:
        return {}
    return {**{name: getattr(top, name) for name in _STATE_COLUMNS}, "flags": row.flags | inherited}


def travels(db: Session, item_id: str) -> list[CustodyEventRead]:
    """The events of the containers that carried ``item_id`` while it was inside, with
    ``container_id`` set to the container whose event it is, in chain order."""
    confirmed = db.exec(select(IndexerCheckpoint.confirmed_block)).first() or 0
    found = _travels(db, item_id, (-1, -1), None, 0)
    found.sort(key=lambda e: (e.block_number, e.log_index))
    return [
        CustodyEventRead.model_validate(
            {**e.model_dump(), "container_id": e.item_id, "confirmed": e.block_number <= confirmed}
        )
        for e in found
    ]


def _travels(
    db: Session,
    record: str,
    start: tuple[int, int],
    end: tuple[int, int] | None,
    depth: int,
) -> list[CustodyEvent]:
    if depth >= MAX_NESTING:
        return []
    rows = db.exec(
        select(CustodyEvent)
        .where(
            CustodyEvent.item_id == record,
            col(CustodyEvent.name).in_(("ItemPacked", "ItemUnpacked")),
        )
        .order_by(col(CustodyEvent.seq))
    ).all()
    found: list[CustodyEvent] = []
    stays: list[tuple[str, tuple[int, int], tuple[int, int] | None]] = []
    for row in rows:
        at = (row.block_number, row.log_index)
        if row.name == "ItemPacked" and row.container_id is not None:
            stays.append((row.container_id, at, None))
        elif stays:
            stays[-1] = (stays[-1][0], stays[-1][1], at)
    for container, packed, unpacked in stays:
        since = max(packed, start)
        until = unpacked
        if end is not None and (until is None or until > end):
            until = end
        if until is not None and until <= since:
            continue
        for event in db.exec(
            select(CustodyEvent)
            .where(CustodyEvent.item_id == container)
            .order_by(col(CustodyEvent.seq))
        ).all():
            at = (event.block_number, event.log_index)
            if at > since and (until is None or at < until):
                found.append(event)
        found += _travels(db, container, since, until, depth + 1)
    return found


class Containers:
    """The SSCCs behind container ids: the store's own, never on chain."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, ssccs: Iterable[str]) -> int:
        """Remember the SSCC behind each container id; returns how many were new."""
        try:
            codes = {container_id(s).hex(): validate_sscc(s) for s in ssccs}
        except VeritagError as exc:
            raise InvalidRecord("SSCC", str(exc)) from None
        if not codes:
            return 0
        with session(self.engine) as db:
            known = set(
                db.exec(
                    select(ContainerCode.container_id).where(
                        col(ContainerCode.container_id).in_(sorted(codes))
                    )
                )
            )
            now = datetime.now(UTC)
            new = [
                {"container_id": i, "sscc": codes[i], "recorded_at": now}
                for i in sorted(codes)
                if i not in known
            ]
            if new:
                db.exec(insert(ContainerCode), params=new)
        return len(new)

    def sscc(self, container: str) -> str | None:
        """The SSCC of a container id (``0x`` hex), if recorded."""
        with session(self.engine) as db:
            row = db.get(ContainerCode, container.lower())
            return None if row is None else row.sscc

    def ssccs(self, containers: Iterable[str]) -> dict[str, str]:
        """The recorded SSCCs of these container ids."""
        ids = sorted({c.lower() for c in containers})
        if not ids:
            return {}
        with session(self.engine) as db:
            rows = db.exec(
                select(ContainerCode.container_id, ContainerCode.sscc).where(
                    col(ContainerCode.container_id).in_(ids)
                )
            ).all()
        return dict(rows)

    def travels(self, item: str) -> list[CustodyEventRead]:
        """See :func:`travels`."""
        with session(self.engine) as db:
            return travels(db, item.lower())
