"""Merkle batches on chain: anchoring, activation with a proof, first action in one multicall.

Trees come from :mod:`ledger.merkle`, so every test here also checks that the Python tree
and OpenZeppelin's ``MerkleProof`` agree. Refusals check the decoded error and its data;
successes check the events, the item's state and its history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.chain import Chain
from ledger.claims import claim_key, generate_claim_code, sign_claim
from ledger.contract_errors import (
    BatchAlreadyAnchored,
    BatchSize,
    BrandIsSuspended,
    InvalidBatchProof,
    ItemAlreadyRegistered,
    NotCustodian,
    NotOperator,
    Status,
    UnknownBatch,
)
from ledger.identifiers import ItemId, container_id, item_id
from ledger.merkle import BatchProof, MerkleTree
from ledger.outbox.operations import contract_call
from ledger.registry import Flag, Registry
from tests.helpers import emitted, history, reverts, state

if TYPE_CHECKING:
    from tests.conftest import Roles

GTIN = "00614141123452"
DOC_HASH = bytes.fromhex("d0c5" * 16)
DEAD = "0x000000000000000000000000000000000000dEaD"
MAX_UINT32 = 2**32 - 1


def items(count: int, prefix: str = "M") -> list[ItemId]:
    return [item_id(GTIN, f"{prefix}{n}") for n in range(count)]


def tree_of(ids: list[ItemId], keys: list[str | None] | None = None) -> MerkleTree:
    raw_keys = None if keys is None else [_raw(k) for k in keys]
    return MerkleTree.of_items([i.value for i in ids], raw_keys)


def _raw(key: str | None) -> bytes:
    return b"\x00" * 20 if key is None else bytes.fromhex(key[2:])


def proof(tree: MerkleTree, index: int, key: str | None = None) -> BatchProof:
    return BatchProof(tree.root, index, key, tuple(tree.proof(index)))


def anchored(registry: Registry, roles: Roles, ids: list[ItemId]) -> MerkleTree:
    tree = tree_of(ids)
    registry.anchor_batch(roles.operator, tree.root, len(ids), DOC_HASH)
    return tree


# ───────────── anchoring ─────────────


def test_anchor_batch_emits_batch_anchored_and_records_the_batch(
    registry: Registry, roles: Roles, brand: int
) -> None:
    tree = tree_of(items(10))

    result = registry.anchor_batch(roles.operator, tree.root, 10, DOC_HASH)

    assert emitted(registry, result.receipt) == [
        (
            "BatchAnchored",
            {
                "root": "0x" + tree.root.hex(),
                "brandId": brand,
                "operator": roles.operator.address,
                "docHash": "0x" + DOC_HASH.hex(),
                "count": 10,
            },
        )
    ]
    batch = registry.batch(tree.root)
    assert batch is not None
    assert (batch.brand_id, batch.operator, batch.count) == (brand, roles.operator.address, 10)
    block = registry.w3.eth.get_block(result.block_number)
    assert batch.anchored_at == block["timestamp"]


def test_anchoring_costs_at_most_100000_gas_whatever_the_batch_size(
    registry: Registry, roles: Roles
) -> None:
    small = registry.anchor_batch(roles.operator, b"\x01" * 32, 1)
    huge = registry.anchor_batch(roles.operator, b"\x02" * 32, 1_000_000)

    assert small.gas_used <= 100_000
    assert abs(huge.gas_used - small.gas_used) < 100  # only the count's calldata differs


def test_get_batch_of_an_unknown_root_is_none(registry: Registry) -> None:
    assert registry.batch(b"\x07" * 32) is None
    assert registry.contract.functions.getBatch(b"\x07" * 32).call() == [
        0,
        "0x0000000000000000000000000000000000000000",
        0,
        0,
    ]


def test_anchor_batch_reverts_when_the_root_is_already_anchored(
    registry: Registry, roles: Roles
) -> None:
    registry.anchor_batch(roles.operator, b"\x01" * 32, 5)

    with reverts(BatchAlreadyAnchored, root="0x" + "01" * 32):
        registry.anchor_batch(roles.operator, b"\x01" * 32, 7)


def test_anchor_batch_reverts_for_an_empty_batch(registry: Registry, roles: Roles) -> None:
    with reverts(BatchSize, size=0, max=MAX_UINT32):
        registry.anchor_batch(roles.operator, b"\x01" * 32, 0)


def test_anchor_batch_reverts_when_caller_is_not_an_operator(
    registry: Registry, roles: Roles
) -> None:
    with reverts(NotOperator, account=roles.brand_admin.address):
        registry.anchor_batch(roles.brand_admin, b"\x01" * 32, 5)


def test_anchor_batch_reverts_while_the_brand_is_suspended(
    registry: Registry, roles: Roles, brand: int
) -> None:
    registry.suspend_brand(roles.admin, brand, 1)

    with reverts(BrandIsSuspended, brandId=brand, since=1):
        registry.anchor_batch(roles.operator, b"\x01" * 32, 5)


# ───────────── activation ─────────────


def test_activation_registers_the_item_as_of_the_anchoring_by_the_batch_operator(
    registry: Registry, roles: Roles, brand: int
) -> None:
    ids = items(5)
    tree = anchored(registry, roles, ids)
    batch = registry.batch(tree.root)
    assert batch is not None

    result = registry.activate_batch_item(roles.stranger, ids[3], proof(tree, 3))

    assert emitted(registry, result.receipt) == [
        ("BatchItemActivated", {"itemId": ids[3].hex(), "root": "0x" + tree.root.hex()})
    ]
    item = state(registry, ids[3])
    assert item.custodian == roles.operator.address
    assert item.operator == roles.operator.address
    assert (item.status, item.seq, item.brand_id) == (Status.ACTIVE, 1, brand)
    assert item.registered_at == batch.anchored_at
    assert not item.registered_while_suspended
    assert history(registry, ids[3]) == [
        ("BatchItemActivated", 1, {"root": "0x" + tree.root.hex()})
    ]
    assert registry.doc_hash(registry.history(ids[3])) == "0x" + DOC_HASH.hex()
    assert registry.item(ids[2]) is None  # only the item activated came on chain


def test_activation_sets_the_claim_key_of_the_leaf(registry: Registry, roles: Roles) -> None:
    ids = items(3)
    code = generate_claim_code()
    key = claim_key(ids[1], code).address
    tree = tree_of(ids, [None, key, None])
    registry.anchor_batch(roles.operator, tree.root, 3)
    registry.activate_batch_item(roles.stranger, ids[1], proof(tree, 1, key))
    registry.record_retail_sale(roles.operator, ids[1])

    assert state(registry, ids[1]).claimable
    signature = sign_claim(
        ids[1], code, roles.consumer.address, chain_id=registry.chain_id, contract=registry.address
    )
    registry.claim(roles.relayer, ids[1], roles.consumer.address, signature)
    claimed = state(registry, ids[1])
    assert claimed.custodian == roles.consumer.address
    assert Flag.CLAIMED in claimed.flags


def test_activation_reverts_for_an_unknown_root(registry: Registry, roles: Roles) -> None:
    ids = items(4)
    tree = tree_of(ids)

    with reverts(UnknownBatch, root="0x" + tree.root.hex()):
        registry.activate_batch_item(roles.stranger, ids[0], proof(tree, 0))


def test_activation_reverts_for_a_proof_of_another_leaf(registry: Registry, roles: Roles) -> None:
    ids = items(4)
    tree = anchored(registry, roles, ids)

    with reverts(InvalidBatchProof, itemId=ids[0].hex(), root="0x" + tree.root.hex()):
        registry.activate_batch_item(roles.stranger, ids[0], proof(tree, 1))


def test_activation_reverts_for_a_claim_key_not_in_the_leaf(
    registry: Registry, roles: Roles
) -> None:
    ids = items(4)
    tree = anchored(registry, roles, ids)
    forged = proof(tree, 2, Account.create().address)

    with reverts(InvalidBatchProof, itemId=ids[2].hex(), root="0x" + tree.root.hex()):
        registry.activate_batch_item(roles.stranger, ids[2], forged)


def test_activation_reverts_when_the_item_is_already_on_chain(
    registry: Registry, roles: Roles
) -> None:
    ids = items(4)
    tree = anchored(registry, roles, ids)
    registry.activate_batch_item(roles.stranger, ids[0], proof(tree, 0))
    registry.register(roles.operator, ids[1])

    with reverts(ItemAlreadyRegistered, itemId=ids[0].hex()):
        registry.activate_batch_item(roles.stranger, ids[0], proof(tree, 0))
    with reverts(ItemAlreadyRegistered, itemId=ids[1].hex()):
        registry.activate_batch_item(roles.stranger, ids[1], proof(tree, 1))


def test_an_item_activated_after_a_suspension_reaching_back_before_its_batch_is_flagged(
    registry: Registry, roles: Roles, brand: int
) -> None:
    ids = items(2)
    tree = anchored(registry, roles, ids)
    batch = registry.batch(tree.root)
    assert batch is not None
    registry.suspend_brand(roles.admin, brand, batch.anchored_at)

    registry.activate_batch_item(roles.stranger, ids[0], proof(tree, 0))

    assert state(registry, ids[0]).registered_while_suspended


# ───────────── first action in one multicall ─────────────


def test_first_ship_activates_the_item_in_the_same_transaction(
    registry: Registry, roles: Roles
) -> None:
    ids = items(6)
    tree = anchored(registry, roles, ids)
    registry.batch_proofs = lambda item: proof(tree, ids.index(item)) if item in ids else None
    try:
        result = registry.ship(roles.operator, ids[4], roles.distributor.address)
        again = registry.first_action(
            ids[4], registry.contract.functions.acceptDelivery(ids[4].value)
        )
    finally:
        registry.batch_proofs = None

    assert [name for name, _ in emitted(registry, result.receipt)] == [
        "BatchItemActivated",
        "ItemShipped",
    ]
    assert [(name, seq) for name, seq, _ in history(registry, ids[4])] == [
        ("BatchItemActivated", 1),
        ("ItemShipped", 2),
    ]
    assert state(registry, ids[4]).status is Status.IN_TRANSIT
    assert again.fn_name == "acceptDelivery"  # on chain now: no activation any more


def test_packing_batch_items_activates_those_not_yet_on_chain_in_the_same_transaction(
    registry: Registry, roles: Roles
) -> None:
    ids = items(4)
    tree = anchored(registry, roles, ids)
    case = container_id("106141412345678908")
    registry.batch_proofs = lambda item: proof(tree, ids.index(item)) if item in ids else None
    try:
        registry.ship(roles.operator, ids[0], roles.distributor.address)
        registry.cancel_shipment(roles.operator, ids[0])  # on chain now, the others are not
        result = registry.pack(roles.operator, case, [ids[0], ids[2], ids[3]])
    finally:
        registry.batch_proofs = None

    names = [name for name, _ in emitted(registry, result.receipt)]
    assert names.count("BatchItemActivated") == 2
    assert names.count("ItemPacked") == 3
    assert registry.item(ids[1]) is None  # not packed: still only a leaf
    for item in (ids[0], ids[2], ids[3]):
        packed = state(registry, item)
        assert packed.container == case
        assert packed.custodian == roles.operator.address


def test_a_refused_first_action_leaves_the_item_off_chain(registry: Registry, roles: Roles) -> None:
    ids = items(3)
    tree = anchored(registry, roles, ids)
    registry.batch_proofs = lambda item: proof(tree, ids.index(item))
    try:
        with reverts(
            NotCustodian,
            itemId=ids[0].hex(),
            custodian=roles.operator.address,
            caller=roles.stranger.address,
        ):
            registry.transfer(roles.stranger, ids[0], DEAD)
    finally:
        registry.batch_proofs = None

    assert registry.item(ids[0]) is None


def test_activation_and_ship_cost_less_than_a_registration_and_a_ship(
    registry: Registry, roles: Roles
) -> None:
    ids = items(1000)
    tree = anchored(registry, roles, ids)
    plain = item_id(GTIN, "PLAIN")
    registered = registry.register(roles.operator, plain)
    shipped = registry.ship(roles.operator, plain, roles.distributor.address)
    call = registry.multicall_call(
        [
            registry.activate_call(ids[500], proof(tree, 500)),
            registry.contract.functions.ship(ids[500].value, roles.distributor.address),
        ]
    )
    both = registry._send(roles.operator, call)

    assert both.gas_used < registered.gas_used + shipped.gas_used


# ───────────── property: every leaf, and nothing else ─────────────


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=st.integers(1, 40), data=st.data())
def test_every_leaf_proof_activates_and_a_wrong_one_is_refused(
    chain: Chain, deployed: Registry, roles: Roles, size: int, data: st.DataObject
) -> None:
    registry = deployed
    index = data.draw(st.integers(0, size - 1), label="index")
    with_keys = data.draw(st.booleans(), label="with claim keys")
    ids = items(size, prefix=f"P{size}-")
    keys: list[str | None] = [
        Account.create().address if with_keys and n % 2 == 0 else None for n in range(size)
    ]
    tree = tree_of(ids, keys)
    good = proof(tree, index, keys[index])
    assert good.verifies(ids[index])
    snapshot = chain.snapshot()
    try:
        registry.anchor_batch(roles.operator, tree.root, size)
        root = "0x" + tree.root.hex()
        if size > 1:
            other = (index + 1) % size
            with reverts(InvalidBatchProof, itemId=ids[index].hex(), root=root):
                registry.activate_batch_item(
                    roles.stranger, ids[index], proof(tree, other, keys[index])
                )
        wrong_key = BatchProof(tree.root, index, Account.create().address, good.siblings)
        assert not wrong_key.verifies(ids[index])
        with reverts(InvalidBatchProof, itemId=ids[index].hex(), root=root):
            registry.activate_batch_item(roles.stranger, ids[index], wrong_key)
        wrong_root = BatchProof(b"\x99" * 32, index, keys[index], good.siblings)
        with reverts(UnknownBatch, root="0x" + "99" * 32):
            registry.activate_batch_item(roles.stranger, ids[index], wrong_root)

        registry.activate_batch_item(roles.stranger, ids[index], good)

        assert state(registry, ids[index]).seq == 1
    finally:
        chain.revert(snapshot)


def test_outbox_calls_on_a_batch_item_carry_its_activation_except_receipt(
    registry: Registry, roles: Roles
) -> None:
    ids = items(2, prefix="OB")
    tree = anchored(registry, roles, ids)
    registry.batch_proofs = lambda item: proof(tree, ids.index(item)) if item in ids else None
    request = {"gtin": GTIN, "serial": "OB0", "item_id": ids[0].hex()}
    try:
        ship = contract_call(registry, "ship", {**request, "to": roles.distributor.address})
        stolen = contract_call(registry, "report_stolen", request)
        receive = contract_call(registry, "receive", request)
        elsewhere = contract_call(
            registry,
            "ship",
            {**request, "item_id": item_id(GTIN, "X").hex(), "to": roles.distributor.address},
        )
    finally:
        registry.batch_proofs = None

    assert (ship.fn_name, stolen.fn_name) == ("multicall", "multicall")
    assert (receive.fn_name, elsewhere.fn_name) == ("acceptDelivery", "ship")
    registry._send(roles.operator, ship)
    assert state(registry, ids[0]).status is Status.IN_TRANSIT
