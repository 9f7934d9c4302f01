"""Indexing Merkle batches: ``BatchAnchored`` → ``batch_anchor``; ``BatchItemActivated`` → the
item's seq-1 registration, as of the anchoring, by the batch's operator.

Runs the in-memory registry into stores on SQLite and PostgreSQL; the store must agree with
the contract's views, survive a rebuild, and take activations and anchors back on rollback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlmodel import col, select

from ledger.contract_errors import Status
from ledger.identifiers import ItemId, item_id
from ledger.indexer import Indexer
from ledger.merkle import BatchProof, MerkleTree
from ledger.registry import Registry
from ledger.store import session
from ledger.store.batch_models import BatchAnchor
from ledger.store.models import CustodyEvent, Item
from ledger.store.writer import rollback_to

if TYPE_CHECKING:
    from tests.conftest import Roles

GTIN = "00614141123452"
DOC = bytes.fromhex("ab" * 32)


def prepare(count: int) -> tuple[list[ItemId], MerkleTree]:
    ids = [item_id(GTIN, f"IX{n}") for n in range(count)]
    return ids, MerkleTree.of_items([i.value for i in ids])


def proof(tree: MerkleTree, index: int) -> BatchProof:
    return BatchProof(tree.root, index, None, tuple(tree.proof(index)))


def test_anchors_and_activations_are_indexed_as_registrations_at_anchoring(
    registry: Registry, roles: Roles, engine: Engine, brand: int
) -> None:
    ids, tree = prepare(5)
    anchored = registry.anchor_batch(roles.operator, tree.root, 5, DOC)
    registry.activate_batch_item(roles.stranger, ids[1], proof(tree, 1))
    registry.batch_proofs = lambda item: proof(tree, ids.index(item))
    try:
        shipped = registry.ship(roles.operator, ids[3], roles.distributor.address)
    finally:
        registry.batch_proofs = None
    batch = registry.batch(tree.root)
    assert batch is not None

    Indexer(registry, engine).sync()

    root = "0x" + tree.root.hex()
    with session(engine) as db:
        anchor = db.get(BatchAnchor, root)
        items = {i.item_id: i for i in db.exec(select(Item))}
        events = db.exec(
            select(CustodyEvent).where(col(CustodyEvent.item_id) == ids[3].hex())
        ).all()
    assert anchor is not None
    assert (anchor.brand_id, anchor.operator, anchor.count, anchor.doc_hash) == (
        brand,
        roles.operator.address,
        5,
        "0x" + DOC.hex(),
    )
    assert (anchor.block_number, anchor.anchored_at) == (anchored.block_number, batch.anchored_at)
    assert set(items) == {ids[1].hex(), ids[3].hex()}
    for item in (ids[1], ids[3]):
        row, chain = items[item.hex()], registry.item(item)
        assert chain is not None
        assert (row.registered_at, row.operator, row.brand_id) == (
            chain.registered_at,
            chain.operator,
            chain.brand_id,
        )
        assert (row.custodian, row.seq) == (chain.custodian, chain.seq)
        assert (row.batch_id, row.doc_hash) == (root, "0x" + DOC.hex())
    assert items[ids[3].hex()].status == "in_transit"
    assert items[ids[3].hex()].registered_block == shipped.block_number
    assert [(e.seq, e.name, e.to_address, e.by_address) for e in events] == [
        (1, "BatchItemActivated", roles.operator.address, roles.operator.address),
        (2, "ItemShipped", roles.distributor.address, roles.operator.address),
    ]


def test_a_rebuild_gives_the_same_batch_items_and_a_rollback_takes_them_back(
    registry: Registry, roles: Roles, engine: Engine
) -> None:
    ids, tree = prepare(3)
    anchored = registry.anchor_batch(roles.operator, tree.root, 3)
    registry.activate_batch_item(roles.stranger, ids[0], proof(tree, 0))
    indexer = Indexer(registry, engine)
    indexer.sync()
    with session(engine) as db:
        before = sorted((i.item_id, i.registered_at, i.seq) for i in db.exec(select(Item)))

    indexer.rebuild()

    with session(engine) as db:
        assert sorted((i.item_id, i.registered_at, i.seq) for i in db.exec(select(Item))) == before
        rollback_to(db, anchored.block_number - 1)
    with session(engine) as db:
        assert db.get(BatchAnchor, "0x" + tree.root.hex()) is None
        assert db.get(Item, ids[0].hex()) is None


def test_an_activation_covered_by_an_earlier_suspension_is_flagged_in_the_store(
    registry: Registry, roles: Roles, engine: Engine, brand: int
) -> None:
    ids, tree = prepare(2)
    registry.anchor_batch(roles.operator, tree.root, 2)
    batch = registry.batch(tree.root)
    assert batch is not None
    registry.suspend_brand(roles.admin, brand, batch.anchored_at)
    indexer = Indexer(registry, engine)
    indexer.sync()
    registry.activate_batch_item(roles.stranger, ids[0], proof(tree, 0))

    indexer.sync()

    chain = registry.item(ids[0])
    assert chain is not None
    assert chain.registered_while_suspended
    assert chain.status is Status.ACTIVE
    with session(engine) as db:
        row = db.get(Item, ids[0].hex())
    assert row is not None
    assert row.registered_while_suspended
