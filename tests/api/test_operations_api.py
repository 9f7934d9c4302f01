"""Write endpoints: 202 with an operation to follow, idempotent retries, who may move what."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from web3 import Web3

from ledger.identifiers import item_id
from ledger.registry import Registry
from tests.api.conftest import auth
from veritag.demo_seed import DEMO_GTIN, DemoRoles

BRAND_HOLDS = "API-1"


def code(serial: str) -> dict[str, str]:
    return {"gtin": DEMO_GTIN, "serial": serial}


def post(client: TestClient, path: str, key: str, idempotency: str | None, **body: object):  # type: ignore[no-untyped-def]
    headers = auth(key) | ({"Idempotency-Key": idempotency} if idempotency else {})
    return client.post(path, json=body or None, headers=headers)


def test_a_registration_is_accepted_then_confirmed(
    client: TestClient, brand_key: str, run_submitter: Callable[[], None], api_registry: Registry
) -> None:
    answer = post(client, "/v1/items/register", brand_key, "reg-1", items=[code(BRAND_HOLDS)])

    assert answer.status_code == 202
    body = answer.json()
    assert body["status"] == "queued"
    assert body["location"] == f"/v1/operations/{body['operation_id']}"
    assert answer.headers["Location"] == body["location"]

    run_submitter()
    operation = client.get(body["location"], headers=auth(brand_key)).json()
    assert operation["status"] == "confirmed"
    assert operation["kind"] == "register"
    assert operation["error"] is None
    receipt = api_registry.w3.eth.get_transaction_receipt(operation["tx_hash"])
    assert operation["block"] == receipt["blockNumber"]
    assert api_registry.item(item_id(DEMO_GTIN, BRAND_HOLDS)) is not None


def test_a_retry_with_the_same_key_and_request_answers_200_with_the_same_operation(
    client: TestClient, brand_key: str
) -> None:
    first = post(client, "/v1/items/register", brand_key, "reg-2", items=[code("API-2")])
    again = post(client, "/v1/items/register", brand_key, "reg-2", items=[code("API-2")])

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]


def test_the_same_key_with_another_request_is_a_conflict(
    client: TestClient, brand_key: str
) -> None:
    first = post(client, "/v1/items/register", brand_key, "reg-3", items=[code("API-3")])
    other = post(client, "/v1/items/register", brand_key, "reg-3", items=[code("API-4")])

    assert other.status_code == 409
    assert other.json()["title"] == "Conflict"
    assert other.json()["detail"] == (
        "idempotency key 'reg-3': it was used for another register request (operation "
        f"{first.json()['operation_id']}); use a new key for a new request"
    )


def test_a_write_without_an_idempotency_key_is_a_400_problem(
    client: TestClient, brand_key: str
) -> None:
    answer = post(client, "/v1/items/register", brand_key, None, items=[code("API-5")])

    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == "IdempotencyKeyRequired"
    assert answer.json()["detail"] == (
        "cannot record the write request: send an 'Idempotency-Key' header (a fresh UUID per "
        "request) so that retries are never applied twice"
    )


def test_a_malformed_gtin_is_refused_before_anything_is_stored(
    client: TestClient, brand_key: str
) -> None:
    answer = post(
        client, "/v1/items/register", brand_key, "reg-6", items=[{"gtin": "123", "serial": "X"}]
    )

    assert answer.status_code == 422
    assert answer.json()["detail"] == (
        "cannot record register request, item 1: invalid GTIN '123': "
        "must be 8, 12, 13 or 14 digits, got 3"
    )


def test_more_items_than_the_registry_batch_size_are_refused(
    client: TestClient, brand_key: str, api_registry: Registry
) -> None:
    size = api_registry.max_batch_size
    items = [code(f"MANY-{n}") for n in range(size + 1)]

    answer = post(client, "/v1/items/register", brand_key, "reg-7", items=items)

    assert answer.status_code == 422
    assert answer.json()["detail"] == (
        f"cannot record register request: {size + 1} items is more than the registry's batch "
        f"size of {size}; split them over several requests"
    )


def test_a_custodian_cannot_register_items(client: TestClient, custodian_key: str) -> None:
    answer = post(client, "/v1/items/register", custodian_key, "reg-8", items=[code("API-8")])

    assert answer.status_code == 403
    assert answer.json()["detail"] == (
        "not allowed to register items: it needs a brand key, and Some Retailer is a custodian"
    )


def test_a_brand_cannot_move_an_item_a_retailer_holds(
    client: TestClient,
    brand_key: str,
    demo_roles: DemoRoles,
    run_submitter: Callable[[], None],
) -> None:
    run_submitter()  # the index knows the demo items
    shop_item = item_id(DEMO_GTIN, "DEMO-SHOP")

    answer = post(
        client,
        f"/v1/items/{DEMO_GTIN}/DEMO-SHOP/transfer",
        brand_key,
        "move-1",
        to=demo_roles.distributor.address,
    )

    assert answer.status_code == 403
    assert answer.json()["detail"] == (
        f"not allowed to transfer item: item {shop_item.hex()} is held by "
        f"{demo_roles.retailer.address}, which is not an account of Demo Brand"
    )


def test_the_chains_refusal_fails_the_operation_with_the_decoded_error(
    client: TestClient,
    brand_key: str,
    demo_roles: DemoRoles,
    api_registry: Registry,
    run_submitter: Callable[[], None],
) -> None:
    # Registered outside the service, so the index cannot tell: the chain decides.
    unseen = item_id(DEMO_GTIN, "OUTSIDE-1")
    api_registry.register(demo_roles.factory, unseen)
    api_registry.transfer(demo_roles.factory, unseen, demo_roles.distributor.address)

    answer = post(
        client,
        f"/v1/items/{DEMO_GTIN}/OUTSIDE-1/ship",
        brand_key,
        "move-2",
        to=demo_roles.retailer.address,
    )
    assert answer.status_code == 202
    run_submitter()

    operation = client.get(answer.json()["location"], headers=auth(brand_key)).json()
    assert operation["status"] == "failed"
    assert operation["tx_hash"] is None
    assert operation["error"]["name"] == "NotCustodian"
    assert operation["error"]["data"] == {
        "itemId": unseen.hex(),
        "custodian": demo_roles.distributor.address,
        "caller": demo_roles.factory.address,
    }


def test_an_item_shipped_by_the_brand_is_received_by_the_retailer(
    client: TestClient,
    brand_key: str,
    custodian_key: str,
    demo_roles: DemoRoles,
    api_registry: Registry,
    run_submitter: Callable[[], None],
) -> None:
    post(client, "/v1/items/register", brand_key, "reg-ship", items=[code("SHIP-1")])
    run_submitter()
    shipped = post(
        client, f"/v1/items/{DEMO_GTIN}/SHIP-1/ship", brand_key, "ship-1",
        to=demo_roles.retailer.address,
    )  # fmt: skip
    run_submitter()
    received = post(client, f"/v1/items/{DEMO_GTIN}/SHIP-1/receive", custodian_key, "recv-1")
    run_submitter()

    assert (shipped.status_code, received.status_code) == (202, 202)
    for answer, key in ((shipped, brand_key), (received, custodian_key)):
        assert client.get(answer.json()["location"], headers=auth(key)).json()["status"] == (
            "confirmed"
        )
    state = api_registry.item(item_id(DEMO_GTIN, "SHIP-1"))
    assert state is not None
    assert state.custodian == Web3.to_checksum_address(demo_roles.retailer.address)


def test_another_organisations_operation_is_a_404(
    client: TestClient, brand_key: str, custodian_key: str
) -> None:
    mine = post(client, "/v1/items/register", brand_key, "reg-9", items=[code("API-9")])

    theirs = client.get(mine.json()["location"], headers=auth(custodian_key))

    assert theirs.status_code == 404
    assert theirs.json()["detail"] == f"no operation {mine.json()['operation_id']!r}"


def test_operations_are_listed_newest_first_for_their_organisation_only(
    client: TestClient, brand_key: str, custodian_key: str
) -> None:
    mine = client.get("/v1/operations?limit=1000", headers=auth(brand_key)).json()
    theirs = client.get("/v1/operations?limit=1000", headers=auth(custodian_key)).json()

    assert [op["id"] for op in mine] == sorted((op["id"] for op in mine), reverse=True)
    assert {op["id"] for op in mine}.isdisjoint(op["id"] for op in theirs)
    assert all(op["kind"] == "receive" for op in theirs)
