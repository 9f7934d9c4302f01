"""``POST /v1/epcis/capture`` of AggregationEvents: packing into and unpacking from cases and
pallets named by SSCC, applied as ``pack``/``unpack`` operations under the contract's rules.

A refused event refuses the whole document; an applied packing comes back in exports as the
AggregationEvent the chain's own event says, which ``verify_document`` bears out; an event
already captured is recognised by the store (the chain records no hash for a packing).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from api.app import create_app
from api.services import Services
from ledger.chain import connect_memory
from ledger.epcis.export import export_item, party_uri
from ledger.epcis.verify import verify_document
from ledger.identifiers import check_digit, container_id, item_id
from ledger.registry import Registry
from ledger.store.database import session
from ledger.store.operation_models import CapturedEvent, Operation
from ledger.store.repository import Store
from tests.api.conftest import auth
from veritag.demo_seed import DEMO_GTIN, DEMO_PREFIX, DemoRoles

CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
ITEM_REFERENCE = "012345"  # DEMO_GTIN's item reference (with its indicator digit)


def _sscc(reference: int) -> str:
    payload = f"0{DEMO_PREFIX}{reference:09d}"
    return payload + str(check_digit(payload))


def _sscc_urn(reference: int) -> str:
    return f"urn:epc:id:sscc:{DEMO_PREFIX}.0{reference:09d}"


def _sgtin(serial: str) -> str:
    return f"urn:epc:id:sgtin:{DEMO_PREFIX}.{ITEM_REFERENCE}.{serial}"


CASE, PALLET, OTHER_CASE, SHOP_CASE = _sscc(21), _sscc(22), _sscc(23), _sscc(24)
CASE_URN, OTHER_CASE_URN, SHOP_CASE_URN = _sscc_urn(21), _sscc_urn(23), _sscc_urn(24)
PALLET_LINK = f"https://id.gs1.org/00/{PALLET}"
PALLET_URN = _sscc_urn(22)


@pytest.fixture(scope="module")
def capture_client(services: Services, senders: dict[str, int]) -> Iterator[TestClient]:
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def held(api_registry: Registry, demo_roles: DemoRoles) -> list[str]:
    """Serials of items the brand's sending account holds, registered and not packed."""
    serials = [f"AGG-{n}" for n in range(1, 9)]
    api_registry.register_batch(
        demo_roles.factory,
        [item_id(DEMO_GTIN, s) for s in serials],
        b"\x00" * 32,
        ["0x" + "00" * 20] * len(serials),
    )
    return serials


def _aggregation(
    step: str, parent: str | None, children: list[str], when: str, **fields: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "AggregationEvent",
        "eventTime": when,
        "eventTimeZoneOffset": "+00:00",
        "childEPCs": children,
        "action": {"packing": "ADD", "unpacking": "DELETE"}.get(step, "OBSERVE"),
        "bizStep": step,
    }
    if parent is not None:
        event["parentID"] = parent
    return event | fields


