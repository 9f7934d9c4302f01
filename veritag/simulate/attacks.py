"""Who lists what on the marketplace, with the ground truth of every listing.

Honest sellers (shops, and consumers reselling what they own) list items they hold on
chain. Counterfeiters, grey-market sellers and two rogue shops mix every attack of
:class:`Kind`. The plan is one ordered list of listings: genuine and fake interleaved at
random, except that a seller's second listing of one code comes in a later batch than its
first, because the duplicate only exists once the first is live.
"""

from __future__ import annotations

import enum
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount

from ledger.identifiers import build_digital_link
from veritag.simulate.market import (
    City,
    Fate,
    Market,
    Party,
    PartyRole,
    SimItem,
    seeded_account,
    serial_of,
)

__all__ = [
    "COUNTERFEIT_KINDS",
    "Kind",
    "ListingPlan",
    "Mix",
    "PlannedListing",
    "Seller",
    "plan_listings",
]

LABEL_BASE_URL = "https://id.veritag.example"
"""The resolver printed on every simulated label."""


class Kind(enum.StrEnum):
    """The ground truth of a listing: genuine, or the attack it is."""

    GENUINE = "genuine"
    FABRICATED = "fabricated"
    """Serials no factory registered, printed under a real brand's GTIN."""
    CLONED = "cloned"
    """One genuine code copied onto many fakes, listed by several counterfeiters."""
    LIFTED_SOLD = "lifted_sold"
    """A code taken from the packaging of an item sold at retail."""
    LIFTED_CLAIMED = "lifted_claimed"
    """A code taken from an item a consumer owns (claimed, or bought second-hand)."""
    RECALLED = "recalled"
    STOLEN = "stolen"
    DESTROYED = "destroyed"
    GREY_MARKET = "grey_market"
    """A genuine item diverted from a distributor, listed by a seller it never went to."""
    DOUBLE_LISTING = "double_listing"
    """A holder listing its one genuine item a second time; the second listing is the fake."""
    INSIDER_FAKE = "insider_fake"
    """An authorised shop listing a fake under the code of a genuine item it still holds."""


COUNTERFEIT_KINDS = tuple(k for k in Kind if k not in (Kind.GENUINE, Kind.INSIDER_FAKE))
"""The attacks the headline block rate counts: each can be caught at first listing."""

COUNTERFEIT_CITIES = (
    City("Guangzhou", 23.13, 113.26, "CN"),
    City("Istanbul", 41.01, 28.98, "TR"),
    City("Lagos", 6.52, 3.38, "NG"),
    City("Bangkok", 13.76, 100.50, "TH"),
    City("Mexico City", 19.43, -99.13, "MX"),
    City("Dubai", 25.20, 55.27, "AE"),
)


@dataclass(frozen=True)
class Mix:
    """How much of each attack, relative to the market's size."""

    genuine_shop_share: float = 0.6
    """Share of in-shop items their shop lists."""
    genuine_owner_share: float = 0.5
    """Share of consumer-owned items their owner lists for resale."""
    counterfeiters: int = 10
    unlinked_counterfeiter_share: float = 0.0
    """Counterfeiters that never proved a ledger address."""
    grey_sellers: int = 4
    fabricated_per_item: float = 0.04
    clone_sources_per_item: float = 0.005
    copies_per_clone: int = 8
    lifted_claimed_share: float = 0.8
    stolen_listings_each: int = 2
    destroyed_listings_each: int = 2
    grey_market_share: float = 0.8
    double_listing_share: float = 0.02
    """Share of genuine shop listings whose seller lists the same code again."""
    rogue_shops: int = 2
    insider_fakes_per_item: float = 0.01


@dataclass(frozen=True)
class Seller:
    """A marketplace seller account and the ledger address it proved, if any."""

    seller_id: str
    city: City
    account: LocalAccount | None
    honest: bool


@dataclass
class PlannedListing:
    listing_id: str
    seller: Seller
    gtin: str
    serial: str
    kind: Kind
    item: SimItem | None
    """The genuine item whose code the listing carries; None for a fabricated code."""
    original: PlannedListing | None = None
    """For a double listing: the seller's first listing of the same code."""

    @property
    def code(self) -> str:
        return build_digital_link(self.gtin, self.serial, LABEL_BASE_URL)


