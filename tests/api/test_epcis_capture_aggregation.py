"""``POST /v1/epcis/capture`` of AggregationEvents: packing into and unpacking from cases and
pallets named by SSCC, applied as ``pack``/``unpack`` operations under the contract's rules;
and of the ObjectEvents that ship and receive such a case or pallet, applied through
``applyEpcisEvent`` on its container id, with the event's hash recorded on chain.

A refused event refuses the whole document; an applied packing comes back in exports as the
AggregationEvent the chain's own event says, which ``verify_document`` bears out; an event
already captured is recognised by the store (the chain records no hash for a packing) or,
for a pallet's shipping or receiving, by the hash beside it.
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
from ledger.epcis.event_hash import hash_id_digest
from ledger.epcis.export import export_container, export_item, party_uri
from ledger.epcis.verify import verify_document
from ledger.identifiers import ItemId, check_digit, container_id, item_id
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
    serials = [f"AGG-{n}" for n in range(1, 14)]
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


def _moved(
    step: str, epc: str, when: str, *, to: str | None = None, action: str = "OBSERVE"
) -> dict[str, Any]:
    """An ObjectEvent of ``step`` on ``epc``; ``to`` (a party URI) its possessing party."""
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": when,
        "eventTimeZoneOffset": "+00:00",
        "epcList": [epc],
        "action": action,
        "bizStep": step,
    }
    if to is not None:
        event["destinationList"] = [{"type": "possessing_party", "destination": to}]
    return event


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


def _other_ledger(serials: list[str]) -> tuple[Registry, DemoRoles, list[ItemId]]:
    """A ledger on a chain of its own (the same dev accounts) where the demo factory holds
    the items ``serials``."""
    other_chain = connect_memory()
    roles = DemoRoles.from_dev_accounts(other_chain.dev_accounts)
    ledger = Registry.deploy(other_chain.w3, roles.admin)
    brand = ledger.admit_brand(roles.admin, roles.brand_admin.address, "Acme", [DEMO_PREFIX])
    ledger.add_operator(roles.brand_admin, brand, roles.factory.address)
    items = [item_id(DEMO_GTIN, s) for s in serials]
    for item in items:
        ledger.register(roles.factory, item)
    return ledger, roles, items


def _delivered_pallet(serials: list[str], pallet: str) -> tuple[Registry, list[ItemId]]:
    """A ledger of its own (:func:`_other_ledger`) where ``serials`` were packed onto
    ``pallet`` in one transaction, shipped to the retailer and received."""
    ledger, roles, items = _other_ledger(serials)
    ledger.pack(roles.factory, container_id(pallet), items)
    ledger.ship(roles.factory, container_id(pallet), roles.retailer.address)
    ledger.receive(roles.retailer, container_id(pallet))
    return ledger, items


def test_an_export_of_packing_on_another_ledger_packs_the_same_way_when_captured(
    capture_client: TestClient,
    brand_key: str,
    held: list[str],
    api_registry: Registry,
    run_submitter: Callable[[], None],
) -> None:
    serials = held[2:4]
    ledger_a, roles, items = _other_ledger(serials)
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


# ───────────── ObjectEvents on a case or pallet (SSCC) ─────────────


def _chain_moves(
    registry: Registry, sscc: str
) -> list[tuple[str, int, dict[str, Any], str | None]]:
    """The container's events on chain: (name, seq, arguments, hash recorded beside it)."""
    return [(e.name, e.seq, e.args, e.event_hash) for e in registry.history(container_id(sscc))]


