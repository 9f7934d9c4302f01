"""Rate limits on the public routes: a burst per client address or per API key, then 429."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.ratelimit import RateLimits, TokenBuckets
from api.services import Services
from ledger.store.orgs import Organisations, Role
from tests.api.conftest import path_of

ADDRESS_LIMIT = 3
KEY_LIMIT = 5


@pytest.fixture
def limited(services: Services) -> Iterator[TestClient]:
    """A fresh app (fresh buckets) on the module's services, with small limits."""
    app = create_app(services, rate_limits=RateLimits(ADDRESS_LIMIT, KEY_LIMIT))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def brand_key(organisations: Organisations) -> str:
    return organisations.create("Rate Limited Brand", Role.BRAND, brand_id=1)[1]


def scan(client: TestClient, url: str, **headers: str) -> int:
    response = client.get(path_of(url), headers={"accept": "application/json", **headers})
    return response.status_code


def test_a_client_address_gets_its_burst_then_429_with_retry_after(
    limited: TestClient, demo_urls: dict[str, str]
) -> None:
    codes = [scan(limited, demo_urls["in_shop"]) for _ in range(ADDRESS_LIMIT)]

    refused = limited.get(path_of(demo_urls["in_shop"]), headers={"accept": "application/json"})

    assert codes == [200] * ADDRESS_LIMIT
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "20"  # one token per 60/3 s, the bucket is empty
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json() == {
        "type": "about:blank",
        "title": "RateLimited",
        "status": 429,
        "detail": "more than 3 requests a minute from this client address; retry in 20 s",
        "retry_after": 20,
    }


def test_each_client_address_has_its_own_bucket(
    services: Services, demo_urls: dict[str, str]
) -> None:
    app = create_app(services, rate_limits=RateLimits(ADDRESS_LIMIT, KEY_LIMIT))
    url = demo_urls["recalled"]
    with (
        TestClient(app, client=("198.51.100.1", 1000)) as first,
        TestClient(app, client=("198.51.100.2", 1000)) as second,
    ):
        first_codes = [scan(first, url) for _ in range(ADDRESS_LIMIT + 1)]
        second_codes = [scan(second, url) for _ in range(ADDRESS_LIMIT + 1)]

    assert first_codes == [200, 200, 200, 429]
    assert second_codes == [200, 200, 200, 429]


def test_a_valid_api_key_gets_the_key_limit_instead_of_the_address_limit(
    limited: TestClient, demo_urls: dict[str, str], brand_key: str
) -> None:
    url = demo_urls["in_transit"]
    with_key = [scan(limited, url, authorization=f"Bearer {brand_key}") for _ in range(6)]
    refused = limited.get(path_of(url), headers={"x-api-key": brand_key})

    assert with_key == [200] * KEY_LIMIT + [429]
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "12"
    assert refused.json()["detail"] == (
        "more than 5 requests a minute from this API key; retry in 12 s"
    )
    assert scan(limited, url) == 200  # the address's own bucket is untouched


def test_an_unknown_key_counts_as_no_key(limited: TestClient, demo_urls: dict[str, str]) -> None:
    bogus = "vtk_00000000_" + "x" * 40

    codes = [scan(limited, demo_urls["stolen"], **{"x-api-key": bogus}) for _ in range(4)]

    assert codes == [200, 200, 200, 429]


def test_anonymous_reports_share_the_address_limit(
    limited: TestClient, demo_urls: dict[str, str]
) -> None:
    body = {"code": demo_urls["in_shop"], "kind": "suspected_fake"}

    codes = [limited.post("/v1/reports", json=body).status_code for _ in range(4)]

    assert codes == [201, 201, 201, 429]


def test_routes_other_than_scans_and_reports_are_not_limited(limited: TestClient) -> None:
    assert {limited.get("/healthz").status_code for _ in range(10)} == {200}


def test_a_bucket_refills_at_its_rate_up_to_its_size() -> None:
    now = [0.0]
    buckets = TokenBuckets(60, clock=lambda: now[0])

    burst = [buckets.take("a") for _ in range(60)]
    empty = buckets.take("a")
    now[0] += 1.0
    refilled = buckets.take("a")
    now[0] += 3600.0
    after_an_hour = [buckets.take("a") for _ in range(61)]

    assert burst == [0.0] * 60
    assert empty == pytest.approx(1.0)
    assert refilled == 0.0
    assert after_an_hour[:60] == [0.0] * 60  # never more than one burst saved up
    assert after_an_hour[60] == pytest.approx(1.0)


def test_full_buckets_are_forgotten_when_there_are_too_many() -> None:
    now = [0.0]
    buckets = TokenBuckets(60, clock=lambda: now[0], max_buckets=3)
    for name in "abc":
        buckets.take(name)
    now[0] += 60.0  # a, b, c have refilled

    buckets.take("d")

    assert len(buckets) == 1
