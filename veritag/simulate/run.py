"""Drive the simulated market through the real API, in process, on the embedded chain.

The day runs on a simulated clock (the ``Services`` clock) that starts when the chain side
is built: sellers link their addresses, the marketplace checks the morning's and then the
afternoon's listings in batches, and the aftermarket follows: marketplace sales settle on
chain, consumers scan what they bought, clones turn up in several cities, and the rogue
shops' fakes are caught the ways a first check cannot.
"""

from __future__ import annotations

import gc
import random
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from ledger.anvil import AnvilNode
from ledger.chain import Chain, connect_memory, connect_rpc
from ledger.errors import VeritagError
from ledger.store.database import make_engine, migrate
from ledger.store.orgs import Organisations, Role
from ledger.store.repository import Store
from veritag.simulate.attacks import (
    COUNTERFEIT_CITIES,
    Kind,
    ListingPlan,
    Mix,
    PlannedListing,
    Seller,
    plan_listings,
)
from veritag.simulate.market import (
    RETAIL_CITIES,
    City,
    Fate,
    Market,
    MarketParams,
    Party,
    SimItem,
    build_market,
)

__all__ = ["CheckResult", "SimClock", "Simulation", "SimulationParams", "run_simulation"]

_HOURS_PER_WAVE = 4


ChainChoice = Literal["memory", "anvil"]


@dataclass(frozen=True)
class SimulationParams:
    brands: int = 3
    items_per_brand: int = 1000
    seed: int = 7
    batch_size: int = 1000
    marketplace_sales: int = 30
    """Genuine shop listings bought on the marketplace and settled on chain (2 tx each)."""
    scans_per_group: int = 50
    """Most consumer scans of each kind (owners at home, clone buyers, …) in the aftermarket."""
    chain: ChainChoice = "memory"
    """``memory``: eth-tester in this process; ``anvil``: a private anvil node on loopback."""


class SimClock:
    """The time the API sees; the simulation moves it forward."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass(frozen=True)
class CheckResult:
    """What the marketplace gate answered for one listing."""

    status: int
    decision: str | None
    reasons: tuple[str, ...]


@dataclass
class Simulation:
    """Everything the report needs: the plan, the answers and what happened after."""

    params: SimulationParams
    market: Market
    plan: ListingPlan
    first_checks: dict[str, CheckResult] = field(default_factory=dict)
    check_seconds: float = 0.0
    check_batches: int = 0
    scans: dict[str, Counter[str]] = field(default_factory=dict)
    """Verdicts of consumers' scans by who scanned: genuine owners, buyers of fakes."""
    insider_rechecks: Counter[str] = field(default_factory=Counter)
    insider_recheck_reasons: Counter[str] = field(default_factory=Counter)
    insider_reports: int = 0
    seller_risk: dict[str, Counter[str]] = field(default_factory=dict)
    """Risk levels at the end of the day, by kind of seller."""
    timings: dict[str, float] = field(default_factory=dict)


def run_simulation(
    params: SimulationParams, *, progress: Callable[[str], None] = lambda _: None
) -> Simulation:
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="veritag-simulate-") as folder,
        _chain(params.chain, Path(folder)) as chain,
    ):
        engine = make_engine(f"sqlite:///{Path(folder) / 'veritag.sqlite'}")
        try:
            migrate(engine)
            market = build_market(
                MarketParams(params.brands, params.items_per_brand, params.seed),
                Store(engine),
                chain=chain,
                progress=progress,
            )
            rng = random.Random(params.seed + 1)  # noqa: S311 (reproducible on purpose)
            plan = plan_listings(market, rng, Mix(), batch_size=params.batch_size)
            simulation = Simulation(params, market, plan)
            _Day(simulation, rng, progress).run()
        finally:
            engine.dispose()
    simulation.timings.update(market.timings)
    simulation.timings["total_seconds"] = time.perf_counter() - started
    return simulation


