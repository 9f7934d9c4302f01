"""A pallet's EPCIS export says what was packed into it: one AggregationEvent per packing
(or unpacking) transaction, all its children together, among the pallet's own moves in
chain order; ``verify_document`` bears it out and refuses it with a child added or left
out, or the wrong action."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.chain import connect_memory
from ledger.epcis.export import VERITAG_NAMESPACE, epcis_time, export_container
from ledger.epcis.verify import verify_document
from ledger.identifiers import ItemId, check_digit, container_id, item_id
from ledger.registry import Registry
from ledger.store.containers import Containers
from ledger.store.database import make_engine, migrate
from ledger.store.repository import Store
from ledger.transactions import TxResult

GTIN = "00614141123452"
PREFIX = "0614141"
CREATED = datetime(2026, 11, 28, tzinfo=UTC)
SERIALS = ["C1", "C2", "C3", "C4"]
"""C1–C3 are packed into the pallet in one transaction; C4 is registered, never packed."""
_PAYLOAD = f"0{PREFIX}{31:09d}"
PALLET = _PAYLOAD + str(check_digit(_PAYLOAD))
PALLET_URN = f"urn:epc:id:sscc:{PREFIX}.0{31:09d}"


def _sgtin(serial: str) -> str:
    return f"urn:epc:id:sgtin:{PREFIX}.012345.{serial}"


@dataclass(frozen=True)
class Pallet:
    registry: Registry
    store: Store
    items: list[ItemId]
    packed: TxResult
    unpacked: TxResult


@pytest.fixture(scope="module")
def pallet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pallet]:
    """Three items packed into a pallet in one transaction, the pallet shipped and received,
    then one item unpacked by the consignee."""
    chain = connect_memory()
    admin, brand_admin, operator, consignee = chain.dev_accounts[:4]
    registry = Registry.deploy(chain.w3, admin)
    brand = registry.admit_brand(admin, brand_admin.address, "Acme", [PREFIX])
    registry.add_operator(brand_admin, brand, operator.address)
    items = [item_id(GTIN, serial) for serial in SERIALS]
    registry.register_batch(operator, items)
    packed = registry.pack(operator, container_id(PALLET), items[:3])
    registry.ship(operator, container_id(PALLET), consignee.address)
    registry.receive(consignee, container_id(PALLET))
    unpacked = registry.unpack(consignee, container_id(PALLET), items[:1])
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('pallet') / 'veritag.sqlite'}")
    migrate(engine)
    store = Store(engine)
    store.record_codes([(GTIN, s, i.hex()) for s, i in zip(SERIALS, items, strict=True)])
    Containers(engine).record([PALLET])
    yield Pallet(registry, store, items, packed, unpacked)
    engine.dispose()


def _export(pallet: Pallet, *, store: bool = True) -> dict[str, Any]:
    return export_container(
        pallet.registry, PALLET, store=pallet.store if store else None, created_at=CREATED
    )


def _events(document: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = document["epcisBody"]["eventList"]
    return events


def _summary(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            e["type"],
            e["action"],
            e["bizStep"],
            e.get("parentID"),
            e.get("childEPCs") or e["epcList"],
        )
        for e in events
    ]


def test_the_registry_reads_a_containers_packings_by_its_id_as_second_topic(
    pallet: Pallet,
) -> None:
    events = pallet.registry.contents_events(container_id(PALLET))

    assert [(e.name, e.args["itemId"], e.seq, e.tx_hash) for e in events] == [
        *(("ItemPacked", i.hex(), 2, pallet.packed.tx_hash) for i in pallet.items[:3]),
        ("ItemUnpacked", pallet.items[0].hex(), 3, pallet.unpacked.tx_hash),
    ]
    assert pallet.registry.contents_events(pallet.items[3]) == []


def test_a_pallets_export_has_one_event_per_packing_transaction_among_its_moves(
    pallet: Pallet,
) -> None:
    events = _events(_export(pallet))

    assert _summary(events) == [
        ("AggregationEvent", "ADD", "packing", PALLET_URN, [_sgtin(s) for s in SERIALS[:3]]),
        ("ObjectEvent", "OBSERVE", "shipping", None, [PALLET_URN]),
        ("ObjectEvent", "OBSERVE", "receiving", None, [PALLET_URN]),
        ("AggregationEvent", "DELETE", "unpacking", PALLET_URN, [_sgtin("C1")]),
    ]
    packing, unpacking = events[0], events[3]
    block = pallet.registry.w3.eth.get_block(pallet.packed.block_number)
    assert {k: v for k, v in packing.items() if k != "eventID"} == {
        "type": "AggregationEvent",
        "eventTime": epcis_time(datetime.fromtimestamp(block["timestamp"], UTC)),
        "eventTimeZoneOffset": "+00:00",
        "parentID": PALLET_URN,
        "childEPCs": [_sgtin(s) for s in SERIALS[:3]],
        "action": "ADD",
        "bizStep": "packing",
        "disposition": "active",
        "veritag:event": "ItemPacked",
        "veritag:seq": [2, 2, 2],
        "veritag:txHash": pallet.packed.tx_hash,
        "veritag:block": pallet.packed.block_number,
        "veritag:logIndex": packing["veritag:logIndex"],
    }
    assert (unpacking["veritag:event"], unpacking["veritag:seq"]) == ("ItemUnpacked", [3])
    assert unpacking["veritag:txHash"] == pallet.unpacked.tx_hash
    assert unpacking["disposition"] == "in_progress"  # the pallet's, received before
    positions = [(e["veritag:block"], e["veritag:logIndex"]) for e in events]
    assert positions == sorted(positions)


def test_verify_bears_out_the_pallets_export_packings_as_a_whole(pallet: Pallet) -> None:
    document = _export(pallet)
    packing, _, _, unpacking = _events(document)

    checks = verify_document(pallet.registry, document)

    assert [c.ok for c in checks] == [True] * 4, [c.findings for c in checks]
    assert checks[0].findings == (
        f"{PALLET_URN}: the chain's ItemPacked of 3 in transaction {pallet.packed.tx_hash} "
        "says exactly this",
    )
    # One child, but not the item's own event: that one carries the item's disposition.
    assert checks[3].findings == (
        f"{PALLET_URN}: the chain's ItemUnpacked of 1 in transaction {pallet.unpacked.tx_hash} "
        "says exactly this",
    )
    assert (len(packing["childEPCs"]), len(unpacking["childEPCs"])) == (3, 1)


def test_children_the_store_cannot_name_are_named_by_their_ids_and_still_verify(
    pallet: Pallet,
) -> None:
    document = _export(pallet, store=False)
    packing = _events(document)[0]

    assert packing["childEPCs"] == [f"{VERITAG_NAMESPACE}item/{i.hex()}" for i in pallet.items[:3]]
    assert packing["parentID"] == PALLET_URN  # the export's own SSCC
    checks = verify_document(pallet.registry, document)
    assert [c.ok for c in checks] == [True] * 4, [c.findings for c in checks]


def test_a_packing_with_a_child_added_or_left_out_or_the_wrong_action_is_not_the_chains(
    pallet: Pallet,
) -> None:
    document = _export(pallet)
    packing = {k: v for k, v in _events(document)[0].items() if k != "eventID"}
    children = packing["childEPCs"]
    altered = [
        packing | {"childEPCs": children[1:]},
        packing | {"childEPCs": [*children, _sgtin("C4")]},
        packing | {"action": "DELETE"},
    ]
    reordered = packing | {"childEPCs": children[::-1]}
    document["epcisBody"]["eventList"] = [*altered, reordered]

    checks = verify_document(pallet.registry, document)

    assert [c.ok for c in checks] == [False, False, False, True]
    assert [c.findings for c in checks[:3]] == [
        (
            f"{PALLET_URN}: no packing into or unpacking out of this container on chain says "
            "this event",
        )
    ] * 3
