"""/v1/webhooks: an organisation manages its own webhooks and reads their delivery log; the
app's lifespan runs the delivery worker that sends alerts to a real receiver."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from ledger.alerts import AlertKind, DeliveryWorker, publish, verify
from ledger.registry import Registry
from ledger.store.database import make_engine, migrate
from ledger.store.orgs import Organisations, Role
from ledger.store.repository import Store
from tests.api.conftest import auth
from tests.ledger.test_alerts_delivery import Receiver, receiver  # noqa: F401 - a fixture

URL = "https://alerts.example.com/veritag"


def create(client: TestClient, key: str, **body: Any) -> dict[str, Any]:
    response = client.post(
        "/v1/webhooks", json={"url": URL, "kinds": ["recall"], **body}, headers=auth(key)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def org_id(organisations: Organisations, key: str) -> int:
    return organisations.authenticate(key).org_id


def test_create_answers_201_with_the_secret_once_and_list_never_shows_it(
    client: TestClient, custodian_key: str
) -> None:
    created = create(client, custodian_key, kinds=["theft", "recall"])
    assert set(created) == {"id", "url", "kinds", "created_at", "deleted_at", "secret"}
    assert created["url"] == URL
    assert created["kinds"] == ["recall", "theft"]
    assert created["deleted_at"] is None
    assert created["secret"].startswith("whsec_")

    listed = client.get("/v1/webhooks", headers=auth(custodian_key)).json()
    mine = [w for w in listed if w["id"] == created["id"]]
    assert mine == [{k: v for k, v in created.items() if k != "secret"}]
    assert (
        "secret"
        not in client.get(f"/v1/webhooks/{created['id']}", headers=auth(custodian_key)).json()
    )


def test_create_points_to_the_new_webhook(client: TestClient, registry_key: str) -> None:
    response = client.post(
        "/v1/webhooks", json={"url": URL, "kinds": ["report"]}, headers=auth(registry_key)
    )
    assert response.headers["location"] == f"/v1/webhooks/{response.json()['id']}"


def test_one_organisation_never_sees_anothers_webhooks(
    client: TestClient, marketplace_key: str, other_marketplace_key: str
) -> None:
    theirs = create(client, marketplace_key)["id"]
    mine = client.get("/v1/webhooks", headers=auth(other_marketplace_key)).json()
    assert theirs not in [w["id"] for w in mine]
    for method, path in [
        ("GET", f"/v1/webhooks/{theirs}"),
        ("DELETE", f"/v1/webhooks/{theirs}"),
        ("GET", f"/v1/webhooks/{theirs}/deliveries"),
    ]:
        response = client.request(method, path, headers=auth(other_marketplace_key))
        body = problem(response, 404)
        assert (body["title"], body["detail"]) == ("NotFound", f"no webhook '{theirs}'")
    assert client.get(f"/v1/webhooks/{theirs}", headers=auth(marketplace_key)).status_code == 200


def test_delete_answers_204_and_the_webhook_is_gone(client: TestClient, brand_key: str) -> None:
    webhook = create(client, brand_key)["id"]
    response = client.delete(f"/v1/webhooks/{webhook}", headers=auth(brand_key))
    assert (response.status_code, response.content) == (204, b"")
    listed = client.get("/v1/webhooks", headers=auth(brand_key)).json()
    assert webhook not in [w["id"] for w in listed]
    again = client.delete(f"/v1/webhooks/{webhook}", headers=auth(brand_key))
    assert problem(again, 404)["detail"] == f"no webhook '{webhook}'"
    deleted = client.get(f"/v1/webhooks/{webhook}", headers=auth(brand_key)).json()
    assert deleted["deleted_at"] is not None


def test_the_delivery_log_shows_each_alert_with_its_payload_and_attempts(
    client: TestClient, services: Services, organisations: Organisations, marketplace_key: str
) -> None:
    webhook = create(client, marketplace_key, kinds=["listing_blocked"])["id"]
    market = org_id(organisations, marketplace_key)
    alert = publish(
        services.engine,
        AlertKind.LISTING_BLOCKED,
        data={"listing_id": "L-9"},
        org_ids=[market],
        alert_id="listing-L-9",
    )
    response = client.get(f"/v1/webhooks/{webhook}/deliveries", headers=auth(marketplace_key))
    assert response.status_code == 200
    (delivery,) = response.json()
    assert delivery["alert_id"] == alert
    assert delivery["kind"] == "listing_blocked"
    assert (delivery["status"], delivery["attempts"], delivery["log"]) == ("pending", 0, [])
    assert delivery["payload"]["data"] == {"listing_id": "L-9"}
    assert delivery["next_attempt_at"] is not None


@pytest.mark.parametrize("path", ["/v1/webhooks", "/v1/webhooks/1", "/v1/webhooks/1/deliveries"])
def test_without_a_key_every_route_answers_401(client: TestClient, path: str) -> None:
    body = problem(client.get(path), 401)
    assert body["title"] == "AuthenticationRequired"
    assert problem(client.post("/v1/webhooks", json={"url": URL, "kinds": ["recall"]}), 401)


def test_a_revoked_key_answers_401(client: TestClient, organisations: Organisations) -> None:
    _, key = organisations.create("Short-lived Market", Role.MARKETPLACE)
    organisations.revoke(key[:12])
    body = problem(client.get("/v1/webhooks", headers=auth(key)), 401)
    assert body["detail"] == f"authentication required: API key {key[:12]} was revoked"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"url": URL, "kinds": ["recall", "weather"]},
            "cannot record webhook: alert kind 'weather' is not one of recall, theft, "
            "clone_signal, listing_blocked, report",
        ),
        (
            {"url": URL, "kinds": []},
            "cannot record webhook: it must subscribe to at least one alert kind",
        ),
        (
            {"url": "ftp://example.com/hook", "kinds": ["recall"]},
            "cannot record webhook: URL 'ftp://example.com/hook' must be an absolute http:// "
            "or https:// URL with a host",
        ),
    ],
)
def test_a_bad_subscription_answers_422_with_what_is_wrong(
    client: TestClient, marketplace_key: str, body: dict[str, Any], detail: str
) -> None:
    answer = problem(client.post("/v1/webhooks", json=body, headers=auth(marketplace_key)), 422)
    assert (answer["title"], answer["detail"]) == ("InvalidRecord", detail)


def test_a_log_limit_out_of_range_answers_422(client: TestClient, marketplace_key: str) -> None:
    webhook = create(client, marketplace_key)["id"]
    response = client.get(
        f"/v1/webhooks/{webhook}/deliveries?limit=0", headers=auth(marketplace_key)
    )
    assert problem(response, 422)["detail"] == (
        "cannot record delivery log request: limit must be 1 to 500"
    )


def test_the_worker_started_by_the_app_lifespan_delivers_signed_alerts(
    api_registry: Registry,
    tmp_path: Path,
    receiver: Receiver,  # noqa: F811 - the fixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'veritag.sqlite'}")
    migrate(engine)
    _, key = Organisations(engine).create("Lifespan Brand", Role.BRAND, brand_id=1)
    # The receiver listens on 127.0.0.1, which only this setting lets a webhook reach.
    services = Services(api_registry, Store(engine), webhook_private_destinations=True)
    services.background.append(
        DeliveryWorker(engine, poll_interval=0.02, allow_private_destinations=True)
    )
    try:
        with TestClient(create_app(services)) as client:
            created = create(client, key, url=receiver.url)
            alert = publish(engine, AlertKind.RECALL, data={"item_id": "0x01"}, brand_id=1)

            (request,) = receiver.wait_for(1)
            assert request.json()["id"] == alert
            signature = request.headers["veritag-signature"]
            verify(created["secret"], signature, request.body, now=services.clock())
            log_path = f"/v1/webhooks/{created['id']}/deliveries"
            deadline = time.monotonic() + 10
            while (log := client.get(log_path, headers=auth(key)).json())[0]["status"] == (
                "pending"
            ) and time.monotonic() < deadline:
                time.sleep(0.02)  # the attempt is recorded just after the receiver answers
            assert (log[0]["status"], [a["status_code"] for a in log[0]["log"]]) == (
                "delivered",
                [200],
            )
        assert not any(t.name == "veritag-webhooks" for t in threading.enumerate())
    finally:
        engine.dispose()
