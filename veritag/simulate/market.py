"""The chain side of the simulated market: brands, parties, items and where each item ends up.

Everything goes through the ledger library on the in-process chain, with batch calls where
the contract has them (registration, hand-overs, recalls), so only the per-item events of a
consumer's life (retail sale, claim, resale, theft, destruction) cost a transaction each.
Every key comes from the seed, every choice from one ``random.Random``: the same seed
builds the same market, down to the addresses.
"""

from __future__ import annotations

import enum
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from ledger.chain import Chain, connect_memory
from ledger.claims import claim_key, sign_claim
from ledger.identifiers import ItemId, check_digit, item_id
from ledger.indexer import Indexer
from ledger.registry import Registry
from ledger.store.repository import Store

__all__ = [
    "BRANDS",
    "City",
    "Fate",
    "Market",
    "MarketParams",
    "Party",
    "PartyRole",
    "SimItem",
    "build_market",
    "seeded_account",
]

_FUNDING_WEI = 10 * 10**18
_CLAIM_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True)
class City:
    name: str
    latitude: float
    longitude: float
    country: str


def _city(name: str, latitude: float, longitude: float, country: str) -> City:
    return City(name, latitude, longitude, country)


@dataclass(frozen=True)
class BrandSpec:
    name: str
    prefix: str
    home: City


BRANDS = (
    BrandSpec("Acme Watches", "0614141", _city("Biel", 47.14, 7.25, "CH")),
    BrandSpec("Lumen Optics", "0950600", _city("Milan", 45.46, 9.19, "IT")),
    BrandSpec("Kestrel Outdoor", "7612345", _city("Portland", 45.52, -122.68, "US")),
    BrandSpec("Orchid Cosmetics", "4567890", _city("Seoul", 37.57, 126.98, "KR")),
    BrandSpec("Vanta Audio", "5412345", _city("Copenhagen", 55.68, 12.57, "DK")),
    BrandSpec("Halden Leather", "8712345", _city("Florence", 43.77, 11.26, "IT")),
)
"""The brands a simulation can admit, in order (``--brands`` takes the first N)."""

DISTRIBUTOR_CITIES = (
    _city("Rotterdam", 51.92, 4.48, "NL"),
    _city("Singapore", 1.35, 103.82, "SG"),
    _city("Chicago", 41.88, -87.63, "US"),
)
RETAIL_CITIES = (
    # (city, index of the distributor that serves it)
    (_city("Paris", 48.86, 2.35, "FR"), 0),
    (_city("London", 51.51, -0.13, "GB"), 0),
    (_city("Tokyo", 35.68, 139.69, "JP"), 1),
    (_city("Sydney", -33.87, 151.21, "AU"), 1),
    (_city("New York", 40.71, -74.01, "US"), 2),
    (_city("São Paulo", -23.55, -46.63, "BR"), 2),
)


class PartyRole(enum.StrEnum):
    BRAND_ADMIN = "brand_admin"
    FACTORY = "factory"
    DISTRIBUTOR = "distributor"
    RETAILER = "retailer"
    CONSUMER = "consumer"


@dataclass(frozen=True)
class Party:
    """Someone with a ledger address and a place; consumers live near their shop."""

    name: str
    role: PartyRole
    account: LocalAccount
    city: City
    latitude: float
    longitude: float

    @property
    def address(self) -> str:
        return self.account.address


class Fate(enum.StrEnum):
    """Where an item is when the market opens."""

    IN_SHOP = "in_shop"
    AT_DISTRIBUTOR = "at_distributor"
    SOLD = "sold"
    """Sold at retail, not (yet) claimed: the retailer is still its custodian."""
    CLAIMED = "claimed"
    RESOLD = "resold"
    """Claimed, then handed on chain to a second consumer."""
    RECALLED = "recalled"
    STOLEN = "stolen"
    DESTROYED = "destroyed"


