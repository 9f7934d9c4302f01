"""ledger.store.merkle_batches: a tree kept as level BLOBs and leaf rows, proofs sliced out.

Runs on SQLite and PostgreSQL (the ``engine`` fixture of tests/ledger/conftest.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func
from sqlmodel import select

from ledger.errors import Conflict
from ledger.identifiers import ItemId, item_id
from ledger.merkle import MerkleTree
from ledger.store.batch_models import LEVEL_CHUNK_NODES, BatchAnchor, MerkleLeaf, MerkleLevel
from ledger.store.database import session
from ledger.store.merkle_batches import MerkleBatches
from tests.ledger.test_store import empty_tables

GTIN = "00614141123452"
OPERATOR = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def ids(count: int, prefix: str = "S") -> list[ItemId]:
    return [item_id(GTIN, f"{prefix}{n}") for n in range(count)]


def save(
    batches: MerkleBatches, items: list[ItemId], keys: list[bytes | None] | None = None
) -> MerkleTree:
    raw_keys = None if keys is None else [k or b"\x00" * 20 for k in keys]
    tree = MerkleTree.of_items([i.value for i in items], raw_keys)
    batches.save(tree, [i.value for i in items], keys, operator=OPERATOR)
    return tree


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(size=st.integers(1, 70), with_keys=st.booleans())
def test_every_stored_proof_is_the_tree_s_and_verifies(
    engine: Engine, size: int, with_keys: bool
) -> None:
    empty_tables(engine)
    batches = MerkleBatches(engine, clock=lambda: T0)
    items = ids(size)
    keys: list[bytes | None] | None = (
        [bytes.fromhex(Account.create().address[2:]) if n % 3 else None for n in range(size)]
        if with_keys
        else None
    )
    tree = save(batches, items, keys)

    for index, item in enumerate(items):
        proof = batches.proof(item)
        assert proof is not None
        assert (proof.root, proof.index) == (tree.root, index)
        assert list(proof.siblings) == tree.proof(index)
        key = None if keys is None else keys[index]
        assert proof.claim_key == (None if key is None else to_checksum_address(key))
        assert proof.verifies(item)


def test_a_small_batch_is_kept_as_one_blob_per_level_and_one_row_per_leaf(engine: Engine) -> None:
    batches = MerkleBatches(engine, clock=lambda: T0)
    tree = save(batches, ids(1000))

    with session(engine) as db:
        levels = db.exec(select(func.count()).select_from(MerkleLevel)).one()
        leaves = db.exec(select(func.count()).select_from(MerkleLeaf)).one()
    assert (levels, leaves) == (10, 1000)  # 1000 leaves: levels 0..9 below the root
    stored = batches.get(tree.root)
    assert stored is not None
    assert (stored.count, stored.depth, stored.prepared_at, stored.anchored_block) == (
        1000,
        10,
        T0,
        None,
    )


def test_saving_a_root_twice_is_a_conflict(engine: Engine) -> None:
    batches = MerkleBatches(engine)
    items = ids(3)
    tree = save(batches, items)

    with pytest.raises(Conflict, match="saved already"):
        batches.save(tree, [i.value for i in items], operator=OPERATOR)


def test_an_item_in_no_batch_has_no_proof(engine: Engine) -> None:
    batches = MerkleBatches(engine)
    save(batches, ids(3))

    assert batches.proof(item_id(GTIN, "elsewhere")) is None


def test_the_proof_of_an_item_in_two_batches_comes_from_the_anchored_one(engine: Engine) -> None:
    batches = MerkleBatches(engine)
    items = ids(4)
    first = save(batches, items)
    save(batches, [*items, item_id(GTIN, "extra")])
    with session(engine) as db:
        db.add(
            BatchAnchor(
                root="0x" + first.root.hex(),
                brand_id=1,
                operator=OPERATOR,
                count=4,
                anchored_at=1,
                block_number=5,
                block_hash="0x" + "00" * 32,
                tx_hash="0x" + "11" * 32,
                log_index=0,
            )
        )

    proof = batches.proof(items[2])

    assert proof is not None
    assert proof.root == first.root


def test_a_level_longer_than_a_chunk_is_split_and_its_proofs_cross_the_boundary(
    engine: Engine,
) -> None:
    batches = MerkleBatches(engine)
    items = ids(LEVEL_CHUNK_NODES + 905, prefix="C")
    tree = save(batches, items)

    with session(engine) as db:
        chunks = db.exec(select(MerkleLevel.level, MerkleLevel.chunk)).all()
    assert sorted(chunks)[:3] == [(0, 0), (0, 1), (1, 0)]
    for index in (0, LEVEL_CHUNK_NODES - 1, LEVEL_CHUNK_NODES, len(items) - 1):
        proof = batches.proof(items[index])
        assert proof is not None
        assert list(proof.siblings) == tree.proof(index)
        assert proof.verifies(items[index])
