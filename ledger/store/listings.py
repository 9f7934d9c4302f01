"""What a listing check reads and writes, in bulk: one query per kind of fact for a whole batch.

Reads come from the index (items as derived from the chain, at the indexer's last block) and
from the store's own marketplace tables; writes (the listings and their sellers' counts)
happen in one transaction, so a batch is recorded whole or not at all.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from eth_utils.address import to_checksum_address as _to_checksum_address
from sqlalchemy import Engine, func, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from ledger.alerts.publish import AlertSpec, publish_in
from ledger.contract_errors import Status
from ledger.errors import NotFound
from ledger.identifiers import parse_item_id
from ledger.registry import Flag, ItemState
from ledger.store.database import session
from ledger.store.market_models import Listing, Seller, SellerAddress
from ledger.store.models import BrandPrefix, CustodyEvent, IndexerCheckpoint, Item

__all__ = [
    "IndexedItem",
    "ListingRow",
    "Listings",
    "LiveListing",
    "SellerRecord",
    "Takedowns",
]

_CHUNK = 500


@dataclass(frozen=True)
class IndexedItem:
    """An item as the index holds it, and every address its custody path went through."""

    state: ItemState
    path: frozenset[str]


@dataclass(frozen=True)
class LiveListing:
    marketplace_id: int
    listing_id: str
    seller_id: str
    addresses: frozenset[str]


@dataclass(frozen=True)
class SellerRecord:
    """A seller with its proven addresses and what its risk is scored from."""

    seller_id: str
    addresses: frozenset[str]
    listings_checked: int
    listings_blocked: int
    never_held: int
    confirmed_reports: int
    listings_last_hour: int = 0
    listings_last_day: int = 0


@dataclass(frozen=True)
class ListingRow:
    """A listing as stored: its latest decision."""

    marketplace_id: int
    listing_id: str
    seller_id: str
    code: str
    gtin: str
    serial: str
    item_id: str
    brand_id: int | None
    decision: str
    verdict: str
    reasons: tuple[str, ...]
    block_number: int
    active: bool
    checks: int
    first_checked_at: datetime
    checked_at: datetime
    ended_at: datetime | None = None
    never_held: bool = field(default=False, compare=False)
    """Not stored: whether the seller never held the item, for the seller's counts."""


@dataclass(frozen=True)
class Takedowns:
    """Take-down metrics: listings checked (each listing once), by decision and by reason."""

    listings_checked: int
    allowed: int
    review: int
    blocked: int
    reasons: dict[str, int]
    """How many blocked or held-for-review listings gave each reason."""


@lru_cache(maxsize=65_536)
def to_checksum_address(address: str) -> str:
    """EIP-55 form; cached, since a batch names the same few custodians over and over."""
    return _to_checksum_address(address)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