@dataclass
class SimItem:
    gtin: str
    serial: str
    item_id: ItemId
    brand: int
    """Index into ``Market.brands`` (0-based), not the on-chain brand id."""
    claim_code: str
    distributor: Party
    retailer: Party
    fate: Fate = Fate.IN_SHOP
    holders: list[Party] = field(default_factory=list)
    """Every custodian the item had on chain, in order; the last holds it now."""

    @property
    def holder(self) -> Party:
        return self.holders[-1]


@dataclass(frozen=True)
class MarketParams:
    brands: int = 3
    items_per_brand: int = 1000
    seed: int = 7
    # Shares of each brand's items by fate; the rest stays in the shops.
    at_distributor: float = 0.08
    sold: float = 0.015
    claimed: float = 0.04
    resold_of_claimed: float = 0.3
    recalled: float = 0.02
    stolen: float = 0.008
    destroyed: float = 0.008


@dataclass
class BrandSetup:
    spec: BrandSpec
    brand_id: int
    admin: Party
    factory: Party
    gtins: tuple[str, ...]


@dataclass
class Market:
    chain: Chain
    registry: Registry
    store: Store
    params: MarketParams
    brands: list[BrandSetup]
    distributors: list[Party]
    retailers: list[Party]
    consumers: list[Party]
    items: list[SimItem]
    rng: random.Random
    transactions: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    _next_consumer: int = 0

    def by_fate(self, fate: Fate) -> list[SimItem]:
        return [i for i in self.items if i.fate is fate]

    def new_consumer(self, near: City, spread: float = 0.2) -> Party:
        """A consumer living within ``spread`` degrees of ``near``."""
        self._next_consumer += 1
        name = f"consumer-{self._next_consumer:05d}"
        party = Party(
            name,
            PartyRole.CONSUMER,
            seeded_account(self.params.seed, name),
            near,
            round(near.latitude + self.rng.uniform(-spread, spread), 4),
            round(near.longitude + self.rng.uniform(-spread, spread), 4),
        )
        self.consumers.append(party)
        return party

    def fund(self, parties: Sequence[Party]) -> None:
        for party in parties:
            self.chain.fund(party.address, _FUNDING_WEI)
            if self.chain.kind != "local":  # anvil sets the balance without a transaction
                self.transactions += 1

    def sell_and_claim(self, item: SimItem, buyer: Party) -> None:
        """The shop sells ``item`` and relays the buyer's claim (the buyer needs no gas)."""
        seller = item.holder.account
        self.registry.record_retail_sale(seller, item.item_id)
        signature = sign_claim(
            item.item_id,
            item.claim_code,
            buyer.address,
            chain_id=self.registry.chain_id,
            contract=self.registry.address,
        )
        self.registry.claim(seller, item.item_id, buyer.address, signature)
        item.holders.append(buyer)
        item.fate = Fate.CLAIMED
        self.transactions += 2

    def index(self) -> None:
        started = time.perf_counter()
        Indexer(self.registry, self.store.engine).sync()
        self.timings["index_seconds"] = self.timings.get("index_seconds", 0.0) + (
            time.perf_counter() - started
        )


def seeded_account(seed: int, name: str) -> LocalAccount:
    """The account named ``name`` in the simulation with ``seed`` (same seed, same key)."""
    account: LocalAccount = Account.from_key(keccak(text=f"veritag-simulate/{seed}/{name}"))
    return account


