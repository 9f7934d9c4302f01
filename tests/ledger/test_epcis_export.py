"""EPCIS 2.0 export: every state's history validates against GS1's schema and maps to CBV."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

from ledger.chain import Chain, connect_memory
from ledger.epcis.event_hash import document_hash_ids, event_hash_id
from ledger.epcis.export import (
    CHAIN_FIELDS,
    EPCIS_CONTEXT,
    VERITAG_NAMESPACE,
    export_item,
    party_uri,
)
from ledger.errors import InvalidGTIN, InvalidSerial, NotFound
from ledger.identifiers import item_id
from ledger.registry import Registry
from ledger.store.database import make_engine, migrate
from ledger.store.documents import document_hash
from ledger.store.repository import Store
from tests.conftest import GTIN, Roles, conformance_dir
from veritag.demo_seed import DEMO_DOCUMENT, DEMO_GTIN, DemoRoles, seed_demo

EPCIS_DIR = conformance_dir() / "gs1-EPCIS"
CREATED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DEMO_SERIALS = {
    "in_shop": "DEMO-SHOP",
    "sold_and_claimed": "DEMO-CLAIMED",
    "in_transit": "DEMO-TRANSIT",
    "recalled": "DEMO-RECALLED",
    "stolen": "DEMO-STOLEN",
    "destroyed": "DEMO-DESTROYED",
}


def _conformance_file(relative: str) -> Path:
    path = EPCIS_DIR / relative
    if not path.exists():
        pytest.skip(f"GS1 EPCIS conformance material absent: {path} (see conformance README)")
    return path


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    schema = json.loads(_conformance_file("EPCIS-JSON-Schema.json").read_text())
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def demo_chain() -> Chain:
    return connect_memory()


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('store') / 'veritag.sqlite'}")
    migrate(engine)
    yield Store(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def demo_registry(demo_chain: Chain, demo_store: Store) -> Registry:
    registry = Registry.deploy(demo_chain.w3, demo_chain.dev_accounts[0])
    seed_demo(
        registry, demo_store, DemoRoles.from_dev_accounts(demo_chain.dev_accounts), "https://x"
    )
    return registry


@pytest.fixture(scope="module")
def demo_roles(demo_chain: Chain) -> DemoRoles:
    return DemoRoles.from_dev_accounts(demo_chain.dev_accounts)


def _export(registry: Registry, state: str, store: Store | None = None) -> dict[str, Any]:
    return export_item(registry, DEMO_GTIN, DEMO_SERIALS[state], store=store, created_at=CREATED)


def _steps(document: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [
        (e["action"], e.get("bizStep"), e["disposition"])
        for e in document["epcisBody"]["eventList"]
    ]


def _schema_errors(validator: Draft7Validator, document: dict[str, Any]) -> list[str]:
    errors: list[ValidationError] = sorted(validator.iter_errors(document), key=str)
    return [f"{list(e.absolute_path)}: {e.message}" for e in errors]


@pytest.mark.parametrize("state", sorted(DEMO_SERIALS))
def test_export_of_every_demo_state_validates_against_the_epcis_schema(
    state: str, demo_registry: Registry, demo_store: Store, validator: Draft7Validator
) -> None:
    document = _export(demo_registry, state, demo_store)

    assert _schema_errors(validator, document) == []
    for event in document["epcisBody"]["eventList"]:
        standalone = {"@context": document["@context"], **event}
        assert _schema_errors(validator, standalone) == []


def test_a_uri_that_is_not_one_is_refused_by_the_validator_so_format_checking_is_on(
    demo_registry: Registry, validator: Draft7Validator
) -> None:
    document = _export(demo_registry, "in_transit")
    document["epcisBody"]["eventList"][1]["destinationList"][0]["destination"] = "not a uri"

    assert _schema_errors(validator, document) == [
        "['epcisBody', 'eventList', 1, 'destinationList', 0, 'destination']: "
        "'not a uri' is not a 'uri'"
    ]


@pytest.mark.parametrize(
    ("state", "steps"),
    [
        (
            "in_shop",
            [
                ("ADD", "commissioning", "active"),
                ("OBSERVE", "shipping", "in_transit"),
                ("OBSERVE", "receiving", "in_progress"),
            ],
        ),
        (
            "sold_and_claimed",
            [
                ("ADD", "commissioning", "active"),
                ("OBSERVE", "shipping", "in_transit"),
                ("OBSERVE", "receiving", "in_progress"),
                ("OBSERVE", "retail_selling", "retail_sold"),
                ("OBSERVE", "accepting", "retail_sold"),
            ],
        ),
        (
            "in_transit",
            [("ADD", "commissioning", "active"), ("OBSERVE", "shipping", "in_transit")],
        ),
        (
            "recalled",
            [
                ("ADD", "commissioning", "active"),
                ("OBSERVE", "shipping", "in_transit"),
                ("OBSERVE", "receiving", "in_progress"),
                ("OBSERVE", None, "recalled"),
            ],
        ),
        (
            "stolen",
            [
                ("ADD", "commissioning", "active"),
                ("OBSERVE", "shipping", "in_transit"),
                ("OBSERVE", "receiving", "in_progress"),
                ("OBSERVE", None, "stolen"),
            ],
        ),
        (
            "destroyed",
            [
                ("ADD", "commissioning", "active"),
                ("OBSERVE", "shipping", "in_transit"),
                ("OBSERVE", "receiving", "in_progress"),
                ("DELETE", "destroying", "destroyed"),
            ],
        ),
    ],
)
def test_each_chain_event_becomes_its_cbv_step_and_disposition(
    state: str, steps: list[tuple[str, str | None, str]], demo_registry: Registry
) -> None:
    assert _steps(_export(demo_registry, state)) == steps


def test_document_names_the_epcis_context_the_veritag_prefix_and_the_registry(
    demo_registry: Registry,
) -> None:
    document = _export(demo_registry, "in_transit")

    assert document["@context"] == [EPCIS_CONTEXT, {"veritag": VERITAG_NAMESPACE}]
    assert document["type"] == "EPCISDocument"
    assert document["schemaVersion"] == "2.0"
    assert document["creationDate"] == "2026-11-28T12:00:00.000Z"
    assert document["veritag:chainId"] == demo_registry.chain_id
    assert document["veritag:registry"] == demo_registry.address


def test_each_event_carries_the_item_digital_link_block_time_and_its_transaction(
    demo_registry: Registry,
) -> None:
    history = demo_registry.history(item_id(DEMO_GTIN, "DEMO-TRANSIT"))
    events = _export(demo_registry, "in_transit")["epcisBody"]["eventList"]

    assert len(events) == len(history) == 2
    for event, chain_event in zip(events, history, strict=True):
        stamp = demo_registry.w3.eth.get_block(chain_event.block_number)["timestamp"]
        assert event["epcList"] == [f"https://id.gs1.org/01/{DEMO_GTIN}/21/DEMO-TRANSIT"]
        assert event["eventTime"] == (
            datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
        )
        assert event["eventTimeZoneOffset"] == "+00:00"
        assert event["veritag:event"] == chain_event.name
        assert event["veritag:txHash"] == chain_event.tx_hash
        assert event["veritag:block"] == chain_event.block_number
        assert event["veritag:seq"] == chain_event.seq


def test_shipping_names_sender_and_consignee_as_possessing_parties_by_did_pkh(
    demo_registry: Registry, demo_roles: DemoRoles
) -> None:
    shipping = _export(demo_registry, "in_transit")["epcisBody"]["eventList"][1]
    chain_id = demo_registry.chain_id

    assert shipping["sourceList"] == [
        {
            "type": "possessing_party",
            "source": f"did:pkh:eip155:{chain_id}:{demo_roles.factory.address}",
        }
    ]
    assert shipping["destinationList"] == [
        {
            "type": "possessing_party",
            "destination": party_uri(chain_id, demo_roles.distributor.address),
        }
    ]


def test_receiving_names_the_sender_of_the_shipment_it_ends(
    demo_registry: Registry, demo_roles: DemoRoles
) -> None:
    receiving = _export(demo_registry, "in_shop")["epcisBody"]["eventList"][2]
    chain_id = demo_registry.chain_id

    assert receiving["sourceList"] == [
        {"type": "possessing_party", "source": party_uri(chain_id, demo_roles.factory.address)}
    ]
    assert receiving["destinationList"] == [
        {
            "type": "possessing_party",
            "destination": party_uri(chain_id, demo_roles.retailer.address),
        }
    ]


def test_a_claim_names_the_consumer_as_owning_party(
    demo_registry: Registry, demo_roles: DemoRoles
) -> None:
    claim = _export(demo_registry, "sold_and_claimed")["epcisBody"]["eventList"][-1]

    assert claim["destinationList"] == [
        {
            "type": "owning_party",
            "destination": party_uri(demo_registry.chain_id, demo_roles.consumer.address),
        }
    ]


def test_commissioning_carries_the_stored_product_document_in_ilmd(
    demo_registry: Registry, demo_store: Store
) -> None:
    commissioning = _export(demo_registry, "in_shop", demo_store)["epcisBody"]["eventList"][0]

    assert commissioning["ilmd"] == {f"veritag:{k}": v for k, v in DEMO_DOCUMENT.items()}


def test_without_a_store_commissioning_has_no_ilmd(demo_registry: Registry) -> None:
    assert "ilmd" not in _export(demo_registry, "in_shop")["epcisBody"]["eventList"][0]


def test_shipping_and_receiving_have_the_shape_of_the_official_example_9_6_1(
    demo_registry: Registry,
) -> None:
    example = json.loads(_conformance_file("JSON/Example_9.6.1-ObjectEvent.jsonld").read_text())
    official = example["epcisBody"]["eventList"]
    ours = _export(demo_registry, "in_shop")["epcisBody"]["eventList"][1:3]
    # Veritag knows no read point, location or purchase order; it adds who sent and received.
    not_known_on_chain = {"readPoint", "bizLocation", "bizTransactionList"}
    added = {"sourceList", "destinationList"}

    for our, their in zip(ours, official, strict=True):
        standard = {k for k in our if ":" not in k}
        assert standard - added == {k for k in their if ":" not in k} - not_known_on_chain
        for key in ("type", "action", "bizStep", "disposition"):
            assert our[key] == their[key]
        assert {type(our[k]) for k in standard & set(their)} == {
            type(their[k]) for k in standard & set(their)
        }
    assert set(example) - set(_export(demo_registry, "in_shop")) == {"id"}


def test_custody_transfer_becomes_shipping_then_receiving_of_one_transaction(
    registry: Registry, roles: Roles, brand: int, validator: Draft7Validator
) -> None:
    item = item_id(GTIN, "T1")
    registry.register(roles.operator, item)
    registry.transfer(roles.operator, item, roles.distributor.address)

    document = export_item(registry, GTIN, "T1")
    events = document["epcisBody"]["eventList"]

    assert _steps(document) == [
        ("ADD", "commissioning", "active"),
        ("OBSERVE", "shipping", "in_transit"),
        ("OBSERVE", "receiving", "in_progress"),
    ]
    assert events[1]["veritag:txHash"] == events[2]["veritag:txHash"]
    assert events[1]["eventTime"] == events[2]["eventTime"]
    assert _schema_errors(validator, document) == []


def test_cancelled_shipment_lifted_flags_and_decommissioning_restore_their_dispositions(
    registry: Registry, roles: Roles, brand: int, validator: Draft7Validator
) -> None:
    item = item_id(GTIN, "C1")
    registry.register(roles.operator, item)
    registry.ship(roles.operator, item, roles.distributor.address)
    registry.cancel_shipment(roles.operator, item)
    registry.recall(roles.brand_admin, [item])
    registry.report_stolen(roles.operator, item)
    registry.lift_recall(roles.brand_admin, [item])
    registry.clear_stolen(roles.operator, item)
    registry.decommission(roles.operator, item)

    document = export_item(registry, GTIN, "C1")

    assert _steps(document) == [
        ("ADD", "commissioning", "active"),
        ("OBSERVE", "shipping", "in_transit"),
        ("OBSERVE", "void_shipping", "active"),
        ("OBSERVE", None, "recalled"),
        ("OBSERVE", None, "recalled"),
        ("OBSERVE", None, "stolen"),
        ("OBSERVE", None, "active"),
        ("DELETE", "decommissioning", "inactive"),
    ]
    assert _schema_errors(validator, document) == []


def test_a_document_whose_hash_differs_from_the_chain_stays_out_of_ilmd(
    registry: Registry, roles: Roles, brand: int, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'veritag.sqlite'}")
    migrate(engine)
    try:
        store = Store(engine)
        store.record_document({"name": "stored"})
        registry.register(
            roles.operator, item_id(GTIN, "D1"), bytes.fromhex(document_hash({"name": "other"})[2:])
        )
        commissioning = export_item(registry, GTIN, "D1", store=store)["epcisBody"]["eventList"][0]
    finally:
        engine.dispose()

    assert "ilmd" not in commissioning


def test_an_unregistered_item_is_not_found(demo_registry: Registry) -> None:
    with pytest.raises(NotFound, match="no registered item '01/00614141123452/21/DEMO-FAKE'"):
        export_item(demo_registry, DEMO_GTIN, "DEMO-FAKE")


def test_malformed_codes_are_refused_before_the_chain_is_asked(demo_registry: Registry) -> None:
    with pytest.raises(InvalidGTIN):
        export_item(demo_registry, "00614141123453", "A1")
    with pytest.raises(InvalidSerial):
        export_item(demo_registry, DEMO_GTIN, "bad serial")


def test_each_event_id_is_the_cbv_event_hash_id_of_the_event_without_its_chain_annotations(
    demo_registry: Registry,
) -> None:
    document = _export(demo_registry, "sold_and_claimed")
    events = document["epcisBody"]["eventList"]
    ids = [e["eventID"] for e in events]

    assert document["veritag:ignoreFields"] == list(CHAIN_FIELDS)
    assert ids == document_hash_ids(document)
    assert ids == [
        event_hash_id(
            {k: v for k, v in e.items() if not k.startswith("veritag:")}, document["@context"]
        )
        for e in events
    ]
    assert all(set(CHAIN_FIELDS) <= set(e) for e in events)
    assert all(i.startswith("ni:///sha-256;") and i.endswith("?ver=CBV2.0") for i in ids)
    assert len(set(ids)) == len(ids)


def _terms(context: Any) -> set[str]:
    """Every term a JSON-LD context defines, its scoped contexts included."""
    found: set[str] = set()
    if isinstance(context, dict):
        for key, value in context.items():
            found.add(key)
            if isinstance(value, dict):
                found |= _terms(value.get("@context"))
    elif isinstance(context, list):
        for entry in context:
            found |= _terms(entry)
    return found


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


@pytest.mark.parametrize("state", sorted(DEMO_SERIALS))
def test_every_term_exported_is_defined_by_the_epcis_context_or_a_declared_prefix(
    state: str, demo_registry: Registry, demo_store: Store
) -> None:
    context_file = _conformance_file("epcis-context.jsonld")
    defined = _terms(json.loads(context_file.read_text())["@context"])
    document = _export(demo_registry, state, demo_store)
    prefixes = {p for entry in document["@context"][1:] for p in entry}

    undefined = {
        key
        for key in _keys({k: v for k, v in document.items() if k != "@context"})
        if key not in defined
        and not key.startswith("@")
        and not (":" in key and key.split(":", 1)[0] in prefixes)
    }

    assert undefined == set()
