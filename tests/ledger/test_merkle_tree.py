"""ledger.merkle: leaves as OpenZeppelin's standard tree makes them, sorted pairs, proofs.

On-chain agreement (every proof activates on the registry) is checked by
``tests/ledger/test_merkle_registry.py``; here the tree is checked against a plain
reference built from ``eth_abi`` and ``eth_utils`` hashing.
"""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from ledger.batches import item_ids_for, prepare
from ledger.errors import InvalidSerial
from ledger.identifiers import item_id
from ledger.merkle import MerkleTree, leaf_hash, leaf_hashes, verify_proof

KEY = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"


def reference_leaf(item: bytes, claim_key: str) -> bytes:
    return keccak(keccak(encode(["bytes32", "address"], [item, claim_key])))


def pair(a: bytes, b: bytes) -> bytes:
    return keccak(min(a, b) + max(a, b))


def test_a_leaf_is_the_double_keccak_of_the_abi_encoded_item_and_claim_key() -> None:
    item = item_id("00614141123452", "A1")

    assert leaf_hash(item, KEY) == reference_leaf(item.value, KEY)
    assert leaf_hash(item) == reference_leaf(item.value, "0x" + "00" * 20)
    assert leaf_hashes([item.value], [bytes.fromhex(KEY[2:])]) == leaf_hash(item, KEY)


def test_pairs_are_hashed_sorted_and_an_odd_node_is_carried_up_unchanged() -> None:
    leaves = [keccak(bytes([n])) for n in range(3)]
    tree = MerkleTree.from_leaves(b"".join(leaves))

    assert tree.root == pair(pair(leaves[0], leaves[1]), leaves[2])
    assert tree.proof(2) == [pair(leaves[0], leaves[1])]
    assert tree.proof(0) == [leaves[1], leaves[2]]


def test_a_one_leaf_tree_has_the_leaf_as_root_and_an_empty_proof() -> None:
    leaf = keccak(b"x")
    tree = MerkleTree.from_leaves(leaf)

    assert tree.root == leaf
    assert tree.proof(0) == []
    assert tree.verify(leaf, [])


def test_a_tree_refuses_no_leaves_and_a_proof_outside_it() -> None:
    with pytest.raises(ValueError, match="at least one"):
        MerkleTree.from_leaves(b"")
    with pytest.raises(IndexError, match="leaf 3 is not in a tree of 3 leaves"):
        MerkleTree.from_leaves(b"\x01" * 96).proof(3)


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=300, unique=True))
def test_every_leaf_proof_verifies_and_no_proof_verifies_another_leaf(leaves: list[bytes]) -> None:
    tree = MerkleTree.from_leaves(b"".join(leaves))

    assert len(tree) == len(leaves)
    for index, leaf in enumerate(leaves):
        proof = tree.proof(index)
        assert tree.leaf(index) == leaf
        assert verify_proof(tree.root, leaf, proof)
        assert len(proof) <= max(1, len(leaves) - 1).bit_length()
        other = leaves[(index + 1) % len(leaves)]
        if other != leaf:
            assert not verify_proof(tree.root, other, proof)


@given(st.integers(2, 100), st.data())
def test_a_tampered_sibling_breaks_the_proof(size: int, data: st.DataObject) -> None:
    leaves = [keccak(n.to_bytes(4, "big")) for n in range(size)]
    tree = MerkleTree.from_leaves(b"".join(leaves))
    index = data.draw(st.integers(0, size - 1))
    proof = tree.proof(index)
    position = data.draw(st.integers(0, len(proof) - 1))
    proof[position] = bytes(b ^ 1 for b in proof[position])

    assert not tree.verify(leaves[index], proof)


def test_bulk_item_ids_are_the_canonical_item_ids() -> None:
    serials = ["A1", "B/2", "Z9"]

    assert item_ids_for("0614141123452", serials) == [
        item_id("00614141123452", s).value for s in serials
    ]


def test_bulk_item_ids_check_every_serial_and_a_batch_refuses_a_repeated_item() -> None:
    with pytest.raises(InvalidSerial):
        item_ids_for("00614141123452", ["ok", "not ok"])
    with pytest.raises(ValueError, match="appears twice"):
        prepare([b"\x01" * 32, b"\x02" * 32, b"\x01" * 32])
