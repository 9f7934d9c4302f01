"""EPCIS 2.0 event queries, answered from the chain (a documented subset of SimpleEventQuery).

=================  ===========================================================
parameter          meaning
=================  ===========================================================
``MATCH_epc``      items, as Digital Links or SGTIN URNs (any of them)
``eventType``      ``ObjectEvent`` (the only type the ledger writes)
``EQ_bizStep``     CBV business steps, bare (``shipping``) or as URIs
``EQ_disposition`` CBV dispositions, bare (``in_transit``) or as URIs
``GE_eventTime``   events at or after this time
``LT_eventTime``   events before this time
=================  ===========================================================

Each item's events are its export (``ledger.epcis.export``), so a query answers exactly what
exports say, hash IDs included. Without ``MATCH_epc`` a time window is required, and the
items are those with an indexed event in it whose GTIN and serial the store knows, at most
:data:`MAX_ITEMS` of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, func, select

from ledger.epcis.capture import cbv_term
from ledger.epcis.export import (
    CHAIN_FIELDS,
    EPCIS_CONTEXT,
    IGNORE_FIELDS,
    epcis_time,
    export_item,
)
from ledger.epcis.identifiers import epc_item
from ledger.errors import IdentifierError, InvalidRecord, NotFound
from ledger.registry import Registry
from ledger.store.database import session
from ledger.store.models import CustodyEvent, ItemCode
from ledger.store.repository import Store

__all__ = ["MAX_ITEMS", "EventQuery", "QueryResult", "query_events"]

MAX_ITEMS = 1000
"""Items one query reads at most: each item's history is read from the chain."""
EVENT_TYPES = frozenset(
    {
        "ObjectEvent",
        "AggregationEvent",
        "TransactionEvent",
        "TransformationEvent",
        "AssociationEvent",
    }
)


@dataclass(frozen=True)
class EventQuery:
    epcs: tuple[str, ...] = ()
    event_type: str | None = None
    biz_steps: tuple[str, ...] = ()
    dispositions: tuple[str, ...] = ()
    since: datetime | None = None
    before: datetime | None = None


@dataclass(frozen=True)
class QueryResult:
    body: dict[str, Any]
    """The ``EPCISQueryDocument``."""
    more: bool
    """Whether events follow this page."""


def query_events(
    registry: Registry,
    store: Store | None,
    query: EventQuery,
    *,
    offset: int = 0,
    limit: int = 100,
    created_at: datetime | None = None,
) -> QueryResult:
    """The page ``[offset, offset + limit)`` of the events matching ``query``, oldest first."""
    if query.event_type is not None and query.event_type not in EVENT_TYPES:
        raise InvalidRecord(
            "query",
            f"eventType {query.event_type!r} is not one of {', '.join(sorted(EVENT_TYPES))}",
        )
    since, before = _utc(query.since), _utc(query.before)
    if since is not None and before is not None and since >= before:
        raise InvalidRecord("query", "GE_eventTime must be before LT_eventTime")
    items = _items(query, store, since, before)
    prefixes: dict[str, str] = {}
    matched: list[tuple[datetime, int, dict[str, Any]]] = []
    if query.event_type in (None, "ObjectEvent"):
        for gtin, serial in items:
            try:
                document = export_item(registry, gtin, serial, store=store)
            except NotFound:
                continue  # named by the query, never registered: no events
            for entry in document["@context"][1:]:
                for prefix, iri in entry.items():
                    prefixes.setdefault(prefix, iri)
            for event in document["epcisBody"]["eventList"]:
                moment = _time(event["eventTime"])
                if _matches(event, moment, query, since, before):
                    matched.append((moment, len(matched), event))
    matched.sort(key=lambda entry: (entry[0], entry[1]))
    page = [event for _, _, event in matched[offset : offset + limit]]
    body = {
        "@context": [EPCIS_CONTEXT, prefixes] if prefixes else [EPCIS_CONTEXT],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": epcis_time(created_at or datetime.now(UTC)),
        "veritag:chainId": registry.chain_id,
        "veritag:registry": registry.address,
        "epcisBody": {
            "queryResults": {
                "queryName": "SimpleEventQuery",
                IGNORE_FIELDS: list(CHAIN_FIELDS),
                "resultsBody": {"eventList": page},
            }
        },
    }
    return QueryResult(body=body, more=len(matched) > offset + limit)


def _items(
    query: EventQuery, store: Store | None, since: datetime | None, before: datetime | None
) -> list[tuple[str, str]]:
    if query.epcs:
        if len(query.epcs) > MAX_ITEMS:
            raise InvalidRecord("query", f"MATCH_epc names more than {MAX_ITEMS} items")
        return [_item(epc) for epc in dict.fromkeys(query.epcs)]
    if since is None and before is None:
        raise InvalidRecord(
            "query", "name items (MATCH_epc) or a time window (GE_eventTime, LT_eventTime)"
        )
    if store is None:
        raise InvalidRecord("query", "without a store, only MATCH_epc queries can be answered")
    conditions = []
    if since is not None:
        conditions.append(col(CustodyEvent.timestamp) >= int(since.timestamp()))
    if before is not None:
        conditions.append(col(CustodyEvent.timestamp) < int(before.timestamp()) + 1)
    with session(store.engine) as db:
        rows = db.exec(
            select(ItemCode.gtin, ItemCode.serial)
            .join(CustodyEvent, col(CustodyEvent.item_id) == col(ItemCode.item_id))
            .where(*conditions)
            .group_by(col(ItemCode.gtin), col(ItemCode.serial))
            .order_by(func.min(CustodyEvent.timestamp), col(ItemCode.gtin), col(ItemCode.serial))
            .limit(MAX_ITEMS)
        ).all()
    return [(gtin, serial) for gtin, serial in rows]


def _item(epc: str) -> tuple[str, str]:
    try:
        gtin, serial = epc_item(
            epc, missing="MATCH_epc names individual items (a GTIN with a serial)"
        )
    except IdentifierError as error:
        raise InvalidRecord("query", f"MATCH_epc {epc!r}: {error}") from None
    return gtin, serial


def _matches(
    event: dict[str, Any],
    moment: datetime,
    query: EventQuery,
    since: datetime | None,
    before: datetime | None,
) -> bool:
    if since is not None and moment < since:
        return False
    if before is not None and moment >= before:
        return False
    if query.biz_steps and cbv_term(event.get("bizStep"), "BizStep") not in {
        cbv_term(step, "BizStep") for step in query.biz_steps
    }:
        return False
    return not query.dispositions or cbv_term(event.get("disposition"), "Disp") in {
        cbv_term(disposition, "Disp") for disposition in query.dispositions
    }


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