def build_market(
    params: MarketParams,
    store: Store,
    *,
    chain: Chain | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Market:
    """Deploy a registry on ``chain`` (default: a fresh in-process chain) and move every item
    to its fate. The chain's first dev account deploys and pays for the parties' gas."""
    if not 1 <= params.brands <= len(BRANDS):
        raise ValueError(f"brands must be 1 to {len(BRANDS)}, got {params.brands}")
    started = time.perf_counter()
    rng = random.Random(params.seed)  # noqa: S311 (reproducible on purpose; no secret here)
    chain = chain or connect_memory(accounts=1)
    admin = chain.dev_accounts[0]
    registry = Registry.deploy(chain.w3, admin)
    distributors = [
        _party(params.seed, f"distributor-{c.name}", PartyRole.DISTRIBUTOR, c)
        for c in DISTRIBUTOR_CITIES
    ]
    retailers = [
        _party(params.seed, f"retailer-{c.name}", PartyRole.RETAILER, c) for c, _ in RETAIL_CITIES
    ]
    market = Market(chain, registry, store, params, [], distributors, retailers, [], [], rng)
    market.transactions = 1
    market.fund([*distributors, *retailers])
    progress("admitting brands and naming their partners")
    for index, spec in enumerate(BRANDS[: params.brands]):
        market.brands.append(_admit(market, spec, index))
    progress(f"registering {params.brands * params.items_per_brand:,} items")
    for index in range(params.brands):
        market.items.extend(_register(market, index))
    progress("shipping through distributors to retailers")
    _distribute(market)
    progress("selling, claiming, reselling, recalling, stealing, destroying")
    _assign_fates(market)
    market.timings["chain_seconds"] = time.perf_counter() - started
    progress("indexing the chain into the store")
    market.index()
    return market


def _party(seed: int, name: str, role: PartyRole, city: City) -> Party:
    return Party(name, role, seeded_account(seed, name), city, city.latitude, city.longitude)


def _admit(market: Market, spec: BrandSpec, index: int) -> BrandSetup:
    seed, registry = market.params.seed, market.registry
    admin = _party(seed, f"brand-admin-{index}", PartyRole.BRAND_ADMIN, spec.home)
    factory = _party(seed, f"factory-{index}", PartyRole.FACTORY, spec.home)
    market.fund([admin, factory])
    brand_id = registry.admit_brand(
        market.chain.dev_accounts[0], admin.address, spec.name, [spec.prefix]
    )
    registry.add_operator(admin.account, brand_id, factory.address)
    market.transactions += 2
    # Only named partners may hold the brand's goods for sale; a grey-market seller is not one.
    for partner in [*market.distributors, *market.retailers]:
        registry.set_partner(admin.account, brand_id, partner.address)
        market.transactions += 1
    gtins = tuple(_gtin(spec.prefix, reference) for reference in (10001, 10002))
    return BrandSetup(spec, brand_id, admin, factory, gtins)


def _gtin(prefix: str, reference: int) -> str:
    payload = "0" + prefix + str(reference).zfill(12 - len(prefix))
    return payload + str(check_digit(payload))


def serial_of(brand: int, number: int) -> str:
    """The serial pattern every brand prints: a brand letter and a running number."""
    return f"{'ABCDEF'[brand]}{number:07d}"


def _register(market: Market, index: int) -> list[SimItem]:
    setup, rng, n = market.brands[index], market.rng, market.params.items_per_brand
    items = []
    for number in range(1, n + 1):
        gtin = setup.gtins[number % len(setup.gtins)]
        serial = serial_of(index, number)
        code = "".join(rng.choice(_CLAIM_ALPHABET) for _ in range(25))
        shop = rng.randrange(len(RETAIL_CITIES))
        retailer = market.retailers[shop]
        distributor = market.distributors[RETAIL_CITIES[shop][1]]
        items.append(
            SimItem(gtin, serial, item_id(gtin, serial), index, code, distributor, retailer)
        )
    keys = [claim_key(i.item_id, i.claim_code).address for i in items]
    ids = [i.item_id for i in items]
    for _ in market.registry.register_many(setup.factory.account, ids, claim_keys=keys):
        market.transactions += 1
    market.store.record_codes([(i.gtin, i.serial, i.item_id.hex()) for i in items])
    for item in items:
        item.holders.append(setup.factory)
    return items


def _batches(items: Sequence[SimItem], size: int) -> list[list[SimItem]]:
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def _distribute(market: Market) -> None:
    """Factory → distributor → retailer, one batch transaction per hop and destination.

    The items that stay with their distributor are the grey market's supply: diverted off
    the books, they never reach a shop on chain.
    """
    size = market.registry.max_batch_size
    fraction = market.params.at_distributor
    for setup, brand_items in _by_brand(market):
        stay = set(map(id, market.rng.sample(brand_items, _share(len(brand_items), fraction))))
        for distributor in market.distributors:
            shipment = [i for i in brand_items if i.distributor is distributor]
            for batch in _batches(shipment, size):
                market.registry.transfer_batch(
                    setup.factory.account, [i.item_id for i in batch], distributor.address
                )
                market.transactions += 1
            for item in shipment:
                item.holders.append(distributor)
            for retailer in market.retailers:
                onward = [i for i in shipment if i.retailer is retailer and id(i) not in stay]
                for batch in _batches(onward, size):
                    market.registry.transfer_batch(
                        distributor.account, [i.item_id for i in batch], retailer.address
                    )
                    market.transactions += 1
                for item in onward:
                    item.holders.append(retailer)
            for item in shipment:
                if id(item) in stay:
                    item.fate = Fate.AT_DISTRIBUTOR


def _by_brand(market: Market) -> list[tuple[BrandSetup, list[SimItem]]]:
    grouped: dict[int, list[SimItem]] = defaultdict(list)
    for item in market.items:
        grouped[item.brand].append(item)
    return [(setup, grouped[index]) for index, setup in enumerate(market.brands)]


def _share(total: int, fraction: float, minimum: int = 2) -> int:
    return min(total, max(minimum, round(total * fraction)))


def _assign_fates(market: Market) -> None:
    """Give some shop items their later lives: one transaction per item and event."""
    p, rng, registry = market.params, market.rng, market.registry
    for setup, brand_items in _by_brand(market):
        in_shop = [i for i in brand_items if i.fate is Fate.IN_SHOP]
        rng.shuffle(in_shop)
        n = len(brand_items)
        counts = [
            (Fate.SOLD, _share(n, p.sold)),
            (Fate.CLAIMED, _share(n, p.claimed)),
            (Fate.RECALLED, _share(n, p.recalled)),
            (Fate.STOLEN, _share(n, p.stolen)),
            (Fate.DESTROYED, _share(n, p.destroyed)),
        ]
        chosen: dict[Fate, list[SimItem]] = {}
        for fate, count in counts:
            chosen[fate], in_shop = in_shop[:count], in_shop[count:]
        for item in chosen[Fate.SOLD]:
            registry.record_retail_sale(item.holder.account, item.item_id)
            item.fate = Fate.SOLD
            market.transactions += 1
        for item in chosen[Fate.CLAIMED]:
            market.sell_and_claim(item, market.new_consumer(item.retailer.city))
        resold = chosen[Fate.CLAIMED][: _share(len(chosen[Fate.CLAIMED]), p.resold_of_claimed, 1)]
        market.fund([i.holder for i in resold])
        for item in resold:
            # A second-hand sale: the buyer may live anywhere the shops are.
            buyer = market.new_consumer(rng.choice(RETAIL_CITIES)[0])
            registry.transfer(item.holder.account, item.item_id, buyer.address)
            item.holders.append(buyer)
            item.fate = Fate.RESOLD
            market.transactions += 1
        if chosen[Fate.RECALLED]:
            registry.recall(setup.admin.account, [i.item_id for i in chosen[Fate.RECALLED]])
            market.transactions += 1
        for item in chosen[Fate.RECALLED]:
            item.fate = Fate.RECALLED
        for item in chosen[Fate.STOLEN]:
            registry.report_stolen(item.holder.account, item.item_id)
            item.fate = Fate.STOLEN
            market.transactions += 1
        for item in chosen[Fate.DESTROYED]:
            registry.destroy(item.holder.account, item.item_id)
            item.fate = Fate.DESTROYED
            market.transactions += 1
