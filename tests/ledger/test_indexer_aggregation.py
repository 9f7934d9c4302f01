"""The index of aggregation: packed items, containers and their journeys, rebuilt from logs.

A pallet's move is one event of the pallet; the store must still answer, for every item in
it, the custodian and status the chain's ``getItem`` gives (its top container's), and the
container events that carried it (``Store``/``Containers.travels`` = ``Registry.travels``).
A reorganisation that takes a pack or an unpack back must leave the store equal to the chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine

from ledger.chain import Chain
from ledger.identifiers import ItemId, check_digit, container_id, item_id
from ledger.indexer import Indexer
from ledger.registry import Registry
from ledger.store import Store, session, writer
from ledger.store.containers import Containers
from tests.ledger.test_indexer import assert_store_equals_chain

if TYPE_CHECKING:
    from tests.conftest import Roles

GTIN = "00614141123452"


def sscc(reference: int) -> str:
    payload = f"00614141{reference:09d}"
    return payload + str(check_digit(payload))


CASE_SSCC, PALLET_SSCC = sscc(101), sscc(102)
CASE, PALLET = container_id(CASE_SSCC), container_id(PALLET_SSCC)
GOODS = [item_id(GTIN, f"AGG-{n}") for n in range(3)]
RECORDS = [*GOODS, CASE, PALLET]


def _journey(registry: Registry, roles: Roles) -> None:
    op, dist = roles.operator, roles.distributor
    registry.register_batch(op, GOODS)
    registry.pack(op, CASE, GOODS[:2])
    registry.pack(op, PALLET, [CASE, GOODS[2]])
    registry.ship(op, PALLET, dist.address)
    registry.receive(dist, PALLET)


def test_the_store_resolves_packed_items_to_their_top_container_as_the_chain_does(
    registry: Registry, roles: Roles, engine: Engine
) -> None:
    _journey(registry, roles)

    Indexer(registry, engine).sync()

    store = Store(engine)
    assert_store_equals_chain(store, registry, RECORDS)
    item = store.item(GOODS[0])
    assert item is not None
    assert (item.custodian, item.status, item.container_id) == (
        roles.distributor.address,
        "active",
        CASE.hex(),
    )
    pallet = store.item(PALLET)
    assert pallet is not None
    assert (pallet.brand_id, pallet.flags, pallet.container_id) == (0, 8, None)


def test_a_pallet_reported_stolen_shows_its_items_stolen_in_the_store_too(
    registry: Registry, roles: Roles, engine: Engine
) -> None:
    _journey(registry, roles)
    registry.report_stolen(roles.distributor, PALLET)

    Indexer(registry, engine).sync()

    assert_store_equals_chain(Store(engine), registry, RECORDS)
    item = Store(engine).item(GOODS[0])
    assert item is not None
    assert item.flags == 16 | 2  # packed, and stolen with its pallet


def test_unpacking_is_indexed_and_the_journey_matches_the_chains(
    registry: Registry, roles: Roles, engine: Engine
) -> None:
    _journey(registry, roles)
    registry.unpack(roles.distributor, PALLET, [CASE])
    registry.transfer(roles.distributor, CASE, roles.retailer.address)
    registry.unpack(roles.retailer, CASE, GOODS[:1])

    Indexer(registry, engine).sync()

    store = Store(engine)
    assert_store_equals_chain(store, registry, RECORDS)
    on_chain = [(e.name, e.tx_hash, e.log_index, e.container) for e in registry.travels(GOODS[0])]
    stored = [
        (e.name, e.tx_hash, e.log_index, ItemId(bytes.fromhex(str(e.container_id)[2:])))
        for e in Containers(engine).travels(GOODS[0].hex())
    ]
    assert stored == on_chain
    assert [name for name, *_ in stored] == [
        "ItemPacked",
        "ItemShipped",
        "ItemReceived",
        "ItemUnpacked",
        "CustodyTransferred",
    ]
    unpacked = store.item(GOODS[0])
    assert unpacked is not None
    assert (unpacked.custodian, unpacked.container_id) == (roles.retailer.address, None)


def test_a_rollback_of_an_unpack_refolds_the_item_from_its_events(
    chain: Chain, registry: Registry, roles: Roles, engine: Engine
) -> None:
    _journey(registry, roles)
    indexer = Indexer(registry, engine)
    indexer.sync()
    before_unpack = chain.w3.eth.block_number
    registry.unpack(roles.distributor, PALLET, [GOODS[2]])
    indexer.sync()

    with session(engine) as db:
        writer.rollback_to(db, before_unpack)

    store = Store(engine)
    item = store.item(GOODS[2])
    assert item is not None
    assert (item.custodian, item.container_id, item.seq) == (
        roles.distributor.address,
        PALLET.hex(),
        2,
    )


def test_container_codes_are_the_stores_own_and_map_ids_back_to_ssccs(engine: Engine) -> None:
    containers = Containers(engine)

    assert containers.record([CASE_SSCC, PALLET_SSCC, CASE_SSCC]) == 2
    assert containers.record([f"(00){CASE_SSCC}"]) == 0

    assert containers.sscc(CASE.hex()) == CASE_SSCC
    assert containers.ssccs([CASE.hex(), PALLET.hex(), GOODS[0].hex()]) == {
        CASE.hex(): CASE_SSCC,
        PALLET.hex(): PALLET_SSCC,
    }
