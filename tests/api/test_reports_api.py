"""/v1/reports: consumers and marketplaces report suspected fakes; brands see and resolve them.

The demo brand (id 1) and its prefix are indexed into the store first, as the running
service's indexer would, so that reports find their brand.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from ledger.indexer import Indexer
from ledger.registry import Registry
from ledger.store.orgs import Organisations, Role
from ledger.store.repository import Store
from tests.api.conftest import UNKNOWN_GTIN, auth
from veritag.demo_seed import DEMO_GTIN

PROBLEM = "application/problem+json"
SELLER = "0x" + "5e" * 20


@pytest.fixture(scope="module", autouse=True)
def indexed(api_registry: Registry, store: Store, demo_urls: dict[str, str]) -> None:
    Indexer(api_registry, store.engine).sync()


@pytest.fixture(scope="module")
def other_brand_key(organisations: Organisations) -> str:
    return organisations.create("Other Brand", Role.BRAND, brand_id=2)[1]


@pytest.fixture(scope="module")
def market_one_id(organisations: Organisations, marketplace_key: str) -> int:
    return organisations.authenticate(marketplace_key).org_id


@pytest.fixture(scope="module")
def seller(client: TestClient, marketplace_key: str) -> str:
    """A seller of Market One (asking for a challenge makes it known)."""
    response = client.post(
        "/v1/sellers/S-1/challenge", json={"address": SELLER}, headers=auth(marketplace_key)
    )
    assert response.status_code == 200, response.text
    return "S-1"


def file(client: TestClient, body: dict[str, Any], key: str | None = None) -> Response:
    return client.post("/v1/reports", json=body, headers=auth(key) if key else {})


def filed(client: TestClient, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    response = file(client, body, key)
    assert response.status_code == 201, response.text
    report: dict[str, Any] = response.json()
    return report


def ids(client: TestClient, key: str, query: str = "") -> list[int]:
    response = client.get(f"/v1/reports{query}", headers=auth(key))
    assert response.status_code == 200, response.text
    return [report["id"] for report in response.json()["reports"]]


def problem(response: Response, status: int, title: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert (body["status"], body["title"]) == (status, title)
    detail: str = body["detail"]
    return detail


# ───────────── filing ─────────────


def test_a_consumer_reports_a_scanned_code_without_a_key(
    client: TestClient, demo_urls: dict[str, str]
) -> None:
    report = filed(
        client,
        {
            "code": demo_urls["in_shop"],
            "kind": "suspected_fake",
            "message": "The strap feels cheap.",
            "latitude": 52.5163,
            "longitude": 13.3777,
        },
    )

    assert {k: v for k, v in report.items() if k not in ("id", "item_id", "created_at")} == {
        "gtin": DEMO_GTIN,
        "serial": "DEMO-SHOP",
        "brand_id": 1,
        "kind": "suspected_fake",
        "message": "The strap feels cheap.",
        "latitude": 52.5,
        "longitude": 13.4,
        "reporter_org_id": None,
        "listing_id": None,
        "seller_id": None,
        "status": "open",
        "resolved_at": None,
    }


def test_a_report_may_name_the_item_by_gtin_and_serial(client: TestClient) -> None:
    report = filed(client, {"gtin": DEMO_GTIN, "serial": "FAKE-7", "kind": "counterfeit_purchase"})

    assert (report["gtin"], report["serial"], report["brand_id"]) == (DEMO_GTIN, "FAKE-7", 1)


def test_a_marketplace_reports_its_own_listing_and_seller(
    client: TestClient, marketplace_key: str, seller: str, market_one_id: int
) -> None:
    report = filed(
        client,
        {
            "gtin": DEMO_GTIN,
            "serial": "DEMO-SHOP",
            "kind": "listing",
            "listing_id": "L-1",
            "seller_id": seller,
        },
        marketplace_key,
    )

    assert (report["reporter_org_id"], report["listing_id"], report["seller_id"]) == (
        market_one_id,
        "L-1",
        seller,
    )


def test_a_marketplace_cannot_name_another_marketplaces_seller(
    client: TestClient, other_marketplace_key: str, seller: str
) -> None:
    response = file(
        client,
        {"gtin": DEMO_GTIN, "serial": "X1", "kind": "listing", "seller_id": seller},
        other_marketplace_key,
    )

    assert problem(response, 404, "NotFound") == "no seller 'S-1'"


def test_only_consumers_and_marketplaces_file_reports(client: TestClient, brand_key: str) -> None:
    response = file(client, {"gtin": DEMO_GTIN, "serial": "X1", "kind": "other"}, brand_key)

    assert problem(response, 403, "Forbidden") == (
        "not allowed to file a report: it needs a marketplace key, and Demo Brand is a brand"
    )


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"gtin": DEMO_GTIN, "serial": "X1", "kind": "rumour"},
            "cannot record report: kind 'rumour' is not one of suspected_fake, "
            "counterfeit_purchase, listing, other",
        ),
        (
            {"gtin": "12345", "serial": "X1", "kind": "other"},
            "cannot record report: invalid GTIN '12345': must be 8, 12, 13 or 14 digits, got 5",
        ),
        (
            {"gtin": DEMO_GTIN, "kind": "other"},
            "cannot record report: name the item by its code (a Digital Link) or by both gtin "
            "and serial",
        ),
        (
            {
                "code": "https://id.example/01/00614141123452/21/X1",
                "gtin": DEMO_GTIN,
                "kind": "other",
            },
            "cannot record report: name the item by its code or by gtin and serial, not both",
        ),
        (
            {"gtin": DEMO_GTIN, "serial": "X1", "kind": "other", "message": "x" * 2001},
            "cannot record report: its message has 2001 characters, at most 2000 are allowed",
        ),
        (
            {"gtin": DEMO_GTIN, "serial": "X1", "kind": "other", "latitude": 100, "longitude": 0},
            "cannot record report: latitude 100.0 is not between -90 and 90",
        ),
        (
            {"gtin": DEMO_GTIN, "serial": "X1", "kind": "listing", "seller_id": "S-1"},
            "cannot record report: only a marketplace, with its API key, names a listing or seller",
        ),
    ],
)
def test_a_malformed_report_is_a_422_saying_what_is_wrong(
    client: TestClient, body: dict[str, Any], detail: str
) -> None:
    assert problem(file(client, body), 422, "InvalidRecord") == detail


def test_a_code_that_names_no_single_item_is_a_400(client: TestClient) -> None:
    code = "https://id.example/01/00614141123452"

    response = file(client, {"code": code, "kind": "suspected_fake"})

    assert problem(response, 400, "InvalidDigitalLink") == (
        f"invalid GS1 Digital Link {code!r}: it names no single item; a report needs a GTIN "
        "with a serial"
    )


# ───────────── who sees what ─────────────


def test_each_caller_sees_the_reports_it_may(
    client: TestClient,
    brand_key: str,
    other_brand_key: str,
    marketplace_key: str,
    other_marketplace_key: str,
    registry_key: str,
    seller: str,
) -> None:
    consumer = filed(client, {"gtin": DEMO_GTIN, "serial": "SEEN-1", "kind": "other"})
    market = filed(
        client,
        {"gtin": DEMO_GTIN, "serial": "SEEN-2", "kind": "listing", "seller_id": seller},
        marketplace_key,
    )
    unbranded = filed(client, {"gtin": UNKNOWN_GTIN, "serial": "SEEN-3", "kind": "other"})
    mine = {consumer["id"], market["id"], unbranded["id"]}

    assert unbranded["brand_id"] is None
    assert [i for i in ids(client, brand_key) if i in mine] == [market["id"], consumer["id"]]
    assert [i for i in ids(client, other_brand_key) if i in mine] == []
    assert [i for i in ids(client, marketplace_key) if i in mine] == [market["id"]]
    assert [i for i in ids(client, other_marketplace_key) if i in mine] == []
    assert [i for i in ids(client, registry_key) if i in mine] == [
        unbranded["id"],
        market["id"],
        consumer["id"],
    ]


def test_listing_reports_needs_a_key_and_a_role_that_sees_them(
    client: TestClient, custodian_key: str
) -> None:
    assert problem(client.get("/v1/reports"), 401, "AuthenticationRequired").startswith(
        "authentication required"
    )
    assert problem(client.get("/v1/reports", headers=auth(custodian_key)), 403, "Forbidden") == (
        "not allowed to list reports: it needs a brand or marketplace or registry key, and "
        "Some Retailer is a custodian"
    )


def test_reports_can_be_filtered_by_status_and_a_bad_status_is_a_422(
    client: TestClient, brand_key: str
) -> None:
    report = filed(client, {"gtin": DEMO_GTIN, "serial": "FILTER-1", "kind": "other"})
    client.post(
        f"/v1/reports/{report['id']}/resolve", json={"status": "dismissed"}, headers=auth(brand_key)
    )

    assert report["id"] in ids(client, brand_key, "?status=dismissed")
    assert report["id"] not in ids(client, brand_key, "?status=open")
    bad = client.get("/v1/reports?status=closed", headers=auth(brand_key))
    assert problem(bad, 422, "InvalidRecord") == (
        "cannot record report: status 'closed' is not one of open, confirmed, dismissed"
    )


# ───────────── resolving ─────────────


def test_the_brand_confirms_a_marketplace_report_and_it_counts_against_the_seller(
    client: TestClient, brand_key: str, marketplace_key: str, seller: str
) -> None:
    before = client.get(f"/v1/sellers/{seller}", headers=auth(marketplace_key)).json()
    report = filed(
        client,
        {"gtin": DEMO_GTIN, "serial": "CONF-1", "kind": "listing", "seller_id": seller},
        marketplace_key,
    )

    response = client.post(
        f"/v1/reports/{report['id']}/resolve", json={"status": "confirmed"}, headers=auth(brand_key)
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "confirmed"
    assert response.json()["resolved_at"] is not None
    after = client.get(f"/v1/sellers/{seller}", headers=auth(marketplace_key)).json()
    assert after["confirmed_reports"] == before["confirmed_reports"] + 1


def test_resolving_twice_is_a_409(client: TestClient, brand_key: str) -> None:
    report = filed(client, {"gtin": DEMO_GTIN, "serial": "TWICE-1", "kind": "other"})
    path = f"/v1/reports/{report['id']}/resolve"
    first = client.post(path, json={"status": "dismissed"}, headers=auth(brand_key))

    second = client.post(path, json={"status": "confirmed"}, headers=auth(brand_key))

    assert first.status_code == 200
    assert problem(second, 409, "Conflict").startswith(
        f"report {report['id']}: it was already dismissed by organisation "
    )


def test_only_the_items_brand_resolves_a_report(
    client: TestClient, brand_key: str, other_brand_key: str, marketplace_key: str
) -> None:
    report = filed(client, {"gtin": DEMO_GTIN, "serial": "WHO-1", "kind": "other"})
    path = f"/v1/reports/{report['id']}/resolve"
    body = {"status": "confirmed"}

    anonymous = client.post(path, json=body)
    marketplace = client.post(path, json=body, headers=auth(marketplace_key))
    other_brand = client.post(path, json=body, headers=auth(other_brand_key))
    unknown = client.post("/v1/reports/999999/resolve", json=body, headers=auth(brand_key))
    reopen = client.post(path, json={"status": "open"}, headers=auth(brand_key))

    assert problem(anonymous, 401, "AuthenticationRequired").startswith("authentication")
    assert problem(marketplace, 403, "Forbidden") == (
        f"not allowed to resolve report {report['id']}: it needs a brand key, and Market One "
        "is a marketplace"
    )
    assert problem(other_brand, 403, "Forbidden") == (
        f"not allowed to resolve report {report['id']}: it is about an item of brand 1, and "
        "only its brand resolves it"
    )
    assert problem(unknown, 404, "NotFound") == "no report '999999'"
    assert problem(reopen, 422, "InvalidRecord") == (
        "cannot record resolution: a report is resolved as confirmed or dismissed"
    )
    assert report["id"] in ids(client, brand_key, "?status=open")
