"""`veritag bench listings`: marketplace listing checks per second, in batches of 1,000.

One run, one process: the in-process chain with one brand and ``rounds`` x 1,000 items held
by a shop, indexed into a SQLite file store; a marketplace with the shop linked as a seller
(EIP-4361); then each round posts 1,000 fresh listings of 1,000 different items to
``POST /v1/listings/check`` through the whole ASGI app (JSON in, signed decisions out) and
times the request. The baseline, measured in the same run, is the same check one listing
per request (what a marketplace calling the gate per listing gets), on 200 more of the
shop's items.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from ledger.chain import connect_memory
from ledger.identifiers import build_digital_link, item_id
from ledger.indexer import Indexer
from ledger.registry import Registry
from ledger.store.database import make_engine, migrate
from ledger.store.orgs import Organisations, Role
from ledger.store.repository import Store
from ledger.store.sellers import Sellers

__all__ = ["ListingBench", "run_listing_bench"]

GTIN = "00614141123452"
PREFIX = "0614141"
BATCH = 1_000
BASELINE_REQUESTS = 200


@dataclass(frozen=True)
class ListingBench:
    batch_size: int
    rounds: int
    checks_per_second_median: float
    checks_per_second_each: list[float]
    batch_seconds_median: float
    baseline_single_checks_per_second: float
    batch_speedup: float
    decisions: dict[str, int]
    conditions: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def run_listing_bench(rounds: int = 5) -> ListingBench:
    chain = connect_memory()
    admin, brand_admin, factory, shop = chain.dev_accounts[:4]
    registry = Registry.deploy(chain.w3, admin)
    brand = registry.admit_brand(admin, brand_admin.address, "Bench Brand", [PREFIX])
    registry.add_operator(brand_admin, brand, factory.address)
    serials = [f"L{n}" for n in range(rounds * BATCH + BASELINE_REQUESTS)]
    ids = [item_id(GTIN, s) for s in serials]
    step = registry.max_batch_size
    for start in range(0, len(ids), step):
        registry.register_batch(factory, ids[start : start + step], b"\x00" * 32, None)
        registry.transfer_batch(factory, ids[start : start + step], shop.address)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.sqlite'}")
        migrate(engine)
        store = Store(engine)
        store.record_codes([(GTIN, s, i.hex()) for s, i in zip(serials, ids, strict=True)])
        Indexer(registry, engine).sync()
        marketplace, key = Organisations(engine).create("Bench Market", Role.MARKETPLACE)
        sellers = Sellers(engine)
        challenge = sellers.issue_nonce(
            marketplace.id, marketplace.name, "shop", shop.address,
            domain="bench.local", uri="http://bench.local", chain_id=registry.chain_id,
        )  # fmt: skip
        signed = Account.sign_message(encode_defunct(text=challenge.message_text), shop.key)
        sellers.link(
            marketplace.id,
            "shop",
            challenge.message_text,
            "0x" + bytes(signed.signature).hex(),
            chain_id=registry.chain_id,
        )
        services = Services(registry, store, hash_salt=b"bench")
        headers = {"Authorization": f"Bearer {key}"}
        links = [build_digital_link(GTIN, s, "https://bench.local") for s in serials]
        # As `veritag serve` does once started: a full collection would otherwise walk the
        # in-process chain's millions of long-lived objects in the middle of a request.
        gc.collect()
        gc.freeze()
        with TestClient(create_app(services)) as client:
            seconds, decisions = _check_rounds(client, headers, links, rounds)
            singles_per_second = _single_baseline(client, headers, links[rounds * BATCH :])
        engine.dispose()
    rates = [BATCH / s for s in seconds]
    median_rate = statistics.median(rates)
    return ListingBench(
        batch_size=BATCH,
        rounds=rounds,
        checks_per_second_median=round(median_rate),
        checks_per_second_each=[round(r) for r in rates],
        batch_seconds_median=round(statistics.median(seconds), 4),
        baseline_single_checks_per_second=round(singles_per_second, 1),
        batch_speedup=round(median_rate / singles_per_second, 1),
        decisions=decisions,
        conditions=(
            "one process, one thread: TestClient → the FastAPI app (JSON, auth, signed "
            "decisions) → SQLite file store indexed from the in-process chain (objects made "
            "during setup frozen out of the garbage collector, as serve does); each round "
            f"{BATCH} new listings of {BATCH} different items by one linked seller"
        ),
    )


def _check_rounds(
    client: TestClient, headers: dict[str, str], links: list[str], rounds: int
) -> tuple[list[float], dict[str, int]]:
    seconds: list[float] = []
    decisions: dict[str, int] = {}
    for round_number in range(rounds):
        chunk = links[round_number * BATCH : (round_number + 1) * BATCH]
        listings = [
            {"listing_id": f"r{round_number}-{n}", "seller_id": "shop", "code": link}
            for n, link in enumerate(chunk)
        ]
        start = time.perf_counter()
        response = client.post("/v1/listings/check", json={"listings": listings}, headers=headers)
        seconds.append(time.perf_counter() - start)
        response.raise_for_status()
        for result in response.json()["results"]:
            decisions[result["decision"]] = decisions.get(result["decision"], 0) + 1
    return seconds, decisions


def _single_baseline(client: TestClient, headers: dict[str, str], links: list[str]) -> float:
    """Other items of the same shop, one listing per request."""
    start = time.perf_counter()
    for n, link in enumerate(links):
        listing = {"listing_id": f"single-{n}", "seller_id": "shop", "code": link}
        client.post(
            "/v1/listings/check", json={"listings": [listing]}, headers=headers
        ).raise_for_status()
    return len(links) / (time.perf_counter() - start)