def test_a_pallet_packed_and_shipped_by_capture_is_received_by_its_consignee_hashes_on_chain(
    capture_client: TestClient,
    brand_key: str,
    custodian_key: str,
    held: list[str],
    api_registry: Registry,
    demo_roles: DemoRoles,
    run_submitter: Callable[[], None],
) -> None:
    factory, retailer = demo_roles.factory.address, demo_roles.retailer.address
    pallet, pallet_urn = _sscc(61), _sscc_urn(61)
    pallet_id = container_id(pallet)
    items = [_sgtin(held[8]), _sgtin(held[9])]
    # Shipping listed first: events apply in eventTime order, so the packing opens the pallet.
    shipping = _moved(
        "shipping",
        pallet_urn,
        "2026-11-29T10:10:00Z",
        to=party_uri(api_registry.chain_id, retailer),
    )
    sent = _document(shipping, _aggregation("packing", pallet_urn, items, "2026-11-29T10:00:00Z"))
    receiving = _moved(
        "receiving",
        pallet_urn,
        "2026-11-29T14:00:00Z",
        to=party_uri(api_registry.chain_id, retailer),
    )

    shipped = _capture(capture_client, brand_key, sent)
    run_submitter()
    received = _capture(capture_client, custodian_key, _document(receiving))
    run_submitter()

    assert shipped.status_code == 202, shipped.text
    assert received.status_code == 202, received.text
    ship_id, receive_id = (
        shipped.json()["events"][-1]["eventID"],
        received.json()["events"][0]["eventID"],
    )
    assert [(e["index"], e["step"], e["item_id"]) for e in shipped.json()["events"]] == [
        (1, "packing", item_id(DEMO_GTIN, held[8]).hex()),
        (1, "packing", item_id(DEMO_GTIN, held[9]).hex()),
        (0, "shipping", pallet_id.hex()),
    ]
    assert _chain_moves(api_registry, pallet) == [
        ("ContainerCreated", 1, {"containerId": pallet_id.hex(), "by": factory}, None),
        ("ItemShipped", 2, {"from": factory, "to": retailer}, hash_id_digest(ship_id)),
        ("ItemReceived", 3, {"by": retailer}, hash_id_digest(receive_id)),
    ]
    for serial in held[8:10]:
        state = api_registry.item(item_id(DEMO_GTIN, serial))
        assert state is not None
        assert (state.container, state.custodian) == (pallet_id, retailer)
    again = _capture(capture_client, custodian_key, _document(receiving))
    assert _reasons(again) == [
        (0, f"it was already captured for {pallet_urn} (capture {received.json()['captureID']})")
    ]
    exported = capture_client.get(f"/v1/epcis/containers/{pallet}").json()
    packing, *moves = exported["epcisBody"]["eventList"]
    # The captured packing is one pack transaction: one event with both children, as the
    # chain says it (no hash of it is on chain), before the captured moves.
    assert (packing["parentID"], packing["childEPCs"], packing["action"]) == (
        pallet_urn,
        items,
        "ADD",
    )
    assert [e["eventID"] for e in moves] == [ship_id, receive_id]
    pack_tx = packing["veritag:txHash"]
    assert [(c.ok, c.findings) for c in verify_document(api_registry, exported)] == [
        (True, (f"{pallet_urn}: the chain's ItemPacked of 2 in transaction {pack_tx} says "
                "exactly this",)),
        *((True, (f"{pallet_urn}: recorded on chain with {e.name} (seq {e.seq}, block "
                  f"{e.block_number}, transaction {e.tx_hash})",))
          for e in api_registry.history(pallet_id)[1:]),
    ]  # fmt: skip
    # The items' exports carry the pallet's moves as captured, under the same event IDs.
    item_export = capture_client.get(f"/v1/epcis/items/{DEMO_GTIN}/{held[8]}").json()
    carried = [e for e in item_export["epcisBody"]["eventList"] if e.get("epcList") == [pallet_urn]]
    assert [e["eventID"] for e in carried] == [ship_id, receive_id]