def _document(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": [CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-28T10:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }


def _capture(client: TestClient, key: str, document: dict[str, Any]) -> Any:
    headers = auth(key) | {"Content-Type": "application/ld+json"}
    return client.post("/v1/epcis/capture", content=json.dumps(document), headers=headers)


def _reasons(answer: Any) -> list[tuple[int | None, str]]:
    assert answer.status_code == 422, answer.text
    return [(e["index"], e["reason"]) for e in answer.json()["data"]["errors"]]


def _counts(store: Store) -> tuple[int, int]:
    with session(store.engine) as db:
        operations = db.exec(select(func.count()).select_from(Operation)).one()
        captured = db.exec(select(func.count()).select_from(CapturedEvent)).one()
    return int(operations), int(captured)


def _moves(registry: Registry, record: str) -> list[tuple[str, str | None]]:
    """The record's aggregation events on chain: (name, container id)."""
    ident = container_id(record) if len(record) == 18 else item_id(DEMO_GTIN, record)
    return [
        (e.name, e.args.get("containerId"))
        for e in registry.history(ident)
        if e.name in ("ItemPacked", "ItemUnpacked")
    ]


def test_packing_and_unpacking_are_applied_and_exported_as_aggregation_events_verify_accepts(
    capture_client: TestClient,
    brand_key: str,
    held: list[str],
    api_registry: Registry,
    demo_roles: DemoRoles,
    run_submitter: Callable[[], None],
) -> None:
    first, second = held[0], held[1]
    packing = _document(
        _aggregation("packing", CASE_URN, [_sgtin(first), _sgtin(second)], "2026-11-28T09:00:00Z"),
        _aggregation("packing", PALLET_LINK, [CASE_URN], "2026-11-28T09:10:00Z"),
    )

    answer = _capture(capture_client, brand_key, packing)

    assert answer.status_code == 202, answer.text
    job = answer.json()
    case_id, pallet_id = container_id(CASE).hex(), container_id(PALLET).hex()
    assert [(e["index"], e["step"], e["item_id"]) for e in job["events"]] == [
        (0, "packing", item_id(DEMO_GTIN, first).hex()),
        (0, "packing", item_id(DEMO_GTIN, second).hex()),
        (1, "packing", case_id),
    ]
    # One transaction per AggregationEvent, whatever its number of children.
    assert job["events"][0]["operation_id"] == job["events"][1]["operation_id"]
    run_submitter()
    unpacking = _document(
        _aggregation("unpacking", PALLET_URN, [CASE_URN], "2026-11-28T15:00:00Z"),
        _aggregation("unpacking", CASE_URN, [_sgtin(second)], "2026-11-28T15:10:00Z"),
    )
    assert _capture(capture_client, brand_key, unpacking).status_code == 202
    run_submitter()

    followed = capture_client.get(job["location"], headers=auth(brand_key)).json()
    assert (followed["running"], followed["success"]) == (False, True)
    assert _moves(api_registry, first) == [("ItemPacked", case_id)]
    assert _moves(api_registry, second) == [("ItemPacked", case_id), ("ItemUnpacked", case_id)]
    assert _moves(api_registry, CASE) == [("ItemPacked", pallet_id), ("ItemUnpacked", pallet_id)]
    unpacked = api_registry.history(item_id(DEMO_GTIN, second))[-1]
    assert unpacked.args["by"] == demo_roles.factory.address
    state = api_registry.item(item_id(DEMO_GTIN, first))
    assert state is not None
    assert (state.container, state.custodian) == (container_id(CASE), demo_roles.factory.address)

    exported = capture_client.get(f"/v1/epcis/items/{DEMO_GTIN}/{first}").json()
    aggregations = [
        (e["action"], e["bizStep"], e["parentID"], e["childEPCs"])
        for e in exported["epcisBody"]["eventList"]
        if e["type"] == "AggregationEvent"
    ]
    assert aggregations == [
        ("ADD", "packing", CASE_URN, [_sgtin(first)]),
        ("ADD", "packing", PALLET_URN, [CASE_URN]),
        ("DELETE", "unpacking", PALLET_URN, [CASE_URN]),
    ]
    checks = verify_document(api_registry, exported)
    assert [c.ok for c in checks] == [True] * len(checks), [c.findings for c in checks]


def test_an_export_of_packing_on_another_ledger_packs_the_same_way_when_captured(
    capture_client: TestClient,
    brand_key: str,
    held: list[str],
    api_registry: Registry,
    run_submitter: Callable[[], None],
) -> None:
    serials = held[2:4]
    other_chain = connect_memory()
    roles = DemoRoles.from_dev_accounts(other_chain.dev_accounts)
    ledger_a = Registry.deploy(other_chain.w3, roles.admin)
    brand = ledger_a.admit_brand(roles.admin, roles.brand_admin.address, "Acme", [DEMO_PREFIX])
    ledger_a.add_operator(roles.brand_admin, brand, roles.factory.address)
    items = [item_id(DEMO_GTIN, s) for s in serials]
    for item in items:
        ledger_a.register(roles.factory, item)
    ledger_a.pack(roles.factory, container_id(OTHER_CASE), items)
    ledger_a.pack(roles.factory, container_id(PALLET), [container_id(OTHER_CASE)])
    ssccs = {container_id(s).hex(): s for s in (OTHER_CASE, PALLET)}
    exported = export_item(ledger_a, DEMO_GTIN, serials[0], ssccs=ssccs)
    body = exported["epcisBody"]
    body["eventList"] = [e for e in body["eventList"] if e["type"] == "AggregationEvent"]
    second = export_item(ledger_a, DEMO_GTIN, serials[1], ssccs=ssccs)["epcisBody"]["eventList"]
    body["eventList"].insert(1, next(e for e in second if e["type"] == "AggregationEvent"))

    answer = _capture(capture_client, brand_key, exported)

    assert answer.status_code == 202, answer.text
    assert [e["eventID"] for e in answer.json()["events"]] == [
        e["eventID"] for e in body["eventList"]
    ]
    run_submitter()
    for serial in serials:
        assert _moves(api_registry, serial) == _moves(ledger_a, serial)
    assert _moves(api_registry, OTHER_CASE) == _moves(ledger_a, OTHER_CASE)
    assert _moves(api_registry, OTHER_CASE) == [("ItemPacked", container_id(PALLET).hex())]


def test_aggregation_events_the_ledger_cannot_apply_are_refused_naming_what_is_wrong(
    capture_client: TestClient, brand_key: str, held: list[str], store: Store
) -> None:
    item = _sgtin(held[4])
    before = _counts(store)
    document = _document(
        _aggregation("packing", CASE_URN, [item], "2026-11-28T08:00:00Z", action="OBSERVE"),
        _aggregation("receiving", CASE_URN, [item], "2026-11-28T08:00:00Z", action="ADD"),
        _aggregation("packing", None, [item], "2026-11-28T08:00:00Z"),
        _aggregation(
            "packing", CASE_URN, [], "2026-11-28T08:00:00Z",
            childQuantityList=[{"epcClass": f"urn:epc:class:lgtin:{DEMO_PREFIX}.012345.L1",
                                "quantity": 10}],
        ),
        _aggregation("packing", _sgtin(held[5]), [item], "2026-11-28T08:00:00Z"),
        _aggregation("unpacking", CASE_URN, [], "2026-11-28T08:00:00Z"),
        _aggregation("packing", CASE_URN, [item, item], "2026-11-28T08:00:00Z"),
        _aggregation("packing", CASE_URN, ["urn:epc:id:sgln:0614141.00001.0"],
                     "2026-11-28T08:00:00Z"),
    )  # fmt: skip

    reasons = _reasons(_capture(capture_client, brand_key, document))

    assert reasons == [
        (0, "a packing event must have action ADD, not 'OBSERVE'"),
        (1, "bizStep 'receiving' is not one the ledger applies to an AggregationEvent "
            "(packing, unpacking)"),
        (2, "it has no parentID: the ledger packs into and unpacks from a case or pallet "
            "named by its SSCC"),
        (3, "it counts quantities of a class (childQuantityList); the ledger packs individual "
            "items and cases, named in childEPCs"),
        (4, f"its parentID {_sgtin(held[5])} is not an SSCC (urn:epc:id:sscc:… or a Digital "
            "Link with AI 00): the ledger packs into cases and pallets only"),
        (5, "its childEPCs names nothing to unpack: the ledger unpacks the items and cases an "
            "event lists, one by one"),
        (6, f"its childEPCs names {item} twice"),
        (7, "EPC urn:epc:id:sgln:0614141.00001.0: invalid GS1 Digital Link "
            "'https://id.gs1.org/414/0614141000012': it names neither an individual item "
            "(SGTIN) nor a case (SSCC)"),
    ]  # fmt: skip
    assert _counts(store) == before


def test_packing_against_the_chain_rules_refuses_the_document_and_packs_nothing(
    capture_client: TestClient,
    brand_key: str,
    held: list[str],
    store: Store,
    api_registry: Registry,
    demo_roles: DemoRoles,
) -> None:
    factory, retailer = demo_roles.factory.address, demo_roles.retailer.address
    shop_item = item_id(DEMO_GTIN, "DEMO-SHOP")
    api_registry.pack(demo_roles.retailer, container_id(SHOP_CASE), [shop_item])
    free, other = _sgtin(held[6]), _sgtin(held[7])
    inner, outer, top = _sscc_urn(31), _sscc_urn(32), _sscc_urn(33)
    before = _counts(store)
    document = _document(
        # Applicable on their own: they set the state the later events are judged in.
        _aggregation("packing", inner, [free], "2026-11-28T09:00:00Z"),
        _aggregation("packing", outer, [inner], "2026-11-28T09:01:00Z"),
        # Refused, each for what the contract would revert with.
        _aggregation("packing", top, [outer], "2026-11-28T09:02:00Z"),
        _aggregation("packing", inner, [other], "2026-11-28T09:03:00Z"),
        _aggregation("packing", top, [free], "2026-11-28T09:04:00Z"),
        _aggregation("packing", top, [_sgtin("DEMO-TRANSIT")], "2026-11-28T09:05:00Z"),
        _aggregation("packing", SHOP_CASE_URN, [other], "2026-11-28T09:06:00Z"),
        _aggregation("unpacking", outer, [free], "2026-11-28T09:07:00Z"),
        _aggregation("unpacking", top, [other], "2026-11-28T09:08:00Z"),
        _aggregation("packing", top, [top], "2026-11-28T09:09:00Z"),
        {
            "type": "ObjectEvent",
            "eventTime": "2026-11-28T09:10:00Z",
            "eventTimeZoneOffset": "+00:00",
            "epcList": [free],
            "action": "OBSERVE",
            "bizStep": "shipping",
            "destinationList": [
                {"type": "possessing_party",
                 "destination": party_uri(api_registry.chain_id, retailer)}
            ],
        },
    )  # fmt: skip

    reasons = _reasons(_capture(capture_client, brand_key, document))

    assert reasons == [
        (2, f"{outer} holds cases itself, so it cannot be packed into {top}: containers nest "
            "at most two levels above an item (item → case → pallet)"),
        (3, f"{inner} is packed in {outer} and moves with it; it must be unpacked first"),
        (4, f"{free} is packed in {inner} and moves with it; it must be unpacked first"),
        (5, f"{_sgtin('DEMO-TRANSIT')} is in transit, not active"),
        (6, f"{SHOP_CASE_URN} is held by {retailer}, not by the capturing organisation's "
            f"account {factory}"),
        (7, f"{free} is not in {outer}; it is packed in {inner}"),
        (8, f"{top} is not on the ledger: nothing was ever packed into it"),
        (9, f"{top} cannot be packed into itself"),
        (10, f"{free} is packed in {inner} and moves with it; it must be unpacked first"),
    ]  # fmt: skip
    assert _counts(store) == before
    assert _moves(api_registry, held[6]) == []
    assert _moves(api_registry, SHOP_CASE) == []


def test_an_aggregation_event_already_captured_is_refused_naming_its_capture(
    capture_client: TestClient, brand_key: str, held: list[str]
) -> None:
    document = _document(
        _aggregation("packing", _sscc_urn(41), [_sgtin(held[5])], "2026-11-28T11:00:00Z")
    )
    first = _capture(capture_client, brand_key, document).json()

    again = _capture(capture_client, brand_key, document)

    assert _reasons(again) == [
        (0, f"it was already captured for {_sgtin(held[5])} (capture {first['captureID']})")
    ]


def test_a_pallet_already_holding_cases_on_chain_is_not_packed_again(
    capture_client: TestClient,
    brand_key: str,
    held: list[str],
    api_registry: Registry,
    demo_roles: DemoRoles,
) -> None:
    case, pallet = _sscc(51), _sscc(52)
    item = item_id(DEMO_GTIN, held[4])
    api_registry.pack(demo_roles.factory, container_id(case), [item])
    api_registry.pack(demo_roles.factory, container_id(pallet), [container_id(case)])
    document = _document(
        _aggregation("packing", _sscc_urn(53), [_sscc_urn(52)], "2026-11-28T12:00:00Z"),
        _aggregation("unpacking", _sscc_urn(52), [_sgtin(held[4])], "2026-11-28T12:01:00Z"),
        _aggregation("unpacking", _sscc_urn(52), [_sscc_urn(51)], "2026-11-28T12:02:00Z"),
    )

    reasons = _reasons(_capture(capture_client, brand_key, document))

    assert reasons == [
        (0, f"{_sscc_urn(52)} holds cases itself, so it cannot be packed into {_sscc_urn(53)}: "
            "containers nest at most two levels above an item (item → case → pallet)"),
        (1, f"{_sgtin(held[4])} is not in {_sscc_urn(52)}; it is packed in {_sscc_urn(51)}"),
    ]  # fmt: skip