class Listings:
    """Listings and the facts a check needs, in the store behind ``engine``."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.engine = engine
        self._clock = clock

    # ───────────── facts for a check ─────────────

    def index_block(self) -> int:
        """The last block the index holds (0 before the first sync)."""
        with session(self.engine) as db:
            block = db.exec(select(func.max(IndexerCheckpoint.last_indexed_block))).one()
        return int(block or 0)

    def prefixes(self) -> dict[str, int]:
        """Every GS1 company prefix with the brand it is assigned to."""
        with session(self.engine) as db:
            return {p.prefix: p.brand_id for p in db.exec(select(BrandPrefix))}

    def items(self, item_ids: Iterable[str]) -> dict[str, IndexedItem]:
        ids = sorted(set(item_ids))
        items: dict[str, IndexedItem] = {}
        with session(self.engine) as db:
            for chunk in _chunks(ids):
                paths: defaultdict[str, set[str]] = defaultdict(set)
                events = db.exec(
                    select(
                        CustodyEvent.item_id,
                        CustodyEvent.from_address,
                        CustodyEvent.to_address,
                        CustodyEvent.by_address,
                    ).where(col(CustodyEvent.item_id).in_(chunk))
                )
                for item_id, *addresses in events:
                    paths[item_id].update(a for a in addresses if a)
                rows: Iterable[Any] = db.execute(
                    sa_select(*_ITEM_COLUMNS).where(col(Item.item_id).in_(chunk))
                )
                for row in rows:
                    paths[row.item_id].update({row.operator, row.custodian})
                    items[row.item_id] = IndexedItem(_state(row), frozenset(paths[row.item_id]))
        return items

    def live_listings(self, item_ids: Iterable[str]) -> dict[str, list[LiveListing]]:
        """Active listings of these items, in every marketplace, with their sellers' addresses."""
        ids = sorted(set(item_ids))
        rows: list[tuple[str, int, str, str]] = []
        with session(self.engine) as db:
            for chunk in _chunks(ids):
                rows.extend(
                    db.exec(
                        select(
                            Listing.item_id,
                            Listing.marketplace_id,
                            Listing.listing_id,
                            Listing.seller_id,
                        ).where(col(Listing.item_id).in_(chunk), col(Listing.active).is_(True))
                    )
                )
            addresses = _addresses(db, {(m, s) for _, m, _, s in rows})
        live: defaultdict[str, list[LiveListing]] = defaultdict(list)
        for item_id, marketplace_id, listing_id, seller_id in rows:
            owned = addresses.get((marketplace_id, seller_id), frozenset())
            live[item_id].append(LiveListing(marketplace_id, listing_id, seller_id, owned))
        return dict(live)

    def sellers(self, marketplace_id: int, seller_ids: Iterable[str]) -> dict[str, SellerRecord]:
        """The marketplace's sellers among ``seller_ids`` (unknown ones are absent)."""
        ids = sorted(set(seller_ids))
        now = self._clock()
        records: dict[str, SellerRecord] = {}
        with session(self.engine) as db:
            for chunk in _chunks(ids):
                rows = list(
                    db.exec(
                        select(Seller).where(
                            Seller.marketplace_id == marketplace_id,
                            col(Seller.seller_id).in_(chunk),
                        )
                    )
                )
                addresses = _addresses(db, {(marketplace_id, r.seller_id) for r in rows})
                hour = _recent(db, marketplace_id, chunk, now - timedelta(hours=1))
                day = _recent(db, marketplace_id, chunk, now - timedelta(days=1))
                for row in rows:
                    records[row.seller_id] = SellerRecord(
                        row.seller_id,
                        addresses.get((marketplace_id, row.seller_id), frozenset()),
                        row.listings_checked,
                        row.listings_blocked,
                        row.never_held,
                        row.confirmed_reports,
                        hour.get(row.seller_id, 0),
                        day.get(row.seller_id, 0),
                    )
        return records

    def existing(self, marketplace_id: int, listing_ids: Iterable[str]) -> dict[str, ListingRow]:
        ids = sorted(set(listing_ids))
        found: dict[str, ListingRow] = {}
        with session(self.engine) as db:
            for chunk in _chunks(ids):
                for row in db.exec(
                    select(Listing).where(
                        Listing.marketplace_id == marketplace_id,
                        col(Listing.listing_id).in_(chunk),
                    )
                ):
                    found[row.listing_id] = _row(row)
        return found

    # ───────────── writes ─────────────

    def save(
        self,
        rows: Sequence[ListingRow],
        *,
        new_listing_ids: set[str],
        alerts: Sequence[AlertSpec] = (),
    ) -> None:
        """Store a checked batch in one transaction: listings inserted or updated, each
        seller's counts raised for the listings checked for the first time, and ``alerts``
        queued for delivery."""
        if not rows:
            return
        counts: defaultdict[tuple[int, str], Counter[str]] = defaultdict(Counter)
        with session(self.engine) as db:
            inserts, updates = [], []
            for row in rows:
                values = _values(row)
                if row.listing_id in new_listing_ids:
                    inserts.append(values)
                    tally = counts[(row.marketplace_id, row.seller_id)]
                    tally["checked"] += 1
                    tally["blocked"] += row.decision == "block"
                    tally["never_held"] += row.never_held
                else:
                    updates.append(values)
            if inserts:
                db.execute(Listing.__table__.insert(), inserts)  # type: ignore[attr-defined]
            for values in updates:
                db.execute(
                    update(Listing)
                    .where(
                        col(Listing.marketplace_id) == values["marketplace_id"],
                        col(Listing.listing_id) == values["listing_id"],
                    )
                    .values(**values)
                )
            for (marketplace_id, seller_id), tally in counts.items():
                db.execute(
                    update(Seller)
                    .where(
                        col(Seller.marketplace_id) == marketplace_id,
                        col(Seller.seller_id) == seller_id,
                    )
                    .values(
                        listings_checked=col(Seller.listings_checked) + tally["checked"],
                        listings_blocked=col(Seller.listings_blocked) + tally["blocked"],
                        never_held=col(Seller.never_held) + tally["never_held"],
                    )
                )
            if alerts:
                publish_in(db, alerts, now=self._clock())

    def end(self, marketplace_id: int, listing_id: str) -> ListingRow:
        """End a listing (sold, withdrawn): it no longer counts as live. Ending twice is fine."""
        with session(self.engine) as db:
            row = db.get(Listing, (marketplace_id, listing_id))
            if row is None:
                raise NotFound("listing", listing_id)
            if row.active or row.ended_at is None:
                row.active = False
                row.ended_at = row.ended_at or self._clock()
                db.add(row)
            return _row(row)

    def get(self, marketplace_id: int, listing_id: str) -> ListingRow:
        with session(self.engine) as db:
            row = db.get(Listing, (marketplace_id, listing_id))
        if row is None:
            raise NotFound("listing", listing_id)
        return _row(row)

    # ───────────── metrics ─────────────

    def takedowns(
        self,
        *,
        marketplace_id: int | None = None,
        brand_id: int | None = None,
        since: datetime | None = None,
    ) -> Takedowns:
        """Counts over the listings of one marketplace or of one brand's items (or both)."""
        query = select(Listing.decision, Listing.reasons)
        if marketplace_id is not None:
            query = query.where(Listing.marketplace_id == marketplace_id)
        if brand_id is not None:
            query = query.where(Listing.brand_id == brand_id)
        if since is not None:
            query = query.where(col(Listing.first_checked_at) >= since)
        decisions: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        with session(self.engine) as db:
            for decision, codes in db.exec(query):
                decisions[decision] += 1
                if decision != "allow" and codes:
                    reasons.update(codes.split(","))
        return Takedowns(
            listings_checked=sum(decisions.values()),
            allowed=decisions["allow"],
            review=decisions["review"],
            blocked=decisions["block"],
            reasons=dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        )