def test_object_events_a_case_or_pallet_cannot_take_refuse_the_document_and_move_nothing(
    capture_client: TestClient,
    brand_key: str,
    held: list[str],
    store: Store,
    api_registry: Registry,
    demo_roles: DemoRoles,
) -> None:
    case, pallet = _sscc(62), _sscc(63)
    case_urn, pallet_urn, item = _sscc_urn(62), _sscc_urn(63), _sgtin(held[10])
    api_registry.pack(demo_roles.factory, container_id(case), [item_id(DEMO_GTIN, held[10])])
    api_registry.pack(demo_roles.factory, container_id(pallet), [container_id(case)])
    unknown = f"https://id.gs1.org/00/{_sscc(69)}"
    wrong_digit = _sscc(64)[:-1] + str((int(_sscc(64)[-1]) + 1) % 10)
    bad = f"https://id.gs1.org/00/{wrong_digit}"
    retailer = party_uri(api_registry.chain_id, demo_roles.retailer.address)
    before = _counts(store)
    document = _document(
        _moved("commissioning", pallet_urn, "2026-11-29T08:00:00Z", action="ADD"),
        _moved("retail_selling", pallet_urn, "2026-11-29T08:00:00Z"),
        _moved("decommissioning", pallet_urn, "2026-11-29T08:00:00Z", action="DELETE"),
        _moved("destroying", pallet_urn, "2026-11-29T08:00:00Z", action="DELETE"),
        _moved("shipping", unknown, "2026-11-29T08:00:00Z", to=retailer),
        _moved("receiving", pallet_urn, "2026-11-29T08:00:00Z"),
        _moved("shipping", case_urn, "2026-11-29T08:00:00Z", to=retailer),
        _moved("shipping", item, "2026-11-29T08:00:00Z", to=retailer),
        _moved("shipping", bad, "2026-11-29T08:00:00Z", to=retailer),
        # Applicable on its own; it leaves the pallet in transit for the one after it.
        _moved("shipping", pallet_urn, "2026-11-29T08:10:00Z", to=retailer),
        _aggregation("unpacking", pallet_urn, [case_urn], "2026-11-29T08:20:00Z"),
    )

    reasons = _reasons(_capture(capture_client, brand_key, document))

    assert reasons == [
        (0, f"{pallet_urn} is a case or pallet (SSCC): containers are not commissioned; the "
            "first packing into one (an AggregationEvent) opens it"),
        (1, f"{pallet_urn} is a case or pallet (SSCC): containers are not sold; unpack it and "
            "sell its items"),
        (2, f"{pallet_urn} is a case or pallet (SSCC): containers are not retired; unpack it "
            "and retire its items"),
        (3, f"{pallet_urn} is a case or pallet (SSCC): containers are not retired; unpack it "
            "and retire its items"),
        (4, f"{unknown} is not on the ledger: nothing was ever packed into it"),
        (5, f"{pallet_urn} is active, not in transit"),
        (6, f"{case_urn} is packed in {pallet_urn} and moves with it; it must be unpacked first"),
        (7, f"{item} is packed in {case_urn} and moves with it; it must be unpacked first"),
        (8, f"EPC {bad}: invalid SSCC '{wrong_digit}': check digit is {wrong_digit[-1]}, "
            f"expected {_sscc(64)[-1]}"),
        (10, f"{pallet_urn} is in transit, not active"),
    ]  # fmt: skip
    assert _counts(store) == before
    assert [e.name for e in api_registry.history(container_id(pallet))] == ["ContainerCreated"]


