"""ledger.store.signals: sites, detection over stored scans of indexed items, stored signals.

Items live on the session's in-memory registry (undone when the module ends) and are
indexed into a fresh store per test, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine

from ledger.chain import Chain
from ledger.claims import claim_key, generate_claim_code, sign_claim
from ledger.detect import Place
from ledger.errors import InvalidItemId, InvalidRecord
from ledger.identifiers import ItemId, item_id
from ledger.indexer import Indexer
from ledger.registry import Registry
from ledger.store import Store
from ledger.store.repository import ScanRecord
from ledger.store.signals import SignalStore, StoredSignal
from tests.ledger.test_store import store_engine

if TYPE_CHECKING:
    from tests.conftest import Roles

GTIN = "00614141123452"
SCANNER = "ab" * 32
DETECTED_AT = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
PARIS = (48.9, 2.4)
SYDNEY = (-33.9, 151.2)
SHENZHEN = (22.5, 114.1)


@dataclass(frozen=True)
class World:
    sold: ItemId
    """Registered, shipped to the retailer, sold and claimed by the consumer."""
    shop: ItemId
    """Registered and received by the distributor; never sold."""
    roles: Roles


@pytest.fixture(scope="module")
def world(chain: Chain, roles: Roles, deployed: Registry) -> Iterator[World]:
    before = chain.snapshot()
    sold, shop = item_id(GTIN, "SIG-SOLD"), item_id(GTIN, "SIG-SHOP")
    code = generate_claim_code()
    deployed.register(roles.operator, sold, claim_key=claim_key(sold, code).address)
    deployed.register(roles.operator, shop)
    deployed.ship(roles.operator, sold, roles.retailer.address)
    deployed.receive(roles.retailer, sold)
    deployed.record_retail_sale(roles.retailer, sold)
    signature = sign_claim(
        sold, code, roles.consumer.address, chain_id=deployed.chain_id, contract=deployed.address
    )
    deployed.claim(roles.relayer, sold, roles.consumer.address, signature)
    deployed.ship(roles.operator, shop, roles.distributor.address)
    deployed.receive(roles.distributor, shop)
    yield World(sold, shop, roles)
    chain.revert(before)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path: Path, world: World, deployed: Registry
) -> Iterator[Engine]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with store_engine(request.param, tmp_path, url) as made:
        Indexer(deployed, made).sync()
        yield made


@pytest.fixture
def signals(engine: Engine) -> SignalStore:
    return SignalStore(engine, clock=lambda: DETECTED_AT)


def record(engine: Engine, item: ItemId, *scans: tuple[datetime, tuple[float, float]]) -> None:
    Store(engine).record_scans(
        [
            ScanRecord(
                item_id=item.hex(),
                gtin=GTIN,
                serial="SIG-ANY",
                scanned_at=at,
                latitude=where[0],
                longitude=where[1],
                ip_hash=SCANNER,
                ua_hash=SCANNER,
            )
            for at, where in scans
        ]
    )


def claim_time(engine: Engine, item: ItemId) -> datetime:
    claim = next(e for e in Store(engine).history(item) if e.name == "ItemClaimed")
    return datetime.fromtimestamp(claim.timestamp, UTC)


# ───────────── detection ─────────────


def test_detect_stores_new_signals_once_and_returns_only_new_ones(
    engine: Engine, signals: SignalStore, world: World
) -> None:
    t0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    record(engine, world.shop, (t0, PARIS), (t0 + timedelta(minutes=1), SYDNEY))

    found = signals.detect([world.shop.hex()])

    assert [(s.item_id, s.brand_id, s.signal.code, s.signal.key) for s in found] == [
        (world.shop.hex(), 1, "impossible_travel", found[0].signal.key)
    ]
    assert signals.detect([world.shop.hex()]) == []
    record(engine, world.shop, (t0 + timedelta(minutes=2), PARIS))
    again = signals.detect([world.shop.hex()])
    assert [s.signal.code for s in again] == ["impossible_travel"]
    assert again[0].signal.key != found[0].signal.key
    stored = signals.signals_for([world.shop.hex()])[world.shop.hex()]
    assert stored == [
        StoredSignal("impossible_travel", s.signal.message, s.signal.evidence, DETECTED_AT)
        for s in (*found, *again)
    ]


def test_the_stage_comes_from_the_index_claim_time_and_path_sites(
    engine: Engine, signals: SignalStore, world: World
) -> None:
    roles = world.roles
    signals.set_site(roles.operator.address, "Acme factory, Biel", 47.1, 7.2, "CH")
    signals.set_site(roles.retailer.address, "Retailer, Paris", 48.9, 2.4, "FR")
    claimed_at = claim_time(engine, world.sold)
    before_sale = claimed_at - timedelta(days=30)
    record(
        engine,
        world.sold,
        (before_sale, SHENZHEN),
        (claimed_at + timedelta(days=1), PARIS),
        (claimed_at + timedelta(days=8), SYDNEY),
    )

    found = [s.signal for s in signals.detect([world.sold.hex()])]

    assert [s.code for s in found] == ["scan_after_claim_elsewhere", "outside_custody_path"]
    assert found[0].evidence["claimed_at"] == claimed_at.isoformat().replace("+00:00", "Z")
    assert [(p["latitude"], p["longitude"]) for p in found[0].evidence["places"]] == [
        PARIS,
        SYDNEY,
    ]
    assert found[1].evidence["nearest_site"] == {
        "name": "Acme factory, Biel",
        "latitude": 47.1,
        "longitude": 7.2,
    }


def test_items_the_index_does_not_hold_yet_are_skipped(
    engine: Engine, signals: SignalStore
) -> None:
    unknown = item_id(GTIN, "SIG-NOT-INDEXED")
    t0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    record(engine, unknown, (t0, PARIS), (t0 + timedelta(minutes=1), SYDNEY))

    assert signals.detect([unknown.hex()]) == []
    assert signals.signals_for([unknown.hex()]) == {unknown.hex(): []}


def test_detect_reads_many_items_in_chunks(
    engine: Engine, signals: SignalStore, world: World
) -> None:
    t0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    record(engine, world.shop, (t0, PARIS), (t0 + timedelta(minutes=1), SYDNEY))
    others = [item_id(GTIN, f"SIG-{n}").hex() for n in range(1_200)]

    found = signals.detect([*others, world.shop.hex().upper().replace("0X", "0x")])

    assert [(s.item_id, s.signal.code) for s in found] == [(world.shop.hex(), "impossible_travel")]
    assert len(signals.signals_for(others)) == 1_200


def test_signals_for_rejects_a_malformed_item_id(signals: SignalStore) -> None:
    with pytest.raises(InvalidItemId) as raised:
        signals.signals_for(["0x1234"])

    assert raised.value.reason == "must have 64 hex digits after '0x', got 4"


# ───────────── sites ─────────────


def test_a_site_is_kept_under_its_checksummed_address_and_can_move(
    signals: SignalStore, world: World
) -> None:
    address = world.roles.distributor.address

    first = signals.set_site(address.lower(), "  Depot, Frankfurt ", 50.1, 8.7, "de")
    moved = signals.set_site(address, "Depot, Mainz", 50.0, 8.3)

    assert (first.address, first.name, first.country) == (address, "Depot, Frankfurt", "DE")
    assert signals.site(address.lower()) == moved
    assert (moved.name, moved.latitude, moved.longitude, moved.country) == (
        "Depot, Mainz", 50.0, 8.3, None,
    )  # fmt: skip
    assert moved.recorded_at == DETECTED_AT
    assert signals.sites([address, world.roles.stranger.address]) == {
        address: Place(50.0, 8.3, "Depot, Mainz")
    }


@pytest.mark.parametrize(
    ("address", "name", "latitude", "longitude", "country", "reason"),
    [
        ("0x1234", "Depot", 1.0, 1.0, None, "'0x1234' is not a ledger address"),
        ("LOWER", "Depot", 1.0, 1.0, None, "is not a ledger address"),
        ("OK", "  ", 1.0, 1.0, None, "the name must be 1 to 200 characters"),
        ("OK", "x" * 201, 1.0, 1.0, None, "the name must be 1 to 200 characters"),
        ("OK", "Depot", 90.5, 1.0, None, "latitude 90.5 is outside ±90°"),
        ("OK", "Depot", 1.0, -180.5, None, "longitude -180.5 is outside ±180°"),
        ("OK", "Depot", math.nan, 1.0, None, "latitude nan is outside ±90°"),
        ("OK", "Depot", 1.0, 1.0, "CHE", "country 'CHE' is not an ISO 3166-1 alpha-2 code"),
    ],
)
def test_a_malformed_site_is_refused_and_nothing_is_kept(
    signals: SignalStore,
    world: World,
    address: str,
    name: str,
    latitude: float,
    longitude: float,
    country: str | None,
    reason: str,
) -> None:
    real = world.roles.distributor.address
    # A mixed-case address with a wrong checksum: one letter's case flipped.
    flipped = next(i for i, c in enumerate(real) if c.isalpha() and i > 1)
    bad_checksum = real[:flipped] + real[flipped].swapcase() + real[flipped + 1 :]
    given = {"OK": real, "LOWER": bad_checksum}.get(address, address)

    with pytest.raises(InvalidRecord) as raised:
        signals.set_site(given, name, latitude, longitude, country)

    assert raised.value.what == "site"
    assert reason in raised.value.reason
    assert signals.site(real) is None
