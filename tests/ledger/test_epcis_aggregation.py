"""EPCIS export of aggregation: packing and unpacking as AggregationEvents, a pallet's moves
as ObjectEvents on its SSCC, all schema-valid and re-checkable against the chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft7Validator

from ledger.chain import Chain, connect_memory
from ledger.epcis.event_hash import event_hash_id
from ledger.epcis.export import CHAIN_FIELDS, export_container, export_item
from ledger.epcis.verify import verify_document
from ledger.identifiers import check_digit, container_id, item_id
from ledger.registry import Registry
from ledger.store.containers import Containers
from ledger.store.database import make_engine, migrate
from ledger.store.repository import Store
from tests.conftest import conformance_dir

GTIN = "00614141123452"
PREFIX = "0614141"
CREATED = datetime(2026, 11, 28, tzinfo=UTC)


def sscc(reference: int) -> str:
    payload = f"0{PREFIX}{reference:09d}"
    return payload + str(check_digit(payload))


CASE, PALLET = sscc(11), sscc(12)
CASE_URN = f"urn:epc:id:sscc:{PREFIX}.0{11:09d}"
PALLET_URN = f"urn:epc:id:sscc:{PREFIX}.0{12:09d}"
SGTIN = f"urn:epc:id:sgtin:{PREFIX}.012345.P1"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Store, Chain]]:
    chain = connect_memory()
    admin, brand_admin, operator, dist = chain.dev_accounts[:4]
    registry = Registry.deploy(chain.w3, admin)
    brand = registry.admit_brand(admin, brand_admin.address, "Acme", [PREFIX])
    registry.add_operator(brand_admin, brand, operator.address)
    item = item_id(GTIN, "P1")
    registry.register(operator, item)
    registry.pack(operator, container_id(CASE), [item])
    registry.pack(operator, container_id(PALLET), [container_id(CASE)])
    registry.ship(operator, container_id(PALLET), dist.address)
    registry.receive(dist, container_id(PALLET))
    registry.unpack(dist, container_id(PALLET), [container_id(CASE)])
    registry.unpack(dist, container_id(CASE), [item])
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('agg') / 'veritag.sqlite'}")
    migrate(engine)
    store = Store(engine)
    Containers(engine).record([CASE, PALLET])
    yield registry, store, chain
    engine.dispose()


def _events(document: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = document["epcisBody"]["eventList"]
    return events


def test_packing_and_unpacking_are_aggregation_events_and_the_pallets_moves_object_events(
    world: tuple[Registry, Store, Chain],
) -> None:
    registry, store, _ = world

    events = _events(export_item(registry, GTIN, "P1", store=store, created_at=CREATED))

    summary = [
        (
            e["type"],
            e["action"],
            e.get("bizStep"),
            e.get("parentID"),
            e.get("childEPCs", e.get("epcList")),
        )
        for e in events
    ]
    link = f"https://id.gs1.org/01/{GTIN}/21/P1"
    assert summary == [
        ("ObjectEvent", "ADD", "commissioning", None, [link]),
        ("AggregationEvent", "ADD", "packing", CASE_URN, [SGTIN]),
        ("AggregationEvent", "ADD", "packing", PALLET_URN, [CASE_URN]),
        ("ObjectEvent", "OBSERVE", "shipping", None, [PALLET_URN]),
        ("ObjectEvent", "OBSERVE", "receiving", None, [PALLET_URN]),
        ("AggregationEvent", "DELETE", "unpacking", PALLET_URN, [CASE_URN]),
        ("AggregationEvent", "DELETE", "unpacking", CASE_URN, [SGTIN]),
    ]
    for event in events:
        assert event["eventID"] == event_hash_id(
            {k: v for k, v in event.items() if k not in CHAIN_FIELDS},
            [
                "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                {"veritag": "https://veritag.example/epcis/"},
            ],
        )


def test_without_the_store_the_parent_is_named_by_its_container_id(
    world: tuple[Registry, Store, Chain],
) -> None:
    registry, _, _ = world

    events = _events(export_item(registry, GTIN, "P1", created_at=CREATED))

    assert events[1]["parentID"] == (
        f"https://veritag.example/epcis/container/{container_id(CASE).hex()}"
    )


def test_a_containers_own_export_and_the_items_agree(world: tuple[Registry, Store, Chain]) -> None:
    registry, store, _ = world
    item_events = _events(export_item(registry, GTIN, "P1", store=store, created_at=CREATED))

    pallet = _events(export_container(registry, PALLET, store=store, created_at=CREATED))

    assert [(e["bizStep"], e.get("childEPCs")) for e in pallet] == [
        ("packing", [CASE_URN]),
        ("shipping", None),
        ("receiving", None),
        ("unpacking", [CASE_URN]),
    ]
    shared = [e for e in item_events if e.get("epcList") == [PALLET_URN]]
    assert [e["eventID"] for e in shared] == [e["eventID"] for e in pallet[1:3]]


def test_the_export_validates_against_the_epcis_schema(
    world: tuple[Registry, Store, Chain],
) -> None:
    path = conformance_dir() / "gs1-EPCIS" / "EPCIS-JSON-Schema.json"
    if not path.exists():
        pytest.skip(f"GS1 EPCIS conformance material absent: {path}")
    validator = Draft7Validator(
        json.loads(path.read_text()), format_checker=Draft7Validator.FORMAT_CHECKER
    )
    registry, store, _ = world

    document = export_item(registry, GTIN, "P1", store=store, created_at=CREATED)

    assert sorted(str(e.message) for e in validator.iter_errors(document)) == []


def test_verify_bears_out_every_exported_event_with_nothing_but_the_chain(
    world: tuple[Registry, Store, Chain],
) -> None:
    registry, store, _ = world
    document = export_item(registry, GTIN, "P1", store=store, created_at=CREATED)

    checks = verify_document(registry, document)

    assert [(c.index, c.ok) for c in checks] == [(i, True) for i in range(7)], [
        c.findings for c in checks if not c.ok
    ]