def test_a_pallets_export_from_another_ledger_captured_by_shipper_and_consignee_moves_alike(
    capture_client: TestClient,
    brand_key: str,
    custodian_key: str,
    held: list[str],
    api_registry: Registry,
    run_submitter: Callable[[], None],
) -> None:
    serials, pallet = held[11:13], _sscc(65)
    ledger_a, items = _delivered_pallet(serials, pallet)
    ssccs = {container_id(pallet).hex(): pallet}
    exported = export_container(ledger_a, pallet, ssccs=ssccs)
    packed_on_a, shipping, receiving = exported["epcisBody"]["eventList"]
    assert packed_on_a["childEPCs"] == [
        f"https://veritag.example/epcis/item/{item.hex()}" for item in items
    ]  # ledger A has no store to name them
    packing = [
        event
        for serial in serials
        for event in export_item(ledger_a, DEMO_GTIN, serial, ssccs=ssccs)["epcisBody"]["eventList"]
        if event["type"] == "AggregationEvent"
    ]
    # Each party captures the events it acts in: the packer packs and ships, the consignee
    # receives (a receipt is the consignee's to record, a shipment the custodian's).
    by_shipper = exported | {"epcisBody": {"eventList": [*packing, shipping]}}
    by_consignee = exported | {"epcisBody": {"eventList": [receiving]}}

    shipped = _capture(capture_client, brand_key, by_shipper)
    run_submitter()
    received = _capture(capture_client, custodian_key, by_consignee)
    run_submitter()

    assert shipped.status_code == 202, shipped.text
    assert received.status_code == 202, received.text
    captured = [e["eventID"] for e in shipped.json()["events"] + received.json()["events"]]
    assert captured == [e["eventID"] for e in (*packing, shipping, receiving)]
    on_a, on_b = _chain_moves(ledger_a, pallet), _chain_moves(api_registry, pallet)
    assert [m[:3] for m in on_b] == [m[:3] for m in on_a]
    assert [m[0] for m in on_b] == ["ContainerCreated", "ItemShipped", "ItemReceived"]
    assert [m[3] for m in on_b] == [
        None,
        hash_id_digest(shipping["eventID"]),
        hash_id_digest(receiving["eventID"]),
    ]
    for serial in serials:
        assert _moves(api_registry, serial) == _moves(ledger_a, serial)
    again = capture_client.get(f"/v1/epcis/containers/{pallet}").json()
    # Each captured packing was a pack transaction of its own: one event each.
    assert [(e["type"], e.get("childEPCs")) for e in again["epcisBody"]["eventList"][:2]] == [
        ("AggregationEvent", p["childEPCs"]) for p in packing
    ]
    assert [e["eventID"] for e in again["epcisBody"]["eventList"][2:]] == [
        shipping["eventID"],
        receiving["eventID"],
    ]
    checks = verify_document(api_registry, again)
    assert [c.ok for c in checks] == [True] * 4, [c.findings for c in checks]


def test_a_pallets_own_export_with_its_contents_named_captured_elsewhere_packs_alike(
    capture_client: TestClient,
    brand_key: str,
    custodian_key: str,
    held: list[str],
    api_registry: Registry,
    run_submitter: Callable[[], None],
) -> None:
    serials, pallet = held[6:8], _sscc(66)
    ledger_a, items = _delivered_pallet(serials, pallet)
    codes = {item.hex(): (DEMO_GTIN, serial) for item, serial in zip(items, serials, strict=True)}
    exported = export_container(ledger_a, pallet, ssccs={}, items=codes)
    packing, shipping, receiving = exported["epcisBody"]["eventList"]

    shipped = _capture(
        capture_client, brand_key, exported | {"epcisBody": {"eventList": [packing, shipping]}}
    )
    run_submitter()
    received = _capture(
        capture_client, custodian_key, exported | {"epcisBody": {"eventList": [receiving]}}
    )
    run_submitter()

    assert (shipped.status_code, received.status_code) == (202, 202), shipped.text
    for serial in serials:
        assert _moves(api_registry, serial) == _moves(ledger_a, serial)
    again = capture_client.get(f"/v1/epcis/containers/{pallet}").json()["epcisBody"]["eventList"]
    assert [(e["type"], e.get("parentID"), e.get("childEPCs")) for e in again] == [
        ("AggregationEvent", _sscc_urn(66), [_sgtin(s) for s in serials]),
        ("ObjectEvent", None, None),
        ("ObjectEvent", None, None),
    ]
    assert packing["childEPCs"] == again[0]["childEPCs"]
    assert [e["eventID"] for e in again[1:]] == [shipping["eventID"], receiving["eventID"]]
