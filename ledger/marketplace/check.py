"""Check a batch of up to 1,000 marketplace listings: a signed decision for each.

Each listing is answered on its own: a malformed code, an unknown seller or a listing id
reused for another item gets a problem (a 4xx status with a sentence) and the rest of the
batch is still decided. Facts are read in bulk from the index (item state and custody path
at the indexer's last block, which every decision names and signs), the seller's proven
addresses and counts, other live listings of the same items, and clone signals from scans.
The whole batch is stored in one transaction. Listings in one batch are decided in order,
so a second listing of an item in the same batch sees the first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy import Engine

from ledger.alerts.publish import AlertKind, AlertSpec
from ledger.detect.seller_risk import SellerStats, seller_risk
from ledger.errors import Conflict, IdentifierError, InvalidDigitalLink, NotFound, VeritagError
from ledger.identifiers import (
    gs1_company_prefix_candidates,
    item_id,
    validate_gtin,
    validate_serial,
)
from ledger.identifiers.item_link import gtin_and_serial
from ledger.marketplace.decision import Decision, ListingFacts, decide
from ledger.marketplace.signing import DecisionSigner, SignedFields
from ledger.registry import ItemState
from ledger.store.listings import IndexedItem, ListingRow, Listings, LiveListing, SellerRecord
from ledger.store.signals import SignalStore, signal_reasons
from ledger.verify import Reason, VerdictKind, judge

__all__ = [
    "MAX_LISTINGS",
    "CheckOutcome",
    "CheckedListing",
    "IndexVerdict",
    "ListingChecker",
    "ListingIn",
    "ListingProblem",
]

MAX_LISTINGS = 1_000
"""Most listings one check may carry."""


@dataclass(frozen=True)
class ListingIn:
    """One listing as the marketplace sends it: a Digital Link, or a GTIN and a serial."""

    listing_id: str
    seller_id: str
    code: str | None = None
    gtin: str | None = None
    serial: str | None = None


@dataclass(frozen=True)
class ListingProblem:
    """Why one listing could not be decided (RFC 9457 fields)."""

    status: int
    title: str
    detail: str


@dataclass(frozen=True)
class IndexVerdict:
    """The item's verdict as read from the index at ``block``."""

    verdict: VerdictKind
    reasons: tuple[Reason, ...]
    gtin: str
    serial: str
    item_id: str
    brand_id: int | None
    state: ItemState | None
    block: int


@dataclass(frozen=True)
class CheckedListing:
    listing_id: str
    seller_id: str
    decision: Decision | None = None
    reasons: tuple[Reason, ...] = ()
    verdict: IndexVerdict | None = None
    signature: str | None = None
    problem: ListingProblem | None = None

    @property
    def status(self) -> int:
        return self.problem.status if self.problem else 200


@dataclass(frozen=True)
class CheckOutcome:
    block: int
    checked_at: datetime
    signer: str
    results: list[CheckedListing]
    blocked: list[CheckedListing] = field(default_factory=list)
    """The listings blocked by this check (for alerts)."""


