"""Clone signals in the API: scans feed detection, signals feed the next scan's verdict;
/v1/sites records where custody parties are.

This module's store is indexed (detection needs items' stages) and its app has its own
clock, so scan times are the test's to set.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from fastapi.testclient import TestClient
from sqlmodel import select

from api.app import create_app
from api.scan_writer import ScanWriter
from api.services import Services
from ledger.chain import Chain
from ledger.identifiers import item_id
from ledger.indexer import Indexer
from ledger.registry import Registry
from ledger.store import make_engine, session
from ledger.store.market_models import WebhookDelivery
from ledger.store.orgs import Organisations
from ledger.store.repository import ScanRecord, Store
from ledger.store.signals import NewSignal, SignalStore
from ledger.store.webhooks import Webhooks
from tests.api.conftest import auth, path_of
from veritag.demo_seed import DEMO_GTIN, DemoRoles

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
JSON = {"accept": "application/json"}
LOCATION = "x-veritag-location"
HASH = "cd" * 32


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class App:
    client: TestClient
    services: Services
    clock: Clock


@pytest.fixture(scope="module")
def indexed(api_registry: Registry, store: Store, demo_urls: dict[str, str]) -> Store:
    Indexer(api_registry, store.engine).sync()
    return store


@pytest.fixture(scope="module")
def app(api_registry: Registry, indexed: Store, demo_urls: dict[str, str]) -> Iterator[App]:
    clock = Clock()
    services = Services(api_registry, indexed, hash_salt=b"clone-salt", clock=clock)
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield App(client, services, clock)


def scan(app: App, url: str, at: datetime, where: str | None = None) -> dict[str, Any]:
    app.clock.now = at
    headers = {**JSON, **({LOCATION: where} if where else {})}
    response = app.client.get(path_of(url), headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def detect_now(app: App) -> None:
    """Store what the writer has queued and run detection on it (the writer's thread would
    within its interval)."""
    assert app.services.scans is not None
    app.services.scans.flush()


# ───────────── the scan verdict ─────────────


def test_paris_then_sydney_a_minute_apart_makes_the_next_scan_suspect_with_one_reason(
    app: App, demo_urls: dict[str, str]
) -> None:
    url = demo_urls["in_shop"]

    first = scan(app, url, T0, "48.9,2.4")
    second = scan(app, url, T0 + timedelta(minutes=1), "-33.9,151.2")
    detect_now(app)
    third = scan(app, url, T0 + timedelta(minutes=2))

    assert (first["verdict"], second["verdict"]) == ("authentic", "authentic")
    assert third["verdict"] == "suspect"
    assert third["reasons"] == [
        {
            "code": "impossible_travel",
            "message": "Scanned near 48.9, 2.4 on 2026-03-01 12:00:00 UTC and near -33.9, 151.2 "
            "60 seconds later: 16,957 km apart (1,017,433 km/h), faster than anyone travels "
            "(900 km/h).",
        }
    ]
    assert third["scan"]["count"] == 3

    scan(app, url, T0 + timedelta(minutes=3), "48.9,2.4")  # Sydney → Paris: a second signal
    detect_now(app)
    fifth = scan(app, url, T0 + timedelta(minutes=4))

    assert [r["code"] for r in fifth["reasons"]] == ["impossible_travel"]  # one per code
    assert fifth["reasons"][0]["message"].startswith(  # the latest signal's
        "Scanned near -33.9, 151.2 on 2026-03-01 12:01:00 UTC and near 48.9, 2.4 2 minutes later"
    )


def test_items_without_signals_stay_authentic(app: App, demo_urls: dict[str, str]) -> None:
    body = scan(app, demo_urls["sold_and_claimed"], T0, "48.9,2.4")

    assert body["verdict"] == "authentic"
    assert [r["code"] for r in body["reasons"]] == ["registered"]


def test_a_scan_far_from_the_custody_path_sites_makes_the_item_suspect(
    app: App, api_chain: Chain, demo_urls: dict[str, str], registry_key: str
) -> None:
    # The in-transit item was shipped to the distributor; no other demo item passed there.
    distributor = DemoRoles.from_dev_accounts(api_chain.dev_accounts).distributor.address
    site = {"name": "Depot, Frankfurt", "latitude": 50.1, "longitude": 8.7, "country": "DE"}
    put = app.client.put(f"/v1/sites/{distributor}", json=site, headers=auth(registry_key))
    assert put.status_code == 200, put.text
    url = demo_urls["in_transit"]

    scan(app, url, T0, "22.5,114.1")  # Shenzhen, while on its way to Frankfurt
    detect_now(app)
    body = scan(app, url, T0 + timedelta(hours=1))

    assert body["verdict"] == "suspect"
    assert body["reasons"] == [
        {
            "code": "outside_custody_path",
            "message": "Scanned near 22.5, 114.1 on 2026-03-01 12:00:00 UTC, before any sale, "
            "9,137 km from the nearest site of its custody path (Depot, Frankfurt): more than "
            "the 500 km its supply chain accounts for.",
        }
    ]


def test_a_recalled_item_with_signals_stays_recalled_and_shows_them(
    app: App, demo_urls: dict[str, str]
) -> None:
    url = demo_urls["recalled"]

    scan(app, url, T0, "48.9,2.4")
    scan(app, url, T0 + timedelta(seconds=30), "-33.9,151.2")
    detect_now(app)
    body = scan(app, url, T0 + timedelta(minutes=1))

    assert body["verdict"] == "recalled"
    assert [r["code"] for r in body["reasons"]] == ["recalled", "impossible_travel"]


# ───────────── the writer ─────────────


def record(serial: str, at: datetime, latitude: float, longitude: float) -> ScanRecord:
    return ScanRecord(
        item_id=item_id(DEMO_GTIN, serial).hex(),
        gtin=DEMO_GTIN,
        serial=serial,
        scanned_at=at,
        latitude=latitude,
        longitude=longitude,
        ip_hash=HASH,
        ua_hash=HASH,
    )


def test_the_writer_hands_new_signals_to_its_callback_once(indexed: Store) -> None:
    stolen = item_id(DEMO_GTIN, "DEMO-STOLEN").hex()
    found: list[NewSignal] = []
    writer = ScanWriter(indexed, interval=60, on_signals=found.extend)
    day = T0 + timedelta(days=3)

    writer.submit(record("DEMO-STOLEN", day, 48.9, 2.4))
    writer.submit(record("DEMO-STOLEN", day + timedelta(seconds=10), -33.9, 151.2))
    writer.flush()
    writer.flush()

    assert [(s.item_id, s.brand_id, s.signal.code) for s in found] == [
        (stolen, 1, "impossible_travel")
    ]
    assert [s.code for s in writer.signals(stolen)] == ["impossible_travel"]


def test_failing_detection_or_callback_never_loses_scans(
    indexed: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    destroyed = item_id(DEMO_GTIN, "DEMO-DESTROYED").hex()
    never_migrated = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    broken = ScanWriter(indexed, interval=60, signals=SignalStore(never_migrated))

    def refuse(_signals: list[NewSignal]) -> None:
        raise RuntimeError("alerts are down")

    refusing = ScanWriter(indexed, interval=60, on_signals=refuse)
    before = indexed.scan_stats(destroyed).scans
    day = T0 + timedelta(days=5)

    with caplog.at_level(logging.ERROR, logger="api.scan_writer"):
        # Neither writer is started: submit stores (and detects) at once.
        broken.submit(record("DEMO-DESTROYED", day, 48.9, 2.4))
        refusing.submit(record("DEMO-DESTROYED", day + timedelta(seconds=5), -33.9, 151.2))
    never_migrated.dispose()

    assert indexed.scan_stats(destroyed).scans == before + 2
    assert [r.getMessage() for r in caplog.records] == [
        "clone detection failed for 1 item(s); the scans are kept",
        "handling 1 new clone signal(s) failed",
    ]


def test_the_writer_thread_detects_a_busy_item_at_most_every_detect_every_seconds(
    api_chain: Chain, api_registry: Registry, indexed: Store
) -> None:
    busy = item_id(DEMO_GTIN, "BUSY-1")
    api_registry.register(DemoRoles.from_dev_accounts(api_chain.dev_accounts).factory, busy)
    Indexer(api_registry, indexed.engine).sync()
    now = [100.0]
    writer = ScanWriter(indexed, interval=0.01, detect_every=60, monotonic=lambda: now[0])
    day = T0 + timedelta(days=7)

    writer.start()
    try:
        writer.submit(record("BUSY-1", day, 48.9, 2.4))
        wait_until(lambda: indexed.scan_stats(busy).scans == 1)  # stored, detected: nothing
        writer.submit(record("BUSY-1", day + timedelta(seconds=10), -33.9, 151.2))
        wait_until(lambda: indexed.scan_stats(busy).scans == 2)
        time.sleep(0.1)  # ten more rounds of the writer: none may detect before 60 s pass
        assert writer.signals(busy.hex()) == []
        now[0] += 60
        wait_until(lambda: writer.signals(busy.hex()) != [])
    finally:
        writer.stop()

    assert [s.code for s in writer.signals(busy.hex())] == ["impossible_travel"]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the writer thread did not get there in time"
        time.sleep(0.01)


# ───────────── /v1/sites ─────────────

ADDRESS = "0x" + "5a" * 20


def test_the_registry_records_a_site_and_anyone_with_a_key_reads_it(
    app: App, registry_key: str, brand_key: str
) -> None:
    body = {
        "name": "Depot, Rotterdam", "latitude": 51.9, "longitude": 4.5, "country": "nl",
        "gln": "0614141000012",
    }  # fmt: skip
    app.clock.now = T0 + timedelta(days=1)

    put = app.client.put(f"/v1/sites/{ADDRESS}", json=body, headers=auth(registry_key))
    got = app.client.get(f"/v1/sites/{ADDRESS}", headers=auth(brand_key))

    expected = {
        "address": to_checksum_address(ADDRESS),
        "name": "Depot, Rotterdam",
        "latitude": 51.9,
        "longitude": 4.5,
        "country": "NL",
        "gln": "0614141000012",
        "recorded_at": "2026-03-02T12:00:00Z",
    }
    assert (put.status_code, got.status_code) == (200, 200)
    assert put.json() == got.json() == expected


@pytest.mark.parametrize(
    ("gln", "status", "detail"),
    [
        ("0614141000013", 422, "cannot record site: invalid GLN '0614141000013': check digit "
         "is 3, expected 2"),
        ("614141000012", 422, "cannot record site: invalid GLN '614141000012': must be exactly "
         "13 ASCII digits"),
        ("0614141000029", 409, "GLN 0614141000029: it is already the site of "
         "0x00000000000000000000000000000000000000A1"),
    ],
    ids=["check-digit", "length", "another-sites"],
)  # fmt: skip
def test_a_sites_gln_must_be_valid_and_its_own(
    app: App, registry_key: str, gln: str, status: int, detail: str
) -> None:
    first = {"name": "Depot", "latitude": 1.0, "longitude": 1.0, "gln": "0614141000029"}
    owner = "0x00000000000000000000000000000000000000a1"
    assert (
        app.client.put(f"/v1/sites/{owner}", json=first, headers=auth(registry_key)).status_code
        == 200
    )

    answer = app.client.put(
        f"/v1/sites/{ADDRESS}", json={**first, "gln": gln}, headers=auth(registry_key)
    )

    assert (answer.status_code, answer.json()["detail"]) == (status, detail)


@pytest.mark.parametrize(
    ("key", "status", "title", "detail"),
    [
        (None, 401, "AuthenticationRequired", "authentication required: send an API key"),
        ("brand", 403, "Forbidden", "not allowed to record sites: it needs a registry key, and "
         "Demo Brand is a brand"),
        ("marketplace", 403, "Forbidden", "not allowed to record sites: it needs a registry key"),
    ],
    ids=["no-key", "brand", "marketplace"],
)  # fmt: skip
def test_only_a_registry_key_records_sites(
    app: App,
    brand_key: str,
    marketplace_key: str,
    key: str | None,
    status: int,
    title: str,
    detail: str,
) -> None:
    keys = {"brand": brand_key, "marketplace": marketplace_key}
    headers = auth(keys[key]) if key else {}
    site = {"name": "Nowhere", "latitude": 0.0, "longitude": 0.0}

    response = app.client.put(f"/v1/sites/{'0x' + '77' * 20}", json=site, headers=headers)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == title
    assert response.json()["detail"].startswith(detail)


@pytest.mark.parametrize(
    ("address", "body", "detail"),
    [
        (ADDRESS, {"name": "X", "latitude": 91, "longitude": 0},
         "cannot record site: latitude 91.0 is outside ±90°"),
        (ADDRESS, {"name": "X", "latitude": 0, "longitude": 180.5},
         "cannot record site: longitude 180.5 is outside ±180°"),
        (ADDRESS, {"name": "X", "latitude": 0, "longitude": 0, "country": "France"},
         "cannot record site: country 'France' is not an ISO 3166-1 alpha-2 code"),
        ("0xnothex", {"name": "X", "latitude": 0, "longitude": 0},
         "cannot record site: '0xnothex' is not a ledger address"),
        (ADDRESS, {"name": "X", "latitude": "north", "longitude": 0}, "body.latitude: "),
        (ADDRESS, {"latitude": 0, "longitude": 0}, "body.name: Field required"),
    ],
    ids=["latitude", "longitude", "country", "address", "not-a-number", "no-name"],
)  # fmt: skip
def test_bad_site_values_are_422_problems_and_change_nothing(
    app: App, registry_key: str, address: str, body: dict[str, Any], detail: str
) -> None:
    before = app.client.get(f"/v1/sites/{ADDRESS}", headers=auth(registry_key)).json()

    response = app.client.put(f"/v1/sites/{address}", json=body, headers=auth(registry_key))

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith(detail)
    assert app.client.get(f"/v1/sites/{ADDRESS}", headers=auth(registry_key)).json() == before


def test_an_unknown_site_is_404(app: App, registry_key: str) -> None:
    unknown = "0x" + "66" * 20

    response = app.client.get(f"/v1/sites/{unknown}", headers=auth(registry_key))

    assert response.status_code == 404
    assert response.json()["detail"] == f"no site {unknown!r}"


def test_a_new_clone_signal_is_alerted_to_the_brand_once(
    app: App, demo_urls: dict[str, str], organisations: Organisations, brand_key: str
) -> None:
    brand_org = organisations.by_name("Demo Brand")
    hook, _ = Webhooks(app.services.engine).create(
        brand_org.id, "https://brand.example/alerts", ["clone_signal"]
    )
    url = demo_urls["stolen"]
    scan(app, url, T0, "48.9,2.4")
    scan(app, url, T0 + timedelta(minutes=1), "-33.9,151.2")
    detect_now(app)
    scan(app, url, T0 + timedelta(minutes=2))
    detect_now(app)

    with session(app.services.engine) as db:
        deliveries = db.exec(
            select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id)
        ).all()
    assert [d.kind for d in deliveries] == ["clone_signal"]
    data = json.loads(deliveries[0].payload)["data"]
    assert (data["code"], data["serial"]) == ("impossible_travel", "DEMO-STOLEN")
    assert data["evidence"]["speed_kmh"] > 900