@contextmanager
def _chain(choice: ChainChoice, folder: Path) -> Iterator[Chain]:
    if choice == "memory":
        yield connect_memory(accounts=1)
        return
    with socket.socket() as probe:  # a free loopback port for this run's own node
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with AnvilNode(folder / "anvil", port=port) as node:
        yield connect_rpc(node.url)


class _Day:
    def __init__(
        self, simulation: Simulation, rng: random.Random, progress: Callable[[str], None]
    ) -> None:
        self.sim, self.rng, self.progress = simulation, rng, progress
        self.market = simulation.market
        latest = self.market.chain.w3.eth.get_block("latest")["timestamp"]
        self.clock = SimClock(datetime.fromtimestamp(latest + 60, UTC))

    def run(self) -> None:
        market = self.market
        services = Services(
            market.registry,
            market.store,
            hash_salt=f"simulate-{self.sim.params.seed}".encode(),
            clock=self.clock,
        )
        organisations = Organisations(market.store.engine, clock=self.clock)
        _, registry_key = organisations.create("Registry operator", Role.REGISTRY)
        _, market_key = organisations.create("Marketplace", Role.MARKETPLACE)
        self.services = services
        with TestClient(create_app(services)) as client:
            self.api = _Api(client, registry_key, market_key)
            with self._timed("setup_api_seconds"):
                self.progress("recording sites and linking sellers' addresses")
                self._record_sites()
                for seller in self.sim.plan.sellers:
                    if seller.account is not None:
                        self.api.link(seller)
            gc.collect()
            gc.freeze()  # as `veritag serve` does once started (see veritag.bench_listings)
            with self._timed("check_phase_seconds"):
                self._check_listings()
            with self._timed("aftermarket_seconds"):
                self.progress("aftermarket: sales settle, consumers scan, fakes surface")
                self._aftermarket()

    @contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.sim.timings[name] = time.perf_counter() - started

    def _record_sites(self) -> None:
        m = self.market
        parties = [*(b.factory for b in m.brands), *m.distributors, *m.retailers]
        for party in parties:
            self.api.put_site(party)

    # ───────────── the gate ─────────────

    def _check_listings(self) -> None:
        plan = self.sim.plan
        for wave_number, wave in enumerate(plan.waves, start=1):
            batches = [
                wave[start : start + plan.batch_size]
                for start in range(0, len(wave), plan.batch_size)
            ]
            step = timedelta(hours=_HOURS_PER_WAVE) / max(1, len(batches))
            for number, batch in enumerate(batches, start=1):
                self.progress(
                    f"wave {wave_number}: checking batch {number} of {len(batches)} "
                    f"({len(batch)} listings)"
                )
                results, seconds = self.api.check(batch)
                self.sim.check_seconds += seconds
                self.sim.check_batches += 1
                for listing in batch:
                    self.sim.first_checks.setdefault(
                        listing.listing_id, results[listing.listing_id]
                    )
                self.clock.advance(step)

    # ───────────── after the first checks ─────────────

    def _aftermarket(self) -> None:
        self.clock.advance(timedelta(hours=1))
        owners = [i for i in self.market.items if i.fate in (Fate.CLAIMED, Fate.RESOLD)]
        self._marketplace_sales()
        self._owners_scan(owners)
        self._clones_surface()
        self._insiders_caught()
        self.market.index()
        self._seller_risk()

    def _allowed(self, kind: Kind) -> list[PlannedListing]:
        return [
            x
            for x in self.sim.plan.listings
            if x.kind is kind and self.sim.first_checks[x.listing_id].decision == "allow"
        ]

    def _settle_on_chain(self) -> None:
        """Blocks mined from here carry the simulated time, so scans and sales stay in order."""
        pending = self.market.chain.w3.eth.get_block("pending")["timestamp"]
        target = int(self.clock.now.timestamp())
        if target > pending:
            self.market.chain.set_next_timestamp(target)

    def _marketplace_sales(self) -> None:
        shop_listings = [
            x for x in self._allowed(Kind.GENUINE) if x.item and x.item.fate is Fate.IN_SHOP
        ]
        sold = self.rng.sample(
            shop_listings, min(len(shop_listings), self.sim.params.marketplace_sales)
        )
        self._settle_on_chain()
        buyers: list[tuple[Party, PlannedListing]] = []
        for listing in sold:
            assert listing.item is not None
            self.api.end(listing.listing_id)
            buyer = self.market.new_consumer(self.rng.choice(RETAIL_CITIES)[0])
            self.market.sell_and_claim(listing.item, buyer)
            buyers.append((buyer, listing))
        self.market.index()
        self.clock.advance(timedelta(days=3))  # delivery
        for buyer, listing in buyers:
            self._scan("genuine: marketplace buyers", listing.gtin, listing.serial, buyer)

    def _owners_scan(self, owned: list[SimItem]) -> None:
        for item in owned:
            self._scan("genuine: owners at home", item.gtin, item.serial, item.holder)
            self.clock.advance(timedelta(minutes=3))

    def _clones_surface(self) -> None:
        """Blocked on this marketplace, the clones sell elsewhere and are scanned far apart."""
        copies: dict[str, list[PlannedListing]] = {}
        for listing in self.sim.plan.listings:
            if listing.kind is Kind.CLONED:
                copies.setdefault(listing.serial + listing.gtin, []).append(listing)
        cities = [c for c, _ in RETAIL_CITIES] + list(COUNTERFEIT_CITIES)
        for run in copies.values():
            for copy, city in zip(run, self.rng.sample(cities, len(cities)) * 2, strict=False):
                buyer = self.market.new_consumer(city)
                self._scan("fake: cloned copies", copy.gtin, copy.serial, buyer)
                self.clock.advance(timedelta(minutes=40))

    def _insiders_caught(self) -> None:
        """A rogue shop's fake passes the gate (it holds the code); then the real item sells.

        The fake's buyer, far away, scans it; the shop sells the genuine item in store and
        its buyer claims it; the fake's buyer scans again and reports; the marketplace's
        next check of the still-live listing finds that the shop no longer holds the item.
        """
        live = self._allowed(Kind.INSIDER_FAKE)
        remote = [(listing, self._far_buyer(listing.seller.city)) for listing in live]
        for listing, buyer in remote:
            self._scan("fake: insider, bought online", listing.gtin, listing.serial, buyer)
        self._settle_on_chain()
        for listing, _ in remote:
            assert listing.item is not None
            local = self.market.new_consumer(listing.item.holder.city)
            self.market.sell_and_claim(listing.item, local)
        self.market.index()
        self.clock.advance(timedelta(days=2))
        for listing, buyer in remote:
            assert listing.item is not None
            self._scan(
                "genuine: in-store buyers", listing.gtin, listing.serial, listing.item.holder
            )
            verdict = self._scan(
                "fake: insider, after the real sale", listing.gtin, listing.serial, buyer
            )
            if verdict not in (None, "authentic"):
                self.api.report(listing.code, listing)
                self.sim.insider_reports += 1
        if live:
            results, _ = self.api.check(live)
            for listing in live:
                result = results[listing.listing_id]
                self.sim.insider_rechecks[result.decision or f"status {result.status}"] += 1
                self.sim.insider_recheck_reasons.update(result.reasons)

    def _far_buyer(self, near: City) -> Party:
        far = [c for c, _ in RETAIL_CITIES if abs(c.longitude - near.longitude) > 60]
        return self.market.new_consumer(self.rng.choice(far))

    def _scan(self, who: str, gtin: str, serial: str, party: Party) -> str | None:
        """One consumer's scan; None when the group's scans are used up (``scans_per_group``)."""
        counted = self.sim.scans.setdefault(who, Counter())
        if counted.total() >= self.sim.params.scans_per_group:
            return None
        verdict = self.api.scan(gtin, serial, party)
        if self.services.scans is not None:
            # Simulated minutes pass between scans: let the writer store this one and run
            # clone detection before the next, as it would in real time.
            self.services.scans.flush()
        counted[verdict] += 1
        self.clock.advance(timedelta(minutes=1))
        return verdict

    def _seller_risk(self) -> None:
        for seller in self.sim.plan.sellers:
            if seller.account is None:
                continue
            group = _seller_group(seller, self.sim.plan.rogue_shops)
            level = self.api.risk(seller.seller_id)
            self.sim.seller_risk.setdefault(group, Counter())[level] += 1


