"""``POST /v1/epcis/capture``: partners' EPCIS events applied through the outbox, hashes on chain.

The whole document is checked before anything is recorded; a refused document changes
nothing; applied events come back in exports exactly as captured, and their hash IDs are
the digests the chain recorded next to the item events they caused.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from api.app import create_app
from api.services import Services
from ledger.epcis.event_hash import document_hash_ids, event_hash_id
from ledger.epcis.export import party_uri
from ledger.identifiers import item_id
from ledger.identifiers.epc_urn import epc_urn_to_digital_link
from ledger.identifiers.item_link import gtin_and_serial
from ledger.registry import Registry, Status
from ledger.store.database import session
from ledger.store.operation_models import CapturedEvent, Operation
from ledger.store.repository import Store
from ledger.store.signals import SignalStore
from tests.api.conftest import auth
from tests.conftest import conformance_dir
from veritag.demo_seed import DEMO_GTIN, DemoRoles

SCHEMA = conformance_dir() / "gs1-EPCIS" / "EPCIS-JSON-Schema.json"
EXAMPLES = conformance_dir() / "gs1-EPCIS" / "JSON"
PURCHASE_ORDER = "urn:epcglobal:cbv:bt:0614141073467:PO-1"
CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


@pytest.fixture(scope="module")
def schema_services(services: Services) -> Services:
    if not SCHEMA.exists():
        pytest.skip(f"GS1 EPCIS schema absent: {SCHEMA} (see the conformance README)")
    services.epcis_schema = SCHEMA
    return services


@pytest.fixture(scope="module")
def capture_client(schema_services: Services, senders: dict[str, int]) -> Iterator[TestClient]:
    with TestClient(create_app(schema_services), raise_server_exceptions=False) as client:
        yield client


def _link(serial: str) -> str:
    return f"https://id.gs1.org/01/{DEMO_GTIN}/21/{serial}"


def _event(step: str, serial: str, when: str, **fields: Any) -> dict[str, Any]:
    action = {"commissioning": "ADD", "decommissioning": "DELETE", "destroying": "DELETE"}
    return {
        "type": "ObjectEvent",
        "eventTime": when,
        "eventTimeZoneOffset": "+01:00",
        "epcList": [_link(serial)],
        "action": action.get(step, "OBSERVE"),
        "bizStep": step,
        **fields,
    }


def _document(
    *events: dict[str, Any], extra_context: dict[str, str] | None = None
) -> dict[str, Any]:
    context: list[Any] = [CONTEXT] + ([extra_context] if extra_context else [])
    return {
        "@context": context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-28T10:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }


def _capture(
    client: TestClient, key: str, document: dict[str, Any], behaviour: str | None = None
) -> Any:
    headers = auth(key) | {"Content-Type": "application/ld+json"}
    if behaviour is not None:
        headers["GS1-Capture-Error-Behaviour"] = behaviour
    return client.post("/v1/epcis/capture", content=json.dumps(document), headers=headers)


def _counts(store: Store) -> tuple[int, int]:
    with session(store.engine) as db:
        operations = db.exec(select(func.count()).select_from(Operation)).one()
        captured = db.exec(select(func.count()).select_from(CapturedEvent)).one()
    return int(operations), int(captured)


def test_commissioning_shipping_and_receiving_are_applied_and_exported_as_captured(
    capture_client: TestClient,
    brand_key: str,
    custodian_key: str,
    demo_roles: DemoRoles,
    api_registry: Registry,
    run_submitter: Callable[[], None],
) -> None:
    shop = party_uri(api_registry.chain_id, demo_roles.retailer.address)
    sent = _document(
        _event(
            "commissioning", "EPCIS-1", "2026-11-28T09:00:00.000+01:00",
            disposition="active", **{"example:lot": "L-7"},
        ),
        _event(
            "shipping", "EPCIS-1", "2026-11-28T09:30:00.000+01:00",
            disposition="in_transit",
            destinationList=[{"type": "possessing_party", "destination": shop}],
            bizTransactionList=[{"type": "po", "bizTransaction": PURCHASE_ORDER}],
        ),
        extra_context={"example": "http://ns.example.com/epcis/"},
    )  # fmt: skip

    answer = _capture(capture_client, brand_key, sent)

    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert answer.headers["Location"] == job["location"] == f"/v1/epcis/capture/{job['captureID']}"
    assert [(e["index"], e["step"], e["status"]) for e in job["events"]] == [
        (0, "commissioning", "queued"),
        (1, "shipping", "queued"),
    ]
    assert [e["eventID"] for e in job["events"]] == document_hash_ids(sent)
    assert (job["running"], job["success"], job["errors"]) == (True, False, [])

    run_submitter()
    received = _document(
        _event("receiving", "EPCIS-1", "2026-11-28T15:00:00.000+01:00", disposition="in_progress")
    )
    assert _capture(capture_client, custodian_key, received).status_code == 202
    run_submitter()

    followed = capture_client.get(job["location"], headers=auth(brand_key)).json()
    assert [e["status"] for e in followed["events"]] == ["confirmed", "confirmed"]
    assert (followed["running"], followed["success"]) == (False, True)
    state = api_registry.item(item_id(DEMO_GTIN, "EPCIS-1"))
    assert state is not None
    assert (state.status, state.custodian) == (Status.ACTIVE, demo_roles.retailer.address)

    history = api_registry.history(item_id(DEMO_GTIN, "EPCIS-1"))
    recorded = [e.event_hash for e in history]
    expected_ids = document_hash_ids(sent) + document_hash_ids(received)
    assert recorded == ["0x" + i.split(";")[1].split("?")[0] for i in expected_ids]

    exported = capture_client.get(f"/v1/epcis/items/{DEMO_GTIN}/EPCIS-1").json()
    events = exported["epcisBody"]["eventList"]
    assert [e["eventID"] for e in events] == expected_ids
    assert document_hash_ids(exported) == expected_ids
    assert events[0]["example:lot"] == "L-7"
    assert events[1]["bizTransactionList"][0]["bizTransaction"].endswith("PO-1")
    assert events[2]["veritag:txHash"] == history[2].tx_hash


def test_one_refused_event_refuses_the_whole_document_and_nothing_is_recorded(
    capture_client: TestClient, brand_key: str, store: Store
) -> None:
    before = _counts(store)
    document = _document(
        _event("commissioning", "EPCIS-2", "2026-11-28T09:00:00Z"),
        _event("inspecting", "EPCIS-2", "2026-11-28T09:10:00Z"),
        _event("shipping", "EPCIS-2", "2026-11-28T09:20:00Z"),
    )

    answer = _capture(capture_client, brand_key, document)

    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    errors = answer.json()["data"]["errors"]
    assert errors == [
        {
            "index": 1,
            "eventID": None,
            "reason": "bizStep 'inspecting' is not one the ledger applies (commissioning, "
            "shipping, receiving, retail_selling, decommissioning, destroying)",
        },
        {
            "index": 2,
            "eventID": None,
            "reason": "a shipping event must name its recipient in destinationList "
            "(possessing_party, owning_party or location) for the ledger to hand the item over",
        },
    ]
    assert answer.json()["detail"].startswith("EPCIS capture rejected, nothing was recorded: ")
    assert _counts(store) == before


def test_proceed_applies_what_it_can_and_lists_the_refused_events(
    capture_client: TestClient, brand_key: str
) -> None:
    document = _document(
        _event("commissioning", "EPCIS-3", "2026-11-28T09:00:00Z"),
        _event("inspecting", "EPCIS-4", "2026-11-28T09:00:00Z"),
    )

    answer = _capture(capture_client, brand_key, document, behaviour="proceed")

    assert answer.status_code == 202
    job = answer.json()
    assert [(e["index"], e["step"]) for e in job["events"]] == [(0, "commissioning")]
    assert job["errors"] == [
        {
            "index": 1,
            "eventID": None,
            "reason": "bizStep 'inspecting' is not one the ledger applies (commissioning, "
            "shipping, receiving, retail_selling, decommissioning, destroying)",
        }
    ]
    assert job["captureErrorBehaviour"] == "proceed"
    assert job["success"] is False


def test_events_are_checked_in_event_time_order_against_the_chain_rules(
    capture_client: TestClient, brand_key: str, demo_roles: DemoRoles, store: Store
) -> None:
    before = _counts(store)
    document = _document(
        _event("retail_selling", "DEMO-SHOP", "2026-11-28T09:00:00Z"),
        _event("receiving", "EPCIS-5", "2026-11-28T09:00:00Z"),
        _event("commissioning", "EPCIS-5", "2026-11-28T08:00:00Z"),
        _event("decommissioning", "DEMO-FAKE", "2026-11-28T09:00:00Z"),
    )

    errors = _capture(capture_client, brand_key, document).json()["data"]["errors"]

    # The receipt at index 1 is judged after the commissioning at index 2, an hour earlier.
    assert [(e["index"], e["reason"]) for e in errors] == [
        (0, f"{_link('DEMO-SHOP')} is held by {demo_roles.retailer.address}, not by the capturing "
            f"organisation's account {demo_roles.factory.address}"),
        (1, f"{_link('EPCIS-5')} is active, not in transit"),
        (3, f"{_link('DEMO-FAKE')} is not registered on the ledger"),
    ]  # fmt: skip
    assert _counts(store) == before


def test_only_operators_of_the_gtins_brand_commission(
    capture_client: TestClient, custodian_key: str, demo_roles: DemoRoles
) -> None:
    document = _document(_event("commissioning", "EPCIS-12", "2026-11-28T08:00:00Z"))

    errors = _capture(capture_client, custodian_key, document).json()["data"]["errors"]

    assert errors[0]["reason"] == (
        f"the capturing organisation's account {demo_roles.retailer.address} is not an active "
        "operator of an unsuspended brand, so it cannot register items"
    )


def test_a_claimed_event_id_must_be_the_events_own_hash(
    capture_client: TestClient, brand_key: str
) -> None:
    event = _event("commissioning", "EPCIS-6", "2026-11-28T09:00:00Z")
    actual = event_hash_id(event, [CONTEXT])
    forged = "ni:///sha-256;" + "0" * 64 + "?ver=CBV2.0"

    answer = _capture(capture_client, brand_key, _document({**event, "eventID": forged}))

    assert answer.json()["data"]["errors"] == [
        {
            "index": 0,
            "eventID": forged,
            "reason": f"its eventID is {forged}, but the event's hash ID is {actual}",
        }
    ]


def test_an_event_already_captured_is_refused_naming_its_capture(
    capture_client: TestClient, brand_key: str
) -> None:
    document = _document(_event("commissioning", "EPCIS-7", "2026-11-28T09:00:00Z"))
    first = _capture(capture_client, brand_key, document).json()

    again = _capture(capture_client, brand_key, document)

    assert again.status_code == 422
    assert again.json()["data"]["errors"][0]["reason"] == (
        f"it was already captured for {_link('EPCIS-7')} (capture {first['captureID']})"
    )


def test_a_document_breaking_gs1s_schema_is_refused_before_any_event_is_read(
    capture_client: TestClient, brand_key: str, store: Store
) -> None:
    before = _counts(store)
    document = _document(_event("commissioning", "EPCIS-8", "yesterday"))
    del document["schemaVersion"]

    answer = _capture(capture_client, brand_key, document)

    assert answer.status_code == 422
    reasons = [e["reason"] for e in answer.json()["data"]["errors"]]
    assert "(document): 'schemaVersion' is a required property" in reasons
    assert any(r.startswith("epcisBody/eventList/0/eventTime: ") for r in reasons)
    assert all(e["index"] is None for e in answer.json()["data"]["errors"])
    assert _counts(store) == before


def test_marketplaces_and_keyless_callers_cannot_capture(
    capture_client: TestClient, marketplace_key: str
) -> None:
    document = _document(_event("commissioning", "EPCIS-9", "2026-11-28T09:00:00Z"))

    assert _capture(capture_client, marketplace_key, document).status_code == 403
    no_key = capture_client.post("/v1/epcis/capture", json=document)
    assert no_key.status_code == 401


def test_another_organisations_capture_is_not_found(
    capture_client: TestClient, brand_key: str, custodian_key: str
) -> None:
    document = _document(_event("commissioning", "EPCIS-10", "2026-11-28T09:00:00Z"))
    job = _capture(capture_client, brand_key, document).json()

    answer = capture_client.get(job["location"], headers=auth(custodian_key))

    assert answer.status_code == 404


def test_parties_named_by_gln_are_the_sites_recorded_with_it(
    capture_client: TestClient,
    brand_key: str,
    store: Store,
    demo_roles: DemoRoles,
    run_submitter: Callable[[], None],
    api_registry: Registry,
) -> None:
    DEPOT, STRANGER = "urn:epc:id:sgln:0614141.00001.0", "urn:epc:id:pgln:0614141.00002"  # noqa: N806
    SignalStore(store.engine).set_site(
        demo_roles.distributor.address, "Depot", 47.0, 8.0, "CH", gln="0614141000012"
    )
    document = _document(
        _event("commissioning", "EPCIS-11", "2026-11-28T09:00:00Z"),
        _event(
            "shipping", "EPCIS-11", "2026-11-28T10:00:00Z",
            destinationList=[{"type": "location", "destination": DEPOT}],
        ),
    )  # fmt: skip

    assert _capture(capture_client, brand_key, document).status_code == 202
    run_submitter()

    state = api_registry.item(item_id(DEMO_GTIN, "EPCIS-11"))
    assert state is not None
    assert (state.status, state.consignee) == (Status.IN_TRANSIT, demo_roles.distributor.address)
    unknown = _document(
        _event(
            "shipping", "EPCIS-11", "2026-11-28T11:00:00Z",
            destinationList=[{"type": "owning_party", "destination": STRANGER}],
        )
    )  # fmt: skip
    assert _capture(capture_client, brand_key, unknown).json()["data"]["errors"][0]["reason"] == (
        "party urn:epc:id:pgln:0614141.00002 names GLN 0614141000029, which no recorded site "
        "has (the registry records it with PUT /v1/sites/{address})"
    )


def _examples() -> list[Path]:
    return sorted(EXAMPLES.rglob("*.jsonld")) if EXAMPLES.exists() else []


@pytest.mark.skipif(not EXAMPLES.exists(), reason=f"GS1 EPCIS examples absent: {EXAMPLES}")
@pytest.mark.parametrize("path", _examples(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_official_example_is_applied_or_refused_with_a_reason_for_each_event(
    capture_client: TestClient, custodian_key: str, store: Store, path: Path
) -> None:
    document = json.loads(path.read_text())
    before = _counts(store)

    answer = _capture(capture_client, custodian_key, document)

    assert answer.status_code in (202, 422), answer.text
    if answer.status_code == 422:
        errors = answer.json()["data"]["errors"]
        assert errors
        assert all(isinstance(e["reason"], str) and len(e["reason"]) > 10 for e in errors)
        assert _counts(store) == before


def test_the_official_shipping_and_receiving_example_applies_the_receipt_it_can(
    capture_client: TestClient,
    custodian_key: str,
    api_registry: Registry,
    demo_roles: DemoRoles,
    run_submitter: Callable[[], None],
) -> None:
    path = EXAMPLES / "Example_9.6.1-ObjectEvent.jsonld"
    if not path.exists():
        pytest.skip(f"GS1 EPCIS example absent: {path}")
    document = json.loads(path.read_text())
    events = document["epcisBody"]["eventList"]
    urn = "urn:epc:id:sgtin:0614141.107346.2018"
    gtin, serial = gtin_and_serial(epc_urn_to_digital_link(urn))
    item = item_id(gtin, serial)
    api_registry.register(demo_roles.factory, item)  # the examples' prefix is the demo brand's
    api_registry.ship(demo_roles.factory, item, demo_roles.retailer.address)

    as_published = _capture(capture_client, custodian_key, copy.deepcopy(document), "proceed")
    # The example's eventIDs are illustrative, not the events' CBV 2.0 hash IDs.
    actual = document_hash_ids(document)
    assert as_published.json()["data"]["errors"] == [
        {
            "index": index,
            "eventID": event["eventID"],
            "reason": f"its eventID is {event['eventID']}, but the event's hash ID is "
            f"{actual[index]}",
        }
        for index, event in enumerate(events)
    ]
    for event in events:
        del event["eventID"]
    answer = _capture(capture_client, custodian_key, document, behaviour="proceed")

    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert [(e["index"], e["step"], e["eventID"]) for e in job["events"]] == [
        (1, "receiving", actual[1])
    ]
    assert [(e["index"], e["reason"]) for e in job["errors"]] == [
        (0, "a shipping event must name its recipient in destinationList (possessing_party, "
            "owning_party or location) for the ledger to hand the item over"),
    ]  # fmt: skip
    run_submitter()
    state = api_registry.item(item)
    assert state is not None
    assert (state.status, state.custodian) == (Status.ACTIVE, demo_roles.retailer.address)
    exported = capture_client.get(f"/v1/epcis/items/{gtin}/{serial}").json()
    received = exported["epcisBody"]["eventList"][-1]
    assert received["eventID"] == actual[1]
    assert received["example:myField"] == "Example of a vendor/user extension"
    assert received["readPoint"] == {"id": "urn:epc:id:sgln:0012345.11111.400"}
    assert document_hash_ids(exported)[-1] == actual[1]
