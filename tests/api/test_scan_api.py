"""The label URL answers with a verdict: JSON for apps, a page for browsers, never a 500."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hexbytes import HexBytes

from api.app import create_app
from api.services import Services
from api.verdict_cache import VerdictCache
from ledger.chain import Chain
from ledger.identifiers import item_id
from ledger.registry import Registry
from ledger.store.documents import document_hash
from ledger.store.repository import Store
from tests.api.conftest import UNKNOWN_GTIN, path_of
from veritag.demo_seed import DEMO_DOCUMENT, DEMO_GTIN

JSON = {"accept": "application/json"}

EXPECTED = {
    "in_shop": ("authentic", ["registered"], "active", []),
    "sold_and_claimed": ("authentic", ["registered"], "active", ["claimed"]),
    "in_transit": ("authentic", ["registered"], "in_transit", []),
    "recalled": ("recalled", ["recalled"], "active", ["recalled"]),
    "stolen": ("stolen", ["stolen"], "active", ["stolen"]),
    "destroyed": ("counterfeit", ["destroyed"], "destroyed", []),
    "unregistered": ("counterfeit", ["unregistered_code"], None, []),
}


def scan(client: TestClient, url: str, **headers: str) -> dict[str, Any]:
    response = client.get(path_of(url), headers={**JSON, **headers})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("state", list(EXPECTED))
def test_each_demo_state_answers_its_verdict_reasons_and_status(
    client: TestClient, demo_urls: dict[str, str], state: str
) -> None:
    verdict, reasons, status, flags = EXPECTED[state]
    body = scan(client, demo_urls[state])
    assert body["verdict"] == verdict
    assert [r["code"] for r in body["reasons"]] == reasons
    assert body["item"]["status"] == status
    assert body["item"]["flags"] == flags
    assert body["item"]["gtin"] == DEMO_GTIN
    assert set(body) == {"verdict", "reasons", "item", "brand", "custody", "proof", "scan"}


def test_genuine_answer_carries_brand_product_custody_and_a_proof(
    client: TestClient, demo_urls: dict[str, str], services: Services
) -> None:
    body = scan(client, demo_urls["in_shop"])
    registry = services.registry
    assert body["brand"] == {"id": 1, "name": "Acme Watches"}
    assert body["item"]["product"] == DEMO_DOCUMENT
    assert body["item"]["item_id"] == item_id(DEMO_GTIN, "DEMO-SHOP").hex()
    assert [step["event"] for step in body["custody"]] == [
        "BatchItemRegistered",
        "ItemShipped",
        "ItemReceived",
    ]
    shipped = body["custody"][1]
    assert set(shipped) == {"seq", "event", "from", "to", "by", "time", "block", "transaction"}
    assert shipped["from"] == body["custody"][0]["to"]  # the factory line shipped it
    proof = body["proof"]
    assert proof["chain_id"] == registry.chain_id
    assert proof["contract"] == registry.address
    assert proof["seq"] == 3
    assert [e["seq"] for e in proof["events"]] == [1, 2, 3]
    # Every custody event's transaction is the one the chain has for it.
    chain_txs = [e.tx_hash for e in registry.history(item_id(DEMO_GTIN, "DEMO-SHOP"))]
    assert [e["transaction"] for e in proof["events"]] == chain_txs
    assert f"--contract {registry.address}" in proof["recheck"]


def test_code_of_no_registered_brand_is_unknown(client: TestClient) -> None:
    body = scan(client, f"http://testserver/01/{UNKNOWN_GTIN}/21/ANY")
    assert body["verdict"] == "unknown"
    assert body["brand"] is None
    assert body["custody"] == []


def test_query_attributes_and_other_path_forms_are_accepted(
    client: TestClient, demo_urls: dict[str, str]
) -> None:
    body = scan(client, demo_urls["in_shop"] + "?17=301231&3103=000195")
    assert body["verdict"] == "authentic"
    body = scan(client, f"http://testserver/01/{DEMO_GTIN}/10/L2026-11/21/DEMO-SHOP")
    assert body["item"]["serial"] == "DEMO-SHOP"


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/01/0061414112345/21/X", "14"),  # 13-digit GTIN in the path
        ("/01/00614141123453/21/X", "check digit"),
        (f"/01/{DEMO_GTIN}", "serial"),  # no serial: not an item
        (f"/01/{DEMO_GTIN}/21/" + "S" * 21, "21"),
    ],
)
def test_malformed_links_answer_400_with_the_parsers_reason(
    client: TestClient, path: str, fragment: str
) -> None:
    response = client.get(path, headers=JSON)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400
    assert fragment in problem["detail"]


def test_every_scan_is_recorded_with_hashed_client_data_and_coarse_location(
    client: TestClient, demo_urls: dict[str, str], store: Store, services: Services
) -> None:
    before = scan(client, demo_urls["stolen"])["scan"]["count"]
    body = scan(
        client,
        demo_urls["stolen"],
        **{"user-agent": "pytest-phone", "x-veritag-location": "47.1367,7.2467"},
    )
    assert body["scan"]["count"] == before + 1
    assert body["scan"]["first_seen"] is not None
    from sqlmodel import Session, select  # noqa: PLC0415

    from ledger.store.models import Scan  # noqa: PLC0415

    assert services.scans is not None
    services.scans.flush()  # scans are written behind the answer
    with Session(store.engine) as db:
        row = db.exec(select(Scan).order_by(Scan.id.desc())).first()  # type: ignore[union-attr]
    assert row is not None
    assert (row.latitude, row.longitude) == (47.1, 7.2)
    assert row.ua_hash == hashlib.sha256(b"test-salt" + b"pytest-phone").hexdigest()
    assert "pytest-phone" not in row.model_dump_json()


def test_bad_location_header_is_a_400_that_says_what_is_expected(
    client: TestClient, demo_urls: dict[str, str]
) -> None:
    response = client.get(
        path_of(demo_urls["in_shop"]), headers={**JSON, "x-veritag-location": "north"}
    )
    assert response.status_code == 400
    assert "latitude,longitude" in response.json()["detail"]


def test_browsers_get_a_page_with_the_verdict_in_words(
    client: TestClient, demo_urls: dict[str, str]
) -> None:
    response = client.get(path_of(demo_urls["recalled"]), headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'data-verdict="recalled"' in response.text
    assert "Recalled" in response.text
    assert "/static/scan.css" in response.text


def test_demo_listing_exists_only_in_demo_mode(
    client: TestClient, demo_urls: dict[str, str], services: Services
) -> None:
    assert client.get("/v1/demo").json() == demo_urls
    plain = Services(services.registry, services.store)
    with TestClient(create_app(plain)) as other:
        assert other.get("/v1/demo").status_code == 404


def test_without_a_store_the_chain_still_answers(
    services: Services, demo_urls: dict[str, str]
) -> None:
    with TestClient(create_app(Services(services.registry))) as chain_only:
        body = scan(chain_only, demo_urls["recalled"])
    assert body["verdict"] == "recalled"
    assert body["scan"] == {"count": 0, "first_seen": None}
    assert body["item"]["product"] is None


def test_openapi_schema_documents_the_scan_route(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/01/{path}" in schema["paths"]
    assert "VerdictPublic" in schema["components"]["schemas"]


def test_a_document_stored_after_the_first_scan_is_shown_on_the_next(
    api_chain: Chain, api_registry: Registry, store: Store
) -> None:
    document = {"name": "Acme Field 40", "model": "AF40", "lot": "L7"}
    factory = api_chain.dev_accounts[2]  # the demo brand's factory line
    doc_hash = bytes(HexBytes(document_hash(document)))
    api_registry.register(factory, item_id(DEMO_GTIN, "LATE-DOC"), doc_hash)
    services = Services(api_registry, store)
    services.verdicts = VerdictCache(api_registry, head_ttl=0)  # see the registration at once
    url = f"http://testserver/01/{DEMO_GTIN}/21/LATE-DOC"

    with TestClient(create_app(services)) as client:
        first = scan(client, url)
        store.record_document(document)
        second = scan(client, url)

    assert first["verdict"] == "authentic"
    assert first["item"]["product"] is None
    assert second["item"]["product"] == document