@dataclass
class ListingPlan:
    sellers: list[Seller]
    waves: list[list[PlannedListing]]
    batch_size: int
    rogue_shops: list[Seller] = field(default_factory=list)

    @property
    def listings(self) -> list[PlannedListing]:
        return [listing for wave in self.waves for listing in wave]

    def batches(self) -> list[list[PlannedListing]]:
        """The check requests, in order: each wave in batches of at most ``batch_size``."""
        return [
            wave[start : start + self.batch_size]
            for wave in self.waves
            for start in range(0, len(wave), self.batch_size)
        ]

    def count(self, kind: Kind) -> int:
        return sum(1 for listing in self.listings if listing.kind is kind)


def plan_listings(market: Market, rng: random.Random, mix: Mix, *, batch_size: int) -> ListingPlan:
    """Every listing of the simulated day, in the order the marketplace receives them."""
    planner = _Planner(market, rng, mix)
    listings = planner.genuine() + planner.attacks()
    rng.shuffle(listings)
    waves = _waves(listings, planner.doubles, rng)
    for number, listing in enumerate((x for wave in waves for x in wave), start=1):
        listing.listing_id = f"lst-{number:06d}"
    return ListingPlan(planner.sellers(), waves, batch_size, planner.rogue)


class _Planner:
    def __init__(self, market: Market, rng: random.Random, mix: Mix) -> None:
        self.market, self.rng, self.mix = market, rng, mix
        seed = market.params.seed
        self.shops = {
            r.address: Seller(f"shop-{_slug(r.city.name)}", r.city, r.account, True)
            for r in market.retailers
        }
        self.rogue = [self.shops[r.address] for r in market.retailers[: mix.rogue_shops]]
        self.owners: dict[str, Seller] = {}
        self.counterfeiters = [
            Seller(
                f"cf-{n:02d}",
                COUNTERFEIT_CITIES[n % len(COUNTERFEIT_CITIES)],
                None
                if n < round(mix.counterfeiters * mix.unlinked_counterfeiter_share)
                else seeded_account(seed, f"counterfeiter-{n}"),
                False,
            )
            for n in range(mix.counterfeiters)
        ]
        self.grey = [
            Seller(
                f"grey-{n:02d}",
                COUNTERFEIT_CITIES[(n + 3) % len(COUNTERFEIT_CITIES)],
                seeded_account(seed, f"grey-{n}"),
                False,
            )
            for n in range(mix.grey_sellers)
        ]
        # Items an honest seller lists or a rogue shop fakes; attacks pick their codes apart.
        self.reserved: set[int] = set()

    def sellers(self) -> list[Seller]:
        return [*self.shops.values(), *self.owners.values(), *self.counterfeiters, *self.grey]

    def _owner(self, party: Party) -> Seller:
        if party.address not in self.owners:
            self.owners[party.address] = Seller(
                f"user-{party.name.removeprefix('consumer-')}", party.city, party.account, True
            )
        return self.owners[party.address]

    def _listing(self, seller: Seller, item: SimItem, kind: Kind) -> PlannedListing:
        return PlannedListing("", seller, item.gtin, item.serial, kind, item)

    def _share(self, items: list[SimItem], share: float) -> list[SimItem]:
        return self.rng.sample(items, round(len(items) * share))

    def genuine(self) -> list[PlannedListing]:
        in_shop = self.market.by_fate(Fate.IN_SHOP)
        rogue_addresses = {s.account.address for s in self.rogue if s.account is not None}
        rogue_items = [i for i in in_shop if i.holder.address in rogue_addresses]
        fakes = min(
            len(rogue_items),
            max(1, round(len(self.market.items) * self.mix.insider_fakes_per_item)),
        )
        self.insider_items = self.rng.sample(rogue_items, fakes)
        self.reserved.update(id(i) for i in self.insider_items)
        shop_items = [i for i in in_shop if id(i) not in self.reserved]
        listings = [
            self._listing(self.shops[i.holder.address], i, Kind.GENUINE)
            for i in self._share(shop_items, self.mix.genuine_shop_share)
        ]
        owned = self.market.by_fate(Fate.CLAIMED) + self.market.by_fate(Fate.RESOLD)
        listings += [
            self._listing(self._owner(i.holder), i, Kind.GENUINE)
            for i in self._share(owned, self.mix.genuine_owner_share)
        ]
        self.reserved.update(id(listing.item) for listing in listings)
        return listings

    def doubles(self, listings: list[PlannedListing]) -> list[PlannedListing]:
        by_shops = [
            listing
            for listing in listings
            if listing.kind is Kind.GENUINE
            and listing.item is not None
            and listing.item.holder.role is PartyRole.RETAILER
        ]
        chosen = self.rng.sample(
            by_shops, max(1, round(len(by_shops) * self.mix.double_listing_share))
        )
        return [
            PlannedListing(
                "", first.seller, first.gtin, first.serial, Kind.DOUBLE_LISTING, first.item, first
            )
            for first in chosen
        ]

    def attacks(self) -> list[PlannedListing]:
        market, mix, rng = self.market, self.mix, self.rng
        fakes: list[PlannedListing] = []

        def by_counterfeiter(item: SimItem, kind: Kind, times: int = 1) -> None:
            for _ in range(times):
                fakes.append(self._listing(rng.choice(self.counterfeiters), item, kind))

        total = len(market.items)
        for _ in range(max(1, round(total * mix.fabricated_per_item))):
            brand = rng.randrange(len(market.brands))
            number = rng.randrange(
                market.params.items_per_brand + 1, 10 * market.params.items_per_brand
            )
            gtin = rng.choice(market.brands[brand].gtins)
            serial = serial_of(brand, number)
            fakes.append(
                PlannedListing(
                    "", rng.choice(self.counterfeiters), gtin, serial, Kind.FABRICATED, None
                )
            )
        # A counterfeiter buys one genuine item and copies its code onto a run of fakes.
        copyable = [i for i in market.by_fate(Fate.IN_SHOP) if id(i) not in self.reserved]
        copyable += market.by_fate(Fate.CLAIMED)
        sources = rng.sample(
            copyable, min(len(copyable), max(1, round(total * mix.clone_sources_per_item)))
        )
        for source in sources:
            gang = rng.sample(self.counterfeiters, min(4, len(self.counterfeiters)))
            for copy in range(mix.copies_per_clone):
                fakes.append(self._listing(gang[copy % len(gang)], source, Kind.CLONED))
        for item in market.by_fate(Fate.SOLD):
            by_counterfeiter(item, Kind.LIFTED_SOLD)
        owned = market.by_fate(Fate.CLAIMED) + market.by_fate(Fate.RESOLD)
        for item in self._share(owned, mix.lifted_claimed_share):
            by_counterfeiter(item, Kind.LIFTED_CLAIMED)
        for item in market.by_fate(Fate.RECALLED):
            by_counterfeiter(item, Kind.RECALLED)
        for item in market.by_fate(Fate.STOLEN):
            by_counterfeiter(item, Kind.STOLEN, mix.stolen_listings_each)
        for item in market.by_fate(Fate.DESTROYED):
            by_counterfeiter(item, Kind.DESTROYED, mix.destroyed_listings_each)
        for item in self._share(market.by_fate(Fate.AT_DISTRIBUTOR), mix.grey_market_share):
            fakes.append(self._listing(rng.choice(self.grey), item, Kind.GREY_MARKET))
        for item in self.insider_items:
            fakes.append(self._listing(self.shops[item.holder.address], item, Kind.INSIDER_FAKE))
        return fakes


def _waves(
    listings: list[PlannedListing],
    make_doubles: Callable[[list[PlannedListing]], list[PlannedListing]],
    rng: random.Random,
    morning_share: float = 0.7,
) -> list[list[PlannedListing]]:
    """Morning and afternoon, each checked in its own batches. A seller's second listing of
    a code comes in the afternoon, of a code it first listed in the morning."""
    cut = round(len(listings) * morning_share)
    morning, afternoon = listings[:cut], listings[cut:]
    afternoon += make_doubles(morning)
    rng.shuffle(afternoon)
    return [morning, afternoon]


def _slug(name: str) -> str:
    """``São Paulo`` → ``sao-paulo``: marketplace ids are printable ASCII."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return plain.lower().replace(" ", "-")