@dataclass(frozen=True)
class _Code:
    gtin: str
    serial: str
    key: str
    """The item id, ``0x`` + 64 hex."""
    text: str
    """The code as the marketplace gave it."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ListingChecker:
    """Decides and records listing checks against the store behind ``engine``."""

    def __init__(
        self,
        engine: Engine,
        signer: DecisionSigner,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.signer = signer
        self.listings = Listings(engine, clock=clock)
        self.signals = SignalStore(engine)
        self._clock = clock

    def check(self, marketplace_id: int, batch: Sequence[ListingIn]) -> CheckOutcome:
        if len(batch) > MAX_LISTINGS:
            raise Conflict(
                "listing check", f"{len(batch)} listings sent; at most {MAX_LISTINGS} per request"
            )
        now = self._clock()
        block = self.listings.index_block()
        codes = [_code(listing) for listing in batch]
        item_ids = [c.key for c in codes if isinstance(c, _Code)]
        batch_view = _BatchView(
            prefixes=self.listings.prefixes(),
            items=self.listings.items(item_ids),
            live=self.listings.live_listings(item_ids),
            sellers=self.listings.sellers(marketplace_id, {x.seller_id for x in batch}),
            existing=self.listings.existing(marketplace_id, {x.listing_id for x in batch}),
            signals={
                key: signal_reasons(signals)
                for key, signals in self.signals.signals_for(item_ids).items()
            },
        )
        results: list[CheckedListing] = []
        saved: dict[str, ListingRow] = {}
        new_ids: set[str] = set()
        for listing, code in zip(batch, codes, strict=True):
            try:
                if isinstance(code, VeritagError):
                    raise code
                checked, row = self._decide(
                    marketplace_id, listing, code, batch_view, block=block, now=now
                )
            except (IdentifierError, NotFound, Conflict) as error:
                results.append(_problem(listing, error))
                continue
            results.append(checked)
            if listing.listing_id not in batch_view.existing and listing.listing_id not in saved:
                new_ids.add(listing.listing_id)
            saved[listing.listing_id] = row
            batch_view.remember(row)
        blocked = [r for r in results if r.decision is Decision.BLOCK]
        self.listings.save(
            list(saved.values()),
            new_listing_ids=new_ids,
            alerts=[_blocked_alert(marketplace_id, r, saved[r.listing_id]) for r in blocked],
        )
        return CheckOutcome(block, now, self.signer.address, results, blocked)

    def _decide(
        self,
        marketplace_id: int,
        listing: ListingIn,
        code: _Code,
        view: _BatchView,
        *,
        block: int,
        now: datetime,
    ) -> tuple[CheckedListing, ListingRow]:
        key = code.key
        seller = view.sellers.get(listing.seller_id)
        if seller is None:
            raise NotFound("seller", listing.seller_id)
        if not seller.addresses:
            raise NotFound("ledger address linked to seller", listing.seller_id)
        previous = view.existing.get(listing.listing_id)
        if previous is not None and (
            previous.item_id != key or previous.seller_id != listing.seller_id
        ):
            raise Conflict(
                f"listing {listing.listing_id!r}",
                "it was checked for another item or seller; end it (DELETE) before reusing its id",
            )
        indexed = view.items.get(key)
        verdict = _verdict(code, indexed, view.prefixes, block)
        live = [
            x
            for x in view.live.get(key, [])
            if not (x.marketplace_id == marketplace_id and x.listing_id == listing.listing_id)
        ]
        risk = seller_risk(
            SellerStats(
                listings_checked=seller.listings_checked,
                listings_blocked=seller.listings_blocked,
                never_held=seller.never_held,
                confirmed_reports=seller.confirmed_reports,
                listings_last_hour=seller.listings_last_hour,
                listings_last_day=seller.listings_last_day,
            )
        )
        decision, reasons = decide(
            ListingFacts(
                verdict=verdict.verdict,
                verdict_reasons=verdict.reasons,
                state=verdict.state,
                seller_addresses=seller.addresses,
                duplicate_of=_duplicate(live, marketplace_id, listing.seller_id),
                other_sellers=_other_sellers(live, marketplace_id, seller),
                signals=view.signals.get(key, []),
                seller_risk=(
                    Reason("seller_risk", f"seller risk is {risk.level} ({risk.score:.0f}/100)")
                    if risk.risky
                    else None
                ),
            )
        )
        codes = tuple(r.code for r in reasons)
        signature = self.signer.sign(
            SignedFields(
                marketplace=marketplace_id,
                listing_id=listing.listing_id,
                seller_id=listing.seller_id,
                item_id=bytes.fromhex(key[2:]),
                decision=decision.code,
                reason_codes=codes,
                at_block=block,
                checked_at=int(now.timestamp()),
            )
        )
        row = ListingRow(
            marketplace_id=marketplace_id,
            listing_id=listing.listing_id,
            seller_id=listing.seller_id,
            code=code.text,
            gtin=code.gtin,
            serial=code.serial,
            item_id=key,
            brand_id=verdict.brand_id,
            decision=decision.value,
            verdict=verdict.verdict.value,
            reasons=codes,
            block_number=block,
            active=decision is not Decision.BLOCK,
            checks=previous.checks + 1 if previous else 1,
            first_checked_at=previous.first_checked_at if previous else now,
            checked_at=now,
            never_held=indexed is not None and not (indexed.path & seller.addresses),
        )
        checked = CheckedListing(
            listing.listing_id, listing.seller_id, decision, tuple(reasons), verdict, signature
        )
        return checked, row


@dataclass
class _BatchView:
    """The facts of one batch, updated as its listings are decided in order."""

    prefixes: dict[str, int]
    items: dict[str, IndexedItem]
    live: dict[str, list[LiveListing]]
    sellers: dict[str, SellerRecord]
    existing: dict[str, ListingRow]
    signals: dict[str, list[Reason]]

    def remember(self, row: ListingRow) -> None:
        others = [
            x
            for x in self.live.get(row.item_id, [])
            if not (x.marketplace_id == row.marketplace_id and x.listing_id == row.listing_id)
        ]
        if row.active:
            seller = self.sellers[row.seller_id]
            others.append(
                LiveListing(row.marketplace_id, row.listing_id, row.seller_id, seller.addresses)
            )
        self.live[row.item_id] = others
        self.existing[row.listing_id] = replace(row, never_held=False)


def _code(listing: ListingIn) -> _Code | VeritagError:
    """The listing's code, or the error that explains what is wrong with it."""
    try:
        if listing.code is not None:
            if listing.gtin is not None or listing.serial is not None:
                return InvalidDigitalLink(
                    listing.code, "give either a code or a GTIN and a serial, not both"
                )
            gtin, serial = gtin_and_serial(listing.code)
            text = listing.code
        else:
            if listing.gtin is None or listing.serial is None:
                return InvalidDigitalLink("", "a listing needs a code, or a GTIN and a serial")
            gtin, serial = validate_gtin(listing.gtin), validate_serial(listing.serial)
            text = f"(01){gtin}(21){serial}"
        return _Code(gtin, serial, item_id(gtin, serial).hex(), text)
    except IdentifierError as error:
        return error