def _seller_group(seller: Seller, rogue: list[Seller]) -> str:
    if seller in rogue:
        return "rogue shops"
    prefix = seller.seller_id.split("-")[0]
    return {
        "shop": "honest shops",
        "user": "consumers reselling",
        "cf": "counterfeiters",
        "grey": "grey-market sellers",
    }[prefix]


class _Api:
    """The calls the simulation makes, each checked for the status it expects."""

    def __init__(self, client: TestClient, registry_key: str, market_key: str) -> None:
        self.client = client
        self.registry_auth = {"Authorization": f"Bearer {registry_key}"}
        self.market_auth = {"Authorization": f"Bearer {market_key}"}

    def put_site(self, party: Party) -> None:
        body = {
            "name": party.name,
            "latitude": party.latitude,
            "longitude": party.longitude,
            "country": party.city.country,
        }
        _expect(
            self.client.put(f"/v1/sites/{party.address}", json=body, headers=self.registry_auth),
            200,
        )

    def link(self, seller: Seller) -> None:
        assert seller.account is not None
        base = f"/v1/sellers/{seller.seller_id}"
        challenge = _expect(
            self.client.post(
                f"{base}/challenge",
                json={"address": seller.account.address},
                headers=self.market_auth,
            ),
            200,
            201,
        )
        message = challenge["message"]
        signed = Account.sign_message(encode_defunct(text=message), seller.account.key)
        _expect(
            self.client.post(
                f"{base}/link",
                json={"message": message, "signature": "0x" + bytes(signed.signature).hex()},
                headers=self.market_auth,
            ),
            200,
            201,
        )

    def check(self, batch: list[PlannedListing]) -> tuple[dict[str, CheckResult], float]:
        body = {
            "listings": [
                {"listing_id": x.listing_id, "seller_id": x.seller.seller_id, "code": x.code}
                for x in batch
            ]
        }
        started = time.perf_counter()
        response = self.client.post("/v1/listings/check", json=body, headers=self.market_auth)
        seconds = time.perf_counter() - started
        answer = _expect(response, 200)
        return {
            r["listing_id"]: CheckResult(
                int(r["status"]), r["decision"], tuple(reason["code"] for reason in r["reasons"])
            )
            for r in answer["results"]
        }, seconds

    def end(self, listing_id: str) -> None:
        _expect(self.client.delete(f"/v1/listings/{listing_id}", headers=self.market_auth), 204)

    def scan(self, gtin: str, serial: str, party: Party) -> str:
        headers = {
            "Accept": "application/json",
            "X-Veritag-Location": f"{party.latitude},{party.longitude}",
        }
        answer = _expect(self.client.get(f"/01/{gtin}/21/{serial}", headers=headers), 200)
        return str(answer["verdict"])

    def report(self, code: str, listing: PlannedListing) -> None:
        body = {
            "code": code,
            "kind": "counterfeit_purchase",
            "message": f"bought as listing {listing.listing_id}; the ledger says another "
            "consumer owns this item",
        }
        _expect(self.client.post("/v1/reports", json=body), 200, 201, 202)

    def risk(self, seller_id: str) -> str:
        answer = _expect(
            self.client.get(f"/v1/sellers/{seller_id}/risk", headers=self.market_auth), 200
        )
        return str(answer["level"])


class _Response(Protocol):
    """What the test client answers (it ships its own httpx, so no httpx type fits)."""

    @property
    def status_code(self) -> int: ...
    @property
    def content(self) -> bytes: ...
    @property
    def text(self) -> str: ...
    @property
    def request(self) -> Any: ...
    def json(self) -> Any: ...


def _expect(response: _Response, *statuses: int) -> Any:
    if response.status_code not in statuses:
        raise VeritagError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}, expected {' or '.join(map(str, statuses))}: "
            f"{response.text[:500]}"
        )
    return response.json() if response.content else None
