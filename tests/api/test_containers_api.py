"""Container writes: pack items into a pallet, ship it, receive it, unpack it, by SSCC."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from api.services import Services
from api.verdict_cache import VerdictCache, indexed_verdict
from ledger.identifiers import check_digit, container_id, item_id
from ledger.registry import Registry
from ledger.store import Store
from ledger.store.containers import Containers
from ledger.verify import ContainerLink, verify_item
from tests.api.conftest import auth
from veritag.demo_seed import DEMO_GTIN, DemoRoles


def sscc(reference: int) -> str:
    payload = f"00614141{reference:09d}"
    return payload + str(check_digit(payload))


PALLET = sscc(7001)


def post(client: TestClient, path: str, key: str, idempotency: str, **body: object):  # type: ignore[no-untyped-def]
    headers = auth(key) | {"Idempotency-Key": idempotency}
    return client.post(path, json=body or None, headers=headers)


def status_of(client: TestClient, answer, key: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    assert answer.status_code in (200, 202), answer.json()
    body: dict[str, object] = client.get(answer.json()["location"], headers=auth(key)).json()
    return body


def test_a_pallet_packed_by_the_brand_is_shipped_received_and_unpacked_by_the_retailer(
    client: TestClient,
    brand_key: str,
    custodian_key: str,
    demo_roles: DemoRoles,
    api_registry: Registry,
    store: Store,
    run_submitter: Callable[[], None],
) -> None:
    serials = ["PAL-1", "PAL-2"]
    items = [{"gtin": DEMO_GTIN, "serial": s} for s in serials]
    post(client, "/v1/items/register", brand_key, "pal-reg", items=items)
    run_submitter()

    packed = post(client, f"/v1/containers/{PALLET}/pack", brand_key, "pal-pack", items=items)
    run_submitter()
    shipped = post(
        client, f"/v1/containers/{PALLET}/ship", brand_key, "pal-ship",
        to=demo_roles.retailer.address,
    )  # fmt: skip
    run_submitter()
    received = post(client, f"/v1/containers/{PALLET}/receive", custodian_key, "pal-recv")
    run_submitter()

    for answer, key in ((packed, brand_key), (shipped, brand_key), (received, custodian_key)):
        assert status_of(client, answer, key)["status"] == "confirmed"
    first = item_id(DEMO_GTIN, "PAL-1")
    state = api_registry.item(first)
    assert state is not None
    assert (state.custodian, state.container) == (
        demo_roles.retailer.address,
        container_id(PALLET),
    )
    indexed = store.item(first)
    assert indexed is not None
    assert (indexed.custodian, indexed.container_id) == (
        demo_roles.retailer.address,
        container_id(PALLET).hex(),
    )
    assert Containers(store.engine).sscc(container_id(PALLET).hex()) == PALLET

    unpacked = post(
        client, f"/v1/containers/{PALLET}/unpack", custodian_key, "pal-unpack", items=items[:1]
    )
    run_submitter()
    assert status_of(client, unpacked, custodian_key)["status"] == "confirmed"
    state = api_registry.item(first)
    assert state is not None
    assert (state.custodian, state.container) == (demo_roles.retailer.address, None)


def test_a_malformed_sscc_in_the_url_is_a_400_problem(client: TestClient, brand_key: str) -> None:
    answer = post(
        client, "/v1/containers/123/pack", brand_key, "pal-bad",
        items=[{"gtin": DEMO_GTIN, "serial": "X"}],
    )  # fmt: skip

    assert answer.status_code == 400  # a malformed code in a URL, as for items
    assert answer.json()["title"] == "InvalidSSCC"
    assert answer.json()["detail"] == "invalid SSCC '123': must be 18 digits, got 3"


def test_a_retailer_cannot_ship_a_pallet_the_brand_holds(
    client: TestClient,
    brand_key: str,
    custodian_key: str,
    demo_roles: DemoRoles,
    run_submitter: Callable[[], None],
) -> None:
    other = sscc(7002)
    items = [{"gtin": DEMO_GTIN, "serial": "PAL-3"}]
    post(client, "/v1/items/register", brand_key, "pal-reg-3", items=items)
    run_submitter()
    post(client, f"/v1/containers/{other}/pack", brand_key, "pal-pack-3", items=items)
    run_submitter()

    answer = post(
        client, f"/v1/containers/{other}/ship", custodian_key, "pal-steal",
        to=demo_roles.distributor.address,
    )  # fmt: skip

    assert answer.status_code == 403
    assert answer.json()["detail"] == (
        f"not allowed to ship container: item {container_id(other).hex()} is held by "
        f"{demo_roles.factory.address}, which is not an account of Some Retailer"
    )


def test_a_scan_shows_the_pallet_an_item_is_in_and_the_moves_it_made_in_it(
    client: TestClient,
    brand_key: str,
    custodian_key: str,
    demo_roles: DemoRoles,
    run_submitter: Callable[[], None],
    services: Services,
    api_registry: Registry,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every scan reads the newest block: the shared cache may answer from one up to half a
    # second old, from before the unpack.
    monkeypatch.setattr(services, "verdicts", VerdictCache(api_registry, store=store, head_ttl=0))

    def confirmed(answer, key: str) -> None:  # type: ignore[no-untyped-def]
        run_submitter()
        status = status_of(client, answer, key)
        assert status["status"] == "confirmed", status

    pallet = sscc(7003)
    link = f"https://id.gs1.org/00/{pallet}"
    items = [{"gtin": DEMO_GTIN, "serial": "PAL-SCAN"}]
    confirmed(post(client, "/v1/items/register", brand_key, "scan-reg", items=items), brand_key)
    confirmed(
        post(client, f"/v1/containers/{pallet}/pack", brand_key, "scan-pack", items=items),
        brand_key,
    )
    confirmed(
        post(
            client, f"/v1/containers/{pallet}/ship", brand_key, "scan-ship",
            to=demo_roles.retailer.address,
        ),
        brand_key,
    )  # fmt: skip

    body = client.get(f"/01/{DEMO_GTIN}/21/PAL-SCAN", headers={"accept": "application/json"})
    verdict = body.json()

    assert verdict["verdict"] == "authentic"
    assert verdict["item"]["status"] == "in_transit"
    assert verdict["containers"] == [
        {"container_id": container_id(pallet).hex(), "sscc": pallet, "link": link, "current": True}
    ]
    steps = [(s["event"], (s.get("container") or {}).get("sscc")) for s in verdict["custody"]]
    assert steps == [
        ("BatchItemRegistered", None),
        ("ItemPacked", None),
        ("ItemShipped", pallet),
    ]
    assert [e["seq"] for e in verdict["proof"]["events"]] == [1, 2]  # the item's own events

    page = client.get(f"/01/{DEMO_GTIN}/21/PAL-SCAN", headers={"accept": "text/html"})
    assert f'<a href="{link}">SSCC {pallet}</a>' in page.text
    assert 'data-testid="via-container"' in page.text

    confirmed(
        post(client, f"/v1/containers/{pallet}/receive", custodian_key, "scan-recv"), custodian_key
    )
    confirmed(
        post(client, f"/v1/containers/{pallet}/unpack", custodian_key, "scan-unpack", items=items),
        custodian_key,
    )
    after = client.get(
        f"/01/{DEMO_GTIN}/21/PAL-SCAN", headers={"accept": "application/json"}
    ).json()
    assert after["containers"] == [
        {"container_id": container_id(pallet).hex(), "sscc": pallet, "link": link, "current": False}
    ]
    assert [s["event"] for s in after["custody"]][-3:] == [
        "ItemShipped",
        "ItemReceived",
        "ItemUnpacked",
    ]


def test_a_pallets_epcis_history_names_it_by_its_sscc_urn(
    client: TestClient, brand_key: str, run_submitter: Callable[[], None]
) -> None:
    pallet = sscc(7004)
    items = [{"gtin": DEMO_GTIN, "serial": "PAL-EPCIS"}]
    post(client, "/v1/items/register", brand_key, "epcis-reg", items=items)
    run_submitter()
    post(client, f"/v1/containers/{pallet}/pack", brand_key, "epcis-pack", items=items)
    run_submitter()

    document = client.get(f"/v1/epcis/containers/{pallet}")
    missing = client.get(f"/v1/epcis/containers/{sscc(7005)}")

    assert document.status_code == 200
    assert document.headers["content-type"] == "application/ld+json"
    assert missing.status_code == 404
    item = client.get(f"/v1/epcis/items/{DEMO_GTIN}/PAL-EPCIS").json()
    packed = item["epcisBody"]["eventList"][-1]
    assert (packed["type"], packed["bizStep"], packed["parentID"]) == (
        "AggregationEvent",
        "packing",
        f"urn:epc:id:sscc:0614141.0{7004:09d}",
    )
    # Created, nothing moved yet: the pallet's history is what was packed into it, the one
    # packing of its one item, which is the item's own packing event (its seq as a list).
    (packing,) = document.json()["epcisBody"]["eventList"]
    assert (packing["action"], packing["childEPCs"]) == (
        "ADD",
        ["urn:epc:id:sgtin:0614141.012345.PAL-EPCIS"],
    )
    assert packing == packed | {"veritag:seq": [packed["veritag:seq"]]}


def test_the_index_answers_a_packed_items_journey_as_the_chain_does(
    client: TestClient,
    brand_key: str,
    demo_roles: DemoRoles,
    api_registry: Registry,
    store: Store,
    run_submitter: Callable[[], None],
) -> None:
    case, pallet = sscc(7006), sscc(7007)
    items = [{"gtin": DEMO_GTIN, "serial": "PAL-NEST"}]
    post(client, "/v1/items/register", brand_key, "nest-reg", items=items)
    run_submitter()
    post(client, f"/v1/containers/{case}/pack", brand_key, "nest-case", items=items)
    run_submitter()
    post(client, f"/v1/containers/{pallet}/pack", brand_key, "nest-pal", items=[{"sscc": case}])
    run_submitter()
    post(
        client, f"/v1/containers/{pallet}/ship", brand_key, "nest-ship",
        to=demo_roles.retailer.address,
    )  # fmt: skip
    run_submitter()

    on_chain = verify_item(api_registry, DEMO_GTIN, "PAL-NEST")
    indexed = indexed_verdict(
        store, DEMO_GTIN, "PAL-NEST", chain_id=api_registry.chain_id, contract=api_registry.address
    )

    assert on_chain.containers == (
        ContainerLink(container_id(case).hex(), current=True),
        ContainerLink(container_id(pallet).hex(), current=True),
    )
    assert indexed.containers == on_chain.containers
    assert [(s.event, s.container, s.transaction) for s in indexed.custody] == [
        (s.event, s.container, s.transaction) for s in on_chain.custody
    ]
    assert [s.event for s in on_chain.custody] == [
        "BatchItemRegistered",
        "ItemPacked",
        "ItemPacked",  # the case onto the pallet
        "ItemShipped",  # the pallet
    ]
    assert on_chain.state is not None
    assert (on_chain.state.status.name, indexed.verdict) == ("IN_TRANSIT", on_chain.verdict)
