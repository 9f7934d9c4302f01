"""Verdicts for Merkle batch items: a leaf of an anchored batch is registered before it moves.

The proof comes from the store (here: a plain function), the root's anchoring from the
chain, read live: a leaf of a root the chain does not know registers nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger.contract_errors import Status
from ledger.identifiers import ItemId, item_id
from ledger.merkle import BatchProof, MerkleTree
from ledger.registry import Registry
from ledger.verify import VerdictKind, verify_item

if TYPE_CHECKING:
    from tests.conftest import Roles

GTIN = "00614141123452"
DOC = bytes.fromhex("cd" * 32)


def batch(count: int) -> tuple[list[ItemId], MerkleTree]:
    ids = [item_id(GTIN, f"V{n}") for n in range(count)]
    return ids, MerkleTree.of_items([i.value for i in ids])


def source(tree: MerkleTree, ids: list[ItemId]) -> dict[ItemId, BatchProof]:
    return {i: BatchProof(tree.root, n, None, tuple(tree.proof(n))) for n, i in enumerate(ids)}


def test_a_leaf_of_an_anchored_batch_is_authentic_with_its_proof(
    registry: Registry, roles: Roles, brand: int
) -> None:
    ids, tree = batch(7)
    anchored = registry.anchor_batch(roles.operator, tree.root, 7, DOC)
    proofs = source(tree, ids)

    verdict = verify_item(registry, GTIN, "V5", batch_proofs=proofs.get)

    assert verdict.verdict is VerdictKind.AUTHENTIC
    assert [r.code for r in verdict.reasons] == ["registered"]
    assert "Merkle batch 0x" + tree.root.hex() in verdict.reasons[0].message
    assert verdict.state is not None
    assert (verdict.state.custodian, verdict.state.status, verdict.state.brand_id) == (
        roles.operator.address,
        Status.ACTIVE,
        brand,
    )
    assert verdict.batch is not None
    assert verdict.batch.proof == proofs[ids[5]]
    assert (verdict.batch.anchor_block, verdict.batch.anchor_tx) == (
        anchored.block_number,
        anchored.tx_hash,
    )
    assert verdict.doc_hash == "0x" + DOC.hex()
    assert verdict.proof.seq == 0
    assert verdict.custody == ()


def test_a_leaf_of_a_root_not_on_chain_is_counterfeit(registry: Registry) -> None:
    ids, tree = batch(3)

    verdict = verify_item(registry, GTIN, "V1", batch_proofs=source(tree, ids).get)

    assert verdict.verdict is VerdictKind.COUNTERFEIT
    assert verdict.batch is None


def test_a_proof_that_does_not_fold_into_the_root_is_counterfeit(
    registry: Registry, roles: Roles
) -> None:
    ids, tree = batch(4)
    registry.anchor_batch(roles.operator, tree.root, 4)
    wrong = {ids[1]: BatchProof(tree.root, 1, None, tuple(tree.proof(2)))}

    verdict = verify_item(registry, GTIN, "V1", batch_proofs=wrong.get)

    assert verdict.verdict is VerdictKind.COUNTERFEIT
    assert verdict.batch is None


def test_an_activated_item_is_judged_from_its_own_record(registry: Registry, roles: Roles) -> None:
    ids, tree = batch(2)
    registry.anchor_batch(roles.operator, tree.root, 2)
    proofs = source(tree, ids)
    registry.activate_batch_item(roles.stranger, ids[0], proofs[ids[0]])

    verdict = verify_item(registry, GTIN, "V0", batch_proofs=proofs.get)

    assert verdict.verdict is VerdictKind.AUTHENTIC
    assert verdict.batch is None
    assert [(c.seq, c.event, c.to) for c in verdict.custody] == [
        (1, "BatchItemActivated", roles.operator.address)
    ]


def test_a_leaf_anchored_while_its_brand_is_suspended_since_is_suspect(
    registry: Registry, roles: Roles, brand: int
) -> None:
    ids, tree = batch(2)
    registry.anchor_batch(roles.operator, tree.root, 2)
    info = registry.batch(tree.root)
    assert info is not None
    registry.suspend_brand(roles.admin, brand, info.anchored_at)

    verdict = verify_item(registry, GTIN, "V1", batch_proofs=source(tree, ids).get)

    assert verdict.verdict is VerdictKind.SUSPECT
    assert [r.code for r in verdict.reasons] == ["suspended_key"]
