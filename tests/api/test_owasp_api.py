"""The API against the OWASP API Security Top 10 (2023), where the other API tests stop.

What those already assert is not repeated here: another marketplace's listing, seller and
risk are 404 (``test_listings_api``, ``test_sellers_api``), another organisation's webhooks
and deliveries 404 (``test_webhooks_api``), another brand cannot resolve a report
(``test_reports_api``), missing, malformed and revoked keys are 401 (``test_auth``), more
than 1,000 listings a 422 and the scan and report rate limits 429 (``test_listings_api``,
``test_rate_limits``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from httpx2 import Response

from api.app import create_app
from api.ratelimit import DEFAULT_MAX_REQUEST_BYTES, RateLimits
from api.services import Services
from ledger.indexer import Indexer
from ledger.outbox import Outbox, Senders
from ledger.registry import Registry
from ledger.relay import Relayer
from ledger.store.orgs import Organisations, relayer_organisation
from ledger.store.repository import Store
from tests.api.conftest import auth, path_of
from veritag.demo_seed import DEMO_GTIN

PROBLEM = "application/problem+json"
ADDRESS = "0x" + "ab" * 20
WEBHOOK = "https://alerts.example.com/veritag"
REGISTER = {"items": [{"gtin": DEMO_GTIN, "serial": "OWASP-1"}]}


@pytest.fixture(scope="module", autouse=True)
def indexed(api_registry: Registry, store: Store, demo_urls: dict[str, str]) -> None:
    Indexer(api_registry, store.engine).sync()


@pytest.fixture(scope="module")
def keys(
    marketplace_key: str, brand_key: str, custodian_key: str, registry_key: str
) -> dict[str, str]:
    return {
        "marketplace": marketplace_key,
        "brand": brand_key,
        "custodian": custodian_key,
        "registry": registry_key,
    }


def problem(response: Response, status: int, title: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert (body["type"], body["status"], body["title"]) == ("about:blank", status, title)
    return body


# ───────────── API1: object-level authorisation ─────────────


def test_a_relay_receipt_never_shows_an_organisations_own_operation(
    services: Services, organisations: Organisations, brand_key: str, store: Store
) -> None:
    """``GET /v1/relay/{id}`` needs no key: it must find relayed requests and nothing else."""
    brand = organisations.authenticate(brand_key).org_id
    relayer = relayer_organisation(organisations).id
    Senders(store.engine).assign(brand, ADDRESS, services.registry.chain_id)
    own, _ = Outbox(store.engine).submit(brand, "owasp-1", "register", REGISTER)
    relayed_kind, _ = Outbox(store.engine).submit(relayer, "owasp-2", "register", REGISTER)
    relaying = Services(services.registry, store, relayer_org_id=relayer)
    relaying.relayer = Relayer(services.registry, Account.create())
    with TestClient(create_app(relaying), raise_server_exceptions=False) as client:
        for operation in (own, relayed_kind):
            body = problem(client.get(f"/v1/relay/{operation.id}"), 404, "NotFound")
            assert body["detail"] in {
                f"no operation {operation.id!r}",
                f"no relayed request {operation.id!r}",
            }


def test_another_marketplaces_listing_answers_exactly_like_one_that_does_not_exist(
    client: TestClient, marketplace_key: str, other_marketplace_key: str, demo_urls: dict[str, str]
) -> None:
    listing = {"listing_id": "OWASP-L1", "seller_id": "owasp-seller", "code": demo_urls["in_shop"]}
    client.post("/v1/listings/check", json={"listings": [listing]}, headers=auth(marketplace_key))

    theirs = client.get("/v1/listings/OWASP-L1", headers=auth(other_marketplace_key))
    missing = client.get("/v1/listings/OWASP-NONE", headers=auth(other_marketplace_key))

    assert problem(theirs, 404, "NotFound")["detail"] == "no listing 'OWASP-L1'"
    assert problem(missing, 404, "NotFound")["detail"] == "no listing 'OWASP-NONE'"
    assert theirs.headers.keys() == missing.headers.keys()


def test_a_listing_check_never_uses_another_marketplaces_seller_link(
    client: TestClient, marketplace_key: str, other_marketplace_key: str, demo_urls: dict[str, str]
) -> None:
    client.post(
        "/v1/sellers/owasp-only-mine/challenge",
        json={"address": ADDRESS},
        headers=auth(marketplace_key),
    )
    listing = {
        "listing_id": "OWASP-L2",
        "seller_id": "owasp-only-mine",
        "code": demo_urls["in_shop"],
    }

    answer = client.post(
        "/v1/listings/check", json={"listings": [listing]}, headers=auth(other_marketplace_key)
    )

    (result,) = answer.json()["results"]
    assert (result["status"], result["decision"]) == (404, None)
    assert result["problem"]["title"] == "NotFound"


# ───────────── API2: broken authentication ─────────────


@pytest.mark.parametrize("parameter", ["api_key", "key", "access_token", "token", "X-API-Key"])
def test_a_key_in_the_query_string_is_not_accepted(
    client: TestClient, marketplace_key: str, parameter: str
) -> None:
    response = client.get("/v1/webhooks", params={parameter: marketplace_key})

    assert problem(response, 401, "AuthenticationRequired")["detail"] == (
        "authentication required: send an API key as 'Authorization: Bearer vtk_…' or "
        "'X-API-Key: vtk_…'"
    )


def test_a_key_sent_with_another_scheme_than_bearer_is_not_accepted(
    client: TestClient, marketplace_key: str
) -> None:
    for scheme in ("Basic", "Token", "Digest"):
        response = client.get(
            "/v1/webhooks", headers={"Authorization": f"{scheme} {marketplace_key}"}
        )
        problem(response, 401, "AuthenticationRequired")


def test_an_invalid_bearer_key_is_not_rescued_by_a_valid_x_api_key(
    client: TestClient, marketplace_key: str
) -> None:
    response = client.get(
        "/v1/webhooks",
        headers={"Authorization": "Bearer vtk_00000000_nope", "X-API-Key": marketplace_key},
    )

    problem(response, 401, "AuthenticationRequired")


def test_a_key_with_a_real_prefix_and_a_wrong_secret_is_401_naming_only_the_prefix(
    client: TestClient, marketplace_key: str
) -> None:
    scheme, key_id, secret = marketplace_key.split("_", 2)  # vtk_<id>_<secret>
    prefix = f"{scheme}_{key_id}"
    forged = f"{prefix}_{'A' * len(secret)}"

    body = problem(client.get("/v1/webhooks", headers=auth(forged)), 401, "AuthenticationRequired")

    assert body["detail"] == f"authentication required: API key {prefix} is not valid"
    assert secret not in str(body)


@pytest.mark.parametrize(
    "key",
    ["vtk_", "vtk__", "vtk_x_y", "vtk_" + "a" * 10_000, "VTK_" + "a" * 40, "null", "' OR 1=1 --"],
)
def test_malformed_keys_are_401_problems(client: TestClient, key: str) -> None:
    problem(client.get("/v1/webhooks", headers={"X-API-Key": key}), 401, "AuthenticationRequired")


# ───────────── API3: object property level authorisation ─────────────


def test_unknown_fields_of_a_new_webhook_are_ignored_not_applied(
    client: TestClient,
    marketplace_key: str,
    other_marketplace_key: str,
    organisations: Organisations,
) -> None:
    other = organisations.authenticate(other_marketplace_key).org_id
    body = {
        "url": WEBHOOK,
        "kinds": ["recall"],
        "org_id": other,
        "id": 1,
        "secret": "whsec_chosen-by-the-caller",
        "created_at": "2000-01-01T00:00:00Z",
        "deleted_at": "2000-01-01T00:00:00Z",
    }

    response = client.post("/v1/webhooks", json=body, headers=auth(marketplace_key))

    created = response.json()
    assert response.status_code == 201, response.text
    assert created["secret"] != body["secret"]
    assert created["deleted_at"] is None
    assert not created["created_at"].startswith("2000")
    theirs = client.get(f"/v1/webhooks/{created['id']}", headers=auth(other_marketplace_key))
    problem(theirs, 404, "NotFound")


def test_a_listing_check_ignores_a_decision_or_marketplace_given_by_the_caller(
    client: TestClient,
    marketplace_key: str,
    other_marketplace_key: str,
    organisations: Organisations,
) -> None:
    mine = organisations.authenticate(marketplace_key).org_id
    other = organisations.authenticate(other_marketplace_key).org_id
    listing = {
        "listing_id": "OWASP-L3",
        "seller_id": "owasp-nobody",
        "gtin": DEMO_GTIN,
        "serial": "NEVER-REGISTERED",
        "decision": "allow",
        "status": 200,
        "verdict": {"verdict": "authentic"},
        "signature": "0x" + "00" * 65,
    }

    response = client.post(
        "/v1/listings/check",
        json={"listings": [listing], "marketplace": other},
        headers=auth(marketplace_key),
    )

    answer = response.json()
    (result,) = answer["results"]
    assert answer["marketplace"] == mine
    assert (result["status"], result["decision"], result["signature"]) == (404, None, None)


@pytest.mark.parametrize(
    ("method", "path", "role", "body"),
    [
        ("POST", "/v1/reports", None, {"gtin": DEMO_GTIN, "serial": "X", "kind": "other",
                                       "status": "confirmed"}),
        ("POST", "/v1/reports", None, {"gtin": DEMO_GTIN, "serial": "X", "kind": "other",
                                       "reporter_org_id": 1}),
        ("POST", "/v1/reports", None, {"gtin": DEMO_GTIN, "serial": "X", "kind": "other",
                                       "brand_id": 2}),
        ("POST", "/v1/reports/1/resolve", "brand", {"status": "confirmed", "brand_id": 2}),
        ("POST", "/v1/items/register", "brand", {"items": [{"gtin": DEMO_GTIN, "serial": "X"}],
                                                 "org_id": 1}),
        ("POST", "/v1/items/register", "brand", {"items": [{"gtin": DEMO_GTIN, "serial": "X",
                                                            "brand_id": 2}]}),
        ("POST", "/v1/sellers/S/challenge", "marketplace", {"address": ADDRESS,
                                                            "marketplace_id": 1}),
    ],
)  # fmt: skip
def test_privileged_fields_in_a_write_are_refused_with_a_422(
    client: TestClient,
    keys: dict[str, str],
    method: str,
    path: str,
    role: str | None,
    body: dict[str, Any],
) -> None:
    headers = (auth(keys[role]) if role else {}) | {"Idempotency-Key": "owasp-mass-assignment"}

    response = client.request(method, path, json=body, headers=headers)

    answer = problem(response, 422, "InvalidRequest")
    assert "Extra inputs are not permitted" in answer["detail"]


def test_a_site_is_recorded_at_its_path_address_whatever_the_body_says(
    client: TestClient, registry_key: str
) -> None:
    body = {
        "name": "Depot",
        "latitude": 1.0,
        "longitude": 2.0,
        "address": "0x" + "cd" * 20,
        "recorded_at": "2000-01-01T00:00:00Z",
    }

    response = client.put(f"/v1/sites/{ADDRESS}", json=body, headers=auth(registry_key))

    site = response.json()
    assert response.status_code == 200, response.text
    assert site["address"].lower() == ADDRESS
    assert not site["recorded_at"].startswith("2000")


def test_no_response_schema_has_a_field_for_a_key_hash_or_a_secret(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    secretive = ("hash_salt", "key_hash", "password", "private_key", "ip_hash", "ua_hash")

    fields = {
        (name, field)
        for name, schema in schemas.items()
        for field in schema.get("properties", {})
        if field in secretive or "secret" in field
    }

    assert fields == {("WebhookCreated", "secret")}  # shown once, to its creator


# ───────────── API4: unrestricted resource consumption ─────────────


def test_a_body_over_the_limit_is_a_413_problem_before_the_route_reads_it(
    client: TestClient, marketplace_key: str
) -> None:
    huge = b'{"listings": [' + b'"x",' * (DEFAULT_MAX_REQUEST_BYTES // 4) + b'"x"]}'

    response = client.post(
        "/v1/listings/check",
        content=huge,
        headers=auth(marketplace_key) | {"content-type": "application/json"},
    )

    assert problem(response, 413, "RequestTooLarge") == {
        "type": "about:blank",
        "title": "RequestTooLarge",
        "status": 413,
        "detail": "the request body is larger than 2097152 bytes; send less at a time "
        "(listing checks: at most 1,000 listings a request)",
        "max_bytes": 2097152,
    }


def test_a_chunked_body_without_a_length_is_cut_off_at_the_limit(services: Services) -> None:
    app = create_app(services, max_request_bytes=1000)

    def chunks() -> Iterator[bytes]:
        yield b'{"code": "'
        for _ in range(100):
            yield b"x" * 100
        yield b'", "kind": "other"}'

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(
            "/v1/reports", content=chunks(), headers={"content-type": "application/json"}
        )
        small = client.post(
            "/v1/reports", content=iter([b"{}"]), headers={"content-type": "application/json"}
        )

    assert problem(response, 413, "RequestTooLarge")["max_bytes"] == 1000
    assert problem(small, 422, "InvalidRequest")["detail"].startswith("body.kind: Field required")


def test_a_body_within_the_limit_is_answered_by_the_route(services: Services) -> None:
    app = create_app(services, max_request_bytes=100)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/v1/reports", json={"gtin": DEMO_GTIN})

    assert problem(response, 422, "InvalidRequest")["detail"].startswith("body.kind")


@pytest.mark.parametrize(
    ("path", "title", "detail"),
    [
        ("/v1/reports?limit=100000", "InvalidRecord",
         "cannot record report query: limit is 1 to 1000 and offset not negative"),
        ("/v1/reports?offset=99999999999999999999", "InvalidRequest",
         "query.offset: Input should be less than or equal to 2147483647"),
        ("/v1/operations?limit=100000", "InvalidRequest",
         "query.limit: Input should be less than or equal to 1000"),
        ("/v1/webhooks/99999999999/deliveries", "InvalidRequest",
         "path.webhook_id: Input should be less than or equal to 2147483647"),
    ],
)  # fmt: skip
def test_page_sizes_offsets_and_ids_are_bounded(
    client: TestClient, brand_key: str, path: str, title: str, detail: str
) -> None:
    response = client.get(path, headers=auth(brand_key))

    assert problem(response, 422, title)["detail"] == detail


def test_very_long_strings_are_refused_with_a_4xx_not_stored(
    client: TestClient, marketplace_key: str
) -> None:
    long_id = "L" * 100_000
    listing = {"listing_id": long_id, "seller_id": "s", "code": "https://x.test/01/1/21/1"}

    check = client.post(
        "/v1/listings/check", json={"listings": [listing]}, headers=auth(marketplace_key)
    )
    report = client.post(
        "/v1/reports", json={"gtin": DEMO_GTIN, "serial": "S", "kind": "other", "message": long_id}
    )
    hook = client.post(
        "/v1/webhooks",
        json={"url": f"https://example.com/{long_id}", "kinds": ["recall"]},
        headers=auth(marketplace_key),
    )

    assert problem(check, 422, "InvalidRequest")["detail"].startswith(
        "body.listings.0.listing_id: String should have at most 128 characters"
    )
    assert problem(report, 422, "InvalidRecord")["detail"].startswith("cannot record report")
    assert problem(hook, 422, "InvalidRecord")["detail"].startswith(
        "cannot record webhook: its URL is longer than"
    )


def test_the_relay_is_rate_limited_with_retry_after(services: Services) -> None:
    app = create_app(services, rate_limits=RateLimits(1, 1))
    body = {"sender": ADDRESS, "operation": "receive", "gtin": DEMO_GTIN, "serial": "X"}
    with TestClient(app, raise_server_exceptions=False) as client:
        first = client.post("/v1/relay/prepare", json=body)
        second = client.post("/v1/relay/prepare", json=body)
        relayed = client.post("/v1/relay", json={})

    assert first.status_code != 429  # answered by the route (here: no relayer is set up)
    for refused in (second, relayed):
        assert problem(refused, 429, "RateLimited")["retry_after"] == 60
        assert refused.headers["retry-after"] == "60"


# ───────────── API5: function-level authorisation ─────────────

ROLE_ROUTES: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    ("POST", "/v1/listings/check", {"listings": [{"listing_id": "L", "seller_id": "S",
                                                  "code": "https://x.test/01/1/21/1"}]},
     {"marketplace"}),
    ("GET", "/v1/listings/L", None, {"marketplace"}),
    ("DELETE", "/v1/listings/L", None, {"marketplace"}),
    ("POST", "/v1/sellers/S/challenge", {"address": ADDRESS}, {"marketplace"}),
    ("POST", "/v1/sellers/S/link", {"message": "m", "signature": "0x00"}, {"marketplace"}),
    ("GET", "/v1/sellers/S", None, {"marketplace"}),
    ("GET", "/v1/sellers/S/risk", None, {"marketplace"}),
    ("DELETE", f"/v1/sellers/S/addresses/{ADDRESS}", None, {"marketplace"}),
    ("POST", "/v1/reports", {"gtin": DEMO_GTIN, "serial": "X", "kind": "other"},
     {"marketplace"}),
    ("GET", "/v1/reports", None, {"brand", "marketplace", "registry"}),
    ("POST", "/v1/reports/1/resolve", {"status": "dismissed"}, {"brand"}),
    ("PUT", f"/v1/sites/{ADDRESS}", {"name": "n", "latitude": 0, "longitude": 0}, {"registry"}),
    ("GET", "/v1/metrics/takedowns", None, {"brand", "marketplace", "registry"}),
    ("POST", "/v1/items/register", {"items": [{"gtin": DEMO_GTIN, "serial": "X"}]}, {"brand"}),
    ("POST", f"/v1/items/{DEMO_GTIN}/X/ship", {"to": ADDRESS}, {"brand", "custodian"}),
    ("POST", f"/v1/items/{DEMO_GTIN}/X/receive", None, {"brand", "custodian"}),
    ("POST", f"/v1/items/{DEMO_GTIN}/X/transfer", {"to": ADDRESS}, {"brand", "custodian"}),
    ("POST", f"/v1/items/{DEMO_GTIN}/X/report-stolen", None, {"brand", "custodian"}),
]  # fmt: skip
NAMES = {
    "marketplace": "Market One",
    "brand": "Demo Brand",
    "custodian": "Some Retailer",
    "registry": "Registry Operator",
}


@pytest.mark.parametrize(
    ("method", "path", "body", "role"),
    [
        pytest.param(method, path, body, role, id=f"{method} {path} as {role}")
        for method, path, body, allowed in ROLE_ROUTES
        for role in sorted(set(NAMES) - allowed)
    ],
)
def test_a_role_restricted_route_refuses_every_other_role_with_403(
    client: TestClient,
    keys: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    role: str,
) -> None:
    headers = auth(keys[role]) | {"Idempotency-Key": f"owasp-{role}-{method}-{path}"}

    response = client.request(method, path, json=body, headers=headers)

    detail = problem(response, 403, "Forbidden")["detail"]
    assert detail.startswith("not allowed to ")
    assert detail.endswith(f"key, and {NAMES[role]} is a {role}") or detail.endswith(
        "they are for marketplaces, brands and the registry"
    )


# ───────────── API7: server-side request forgery ─────────────


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.1/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
    ],
)
def test_a_webhook_to_a_private_or_loopback_address_is_refused(
    client: TestClient, custodian_key: str, url: str
) -> None:
    response = client.post(
        "/v1/webhooks", json={"url": url, "kinds": ["recall"]}, headers=auth(custodian_key)
    )

    problem(response, 422, "InvalidRecord")


# ───────────── API8: security misconfiguration ─────────────


def test_an_unexpected_error_is_a_500_problem_without_trace_or_message(
    services: Services, monkeypatch: pytest.MonkeyPatch, marketplace_key: str
) -> None:
    def broken() -> None:
        raise RuntimeError("database password is hunter2 at /srv/veritag/secret.py")

    monkeypatch.setattr(services, "organisations", broken)
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        response = client.get("/v1/webhooks", headers=auth(marketplace_key))

    assert problem(response, 500, "InternalError") == {
        "type": "about:blank",
        "title": "InternalError",
        "status": 500,
        "detail": "an unexpected error occurred; it was logged",
    }
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text


def test_unknown_routes_and_methods_are_problems_with_the_allowed_methods(
    client: TestClient,
) -> None:
    missing = client.get("/v1/nothing-here")
    wrong_method = client.patch("/v1/webhooks")

    assert problem(missing, 404, "NotFound")["detail"] == "Not Found"
    assert problem(wrong_method, 405, "MethodNotAllowed")["detail"] == "Method Not Allowed"
    assert wrong_method.headers["allow"] == "GET, POST"


def test_no_cross_origin_access_is_granted(client: TestClient, demo_urls: dict[str, str]) -> None:
    origin = {"Origin": "https://evil.example"}

    preflight = client.options(
        "/v1/webhooks", headers=origin | {"Access-Control-Request-Method": "POST"}
    )
    scan = client.get(
        path_of(demo_urls["in_shop"]), headers=origin | {"accept": "application/json"}
    )

    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in scan.headers
    assert preflight.status_code == 405


def test_the_app_does_not_run_in_debug_mode(services: Services) -> None:
    assert create_app(services).debug is False
