"""API keys on the wire: 401 without a valid key, 403 for the wrong role, as problems."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ledger.store.orgs import Organisations, Role
from tests.api.conftest import auth

CHECK = "/v1/listings/check"
BODY = {"listings": [{"listing_id": "L", "seller_id": "S", "code": "https://x.test/01/1/21/1"}]}


def test_no_key_is_401_with_how_to_send_one(client: TestClient) -> None:
    response = client.post(CHECK, json=BODY)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "Authorization: Bearer vtk_" in response.json()["detail"]


def test_a_malformed_key_is_401(client: TestClient) -> None:
    response = client.post(CHECK, json=BODY, headers=auth("secret"))
    assert response.status_code == 401
    assert response.json()["title"] == "AuthenticationRequired"


def test_the_x_api_key_header_works_too(client: TestClient, marketplace_key: str) -> None:
    response = client.get("/v1/metrics/takedowns", headers={"X-API-Key": marketplace_key})
    assert response.status_code == 200


def test_a_revoked_key_is_401(client: TestClient, organisations: Organisations) -> None:
    _, key = organisations.create("Short-lived Market", Role.MARKETPLACE)
    organisations.revoke(key[:12])
    response = client.get("/v1/metrics/takedowns", headers=auth(key))
    assert response.status_code == 401
    assert "was revoked" in response.json()["detail"]


def test_a_brand_key_cannot_check_listings(client: TestClient, brand_key: str) -> None:
    response = client.post(CHECK, json=BODY, headers=auth(brand_key))
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "not allowed to act for a marketplace: it needs a marketplace key, and Demo Brand is "
        "a brand"
    )