def _addresses(db: Session, sellers: set[tuple[int, str]]) -> dict[tuple[int, str], frozenset[str]]:
    if not sellers:
        return {}
    found: defaultdict[tuple[int, str], set[str]] = defaultdict(set)
    by_marketplace: defaultdict[int, list[str]] = defaultdict(list)
    for marketplace_id, seller_id in sellers:
        by_marketplace[marketplace_id].append(seller_id)
    for marketplace_id, seller_ids in by_marketplace.items():
        for chunk in _chunks(sorted(seller_ids)):
            for seller_id, address in db.exec(
                select(SellerAddress.seller_id, SellerAddress.address).where(
                    SellerAddress.marketplace_id == marketplace_id,
                    col(SellerAddress.seller_id).in_(chunk),
                )
            ):
                found[(marketplace_id, seller_id)].add(to_checksum_address(address))
    return {key: frozenset(value) for key, value in found.items()}


def _recent(
    db: Session, marketplace_id: int, seller_ids: Sequence[str], since: datetime
) -> dict[str, int]:
    rows = db.exec(
        select(Listing.seller_id, func.count())
        .where(
            Listing.marketplace_id == marketplace_id,
            col(Listing.seller_id).in_(seller_ids),
            col(Listing.first_checked_at) >= since,
        )
        .group_by(col(Listing.seller_id))
    )
    return {seller_id: int(count) for seller_id, count in rows}


_ITEM_COLUMNS = (
    col(Item.item_id),
    col(Item.custodian),
    col(Item.status),
    col(Item.flags),
    col(Item.seq),
    col(Item.registered_at),
    col(Item.brand_id),
    col(Item.operator),
    col(Item.consignee),
    col(Item.registered_while_suspended),
)
"""Read as plain rows: building ORM objects costs more than the rest of a check."""


def _state(row: Any) -> ItemState:
    return ItemState(
        item_id=parse_item_id(row.item_id),
        custodian=to_checksum_address(row.custodian),  # type: ignore[arg-type]
        status=Status[row.status.upper()],
        flags=Flag(row.flags),
        seq=row.seq,
        registered_at=row.registered_at,
        brand_id=row.brand_id,
        operator=to_checksum_address(row.operator),  # type: ignore[arg-type]
        consignee=to_checksum_address(row.consignee) if row.consignee else None,  # type: ignore[arg-type]
        claimable=False,  # not indexed; no listing rule depends on it
        registered_while_suspended=row.registered_while_suspended,
    )


def _values(row: ListingRow) -> dict[str, object]:
    return {
        "marketplace_id": row.marketplace_id,
        "listing_id": row.listing_id,
        "seller_id": row.seller_id,
        "code": row.code,
        "gtin": row.gtin,
        "serial": row.serial,
        "item_id": row.item_id,
        "brand_id": row.brand_id,
        "decision": row.decision,
        "verdict": row.verdict,
        "reasons": ",".join(row.reasons),
        "block_number": row.block_number,
        "active": row.active,
        "checks": row.checks,
        "first_checked_at": row.first_checked_at,
        "checked_at": row.checked_at,
        "ended_at": row.ended_at,
    }


def _row(row: Listing) -> ListingRow:
    return ListingRow(
        marketplace_id=row.marketplace_id,
        listing_id=row.listing_id,
        seller_id=row.seller_id,
        code=row.code,
        gtin=row.gtin,
        serial=row.serial,
        item_id=row.item_id,
        brand_id=row.brand_id,
        decision=row.decision,
        verdict=row.verdict,
        reasons=tuple(row.reasons.split(",")) if row.reasons else (),
        block_number=row.block_number,
        active=row.active,
        checks=row.checks,
        first_checked_at=_aware(row.first_checked_at),
        checked_at=_aware(row.checked_at),
        ended_at=_aware(row.ended_at) if row.ended_at else None,
    )