def _verdict(
    code: _Code, indexed: IndexedItem | None, prefixes: dict[str, int], block: int
) -> IndexVerdict:
    gtin = code.gtin
    prefix_owner = next(
        (prefixes[p] for p in gs1_company_prefix_candidates(gtin) if p in prefixes), None
    )
    state = indexed.state if indexed else None
    kind, reasons = judge(state, prefix_owner, gtin, state.seq if state else 0)
    brand_id = state.brand_id if state else prefix_owner
    return IndexVerdict(kind, tuple(reasons), gtin, code.serial, code.key, brand_id, state, block)


def _duplicate(live: list[LiveListing], marketplace_id: int, seller_id: str) -> str | None:
    return next(
        (
            x.listing_id
            for x in live
            if x.marketplace_id == marketplace_id and x.seller_id == seller_id
        ),
        None,
    )


def _other_sellers(live: list[LiveListing], marketplace_id: int, seller: SellerRecord) -> int:
    """Live listings by sellers that share none of this seller's addresses."""
    return sum(
        1
        for x in live
        if (x.marketplace_id, x.seller_id) != (marketplace_id, seller.seller_id)
        and not x.addresses & seller.addresses
    )


def _blocked_alert(marketplace_id: int, result: CheckedListing, row: ListingRow) -> AlertSpec:
    """To the item's brand and the marketplace; once per listing and item, however often
    it is rechecked (the alert id repeats, and a repeated id is not queued again)."""
    alert_key = f"listing_blocked/{marketplace_id}/{row.listing_id}/{row.item_id}"
    return AlertSpec(
        AlertKind.LISTING_BLOCKED,
        {
            "marketplace_id": marketplace_id,
            "listing_id": row.listing_id,
            "seller_id": row.seller_id,
            "item_id": row.item_id,
            "gtin": row.gtin,
            "serial": row.serial,
            "verdict": row.verdict,
            "reasons": [{"code": r.code, "message": r.message} for r in result.reasons],
            "block": row.block_number,
        },
        brand_id=row.brand_id,
        org_ids=(marketplace_id,),
        alert_id=hashlib.sha256(alert_key.encode()).hexdigest()[:32],
    )


def _problem(listing: ListingIn, error: VeritagError) -> CheckedListing:
    status = 422 if isinstance(error, IdentifierError) else error.status
    return CheckedListing(
        listing.listing_id,
        listing.seller_id,
        problem=ListingProblem(status, type(error).__name__, str(error)),
    )
