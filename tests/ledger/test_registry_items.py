"""Registry items: registration, custody (single, batch), status, retail sale, claim, retirement.

Success paths check the item's history (event names, ``seq`` and arguments, via
``Registry.history``) and its state; refusals check the decoded error class and its data.
Matrix tests (every action on an unknown, retired, frozen or in-transit item) compare a map
of action → refusal, so one failure shows every action that misbehaves.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import pytest
from eth_account.signers.local import LocalAccount
from eth_keys.datatypes import Signature

from ledger.claims import claim_key, generate_claim_code, sign_claim
from ledger.contract_errors import (
    BatchSize,
    InvalidClaimSignature,
    ItemAlreadyRegistered,
    LengthMismatch,
    NoClaimKey,
    NotBrandAuthority,
    NotConsignee,
    NotCustodian,
    NotOperator,
    NotRecalled,
    NotStolen,
    RecalledItem,
    SelfTransfer,
    Status,
    StolenItem,
    WrongStatus,
    ZeroAddress,
)
from ledger.identifiers import ItemId, item_id
from ledger.registry import ZERO_ADDRESS, Flag, ItemState, Registry
from ledger.transactions import TxResult
from tests.helpers import emitted, history, refusal, reverts, state

if TYPE_CHECKING:
    from tests.conftest import Roles

# A GTIN under brand 1's prefix (conftest.PREFIX) and one under brand 2's.
GTIN = "00614141123452"
OTHER_GTIN = "00950600123459"
MAX_BATCH = 500
DOC_HASH = bytes.fromhex("d0c5" * 16)
ZERO_HASH = "0x" + "00" * 32
DEAD = "0x000000000000000000000000000000000000dEaD"
"""A valid recipient that is none of the test parties."""


# ───────────── helpers ─────────────


def serial_item(serial: str, gtin: str = GTIN) -> ItemId:
    return item_id(gtin, serial)


def numbered(count: int, start: int = 1) -> list[ItemId]:
    """``count`` distinct item ids, cheaply (no hashing): batch-size tests need hundreds."""
    return [ItemId(n.to_bytes(32, "big")) for n in range(start, start + count)]


def timestamp(registry: Registry, result: TxResult) -> int:
    return int(registry.w3.eth.get_block(result.block_number)["timestamp"])


@pytest.fixture
def item(registry: Registry, roles: Roles) -> ItemId:
    """An Active item of brand 1, registered and held by ``roles.operator``."""
    registered = serial_item("A1")
    registry.register(roles.operator, registered)
    return registered


@pytest.fixture
def shipped(registry: Registry, roles: Roles, item: ItemId) -> ItemId:
    """``item``, shipped by ``roles.operator`` to ``roles.distributor`` (seq 2)."""
    registry.ship(roles.operator, item, roles.distributor.address)
    return item


@pytest.fixture
def code() -> str:
    return generate_claim_code()


def sold_with_claim_key(registry: Registry, roles: Roles, code: str) -> ItemId:
    """An item registered with the claim key of ``code``, sold by ``roles.operator`` (seq 2)."""
    sold = serial_item("CLAIM")
    registry.register(roles.operator, sold, claim_key=claim_key(sold, code).address)
    registry.record_retail_sale(roles.operator, sold)
    return sold


def claim_for(
    registry: Registry, roles: Roles, item: ItemId, code: str, owner: LocalAccount
) -> TxResult:
    signature = sign_claim(
        item, code, owner.address, chain_id=registry.chain_id, contract=registry.address
    )
    return registry.claim(roles.relayer, item, owner.address, signature)


# ───────────── register ─────────────


def test_register_emits_item_registered_at_seq_1_and_gives_custody_to_the_operator(
    registry: Registry, roles: Roles, brand: int
) -> None:
    new = serial_item("1")

    result = registry.register(roles.operator, new, DOC_HASH)

    assert history(registry, new) == [
        (
            "ItemRegistered",
            1,
            {
                "brandId": brand,
                "operator": roles.operator.address,
                "docHash": "0x" + DOC_HASH.hex(),
            },
        )
    ]
    assert registry.item(new) == ItemState(
        item_id=new,
        custodian=roles.operator.address,
        status=Status.ACTIVE,
        flags=Flag(0),
        seq=1,
        registered_at=timestamp(registry, result),
        brand_id=brand,
        operator=roles.operator.address,
        consignee=None,
        claimable=False,
        registered_while_suspended=False,
    )


def test_register_by_another_brands_operator_records_that_brand(
    registry: Registry, roles: Roles
) -> None:
    new = serial_item("1", OTHER_GTIN)

    registry.register(roles.other_operator, new)

    assert history(registry, new) == [
        (
            "ItemRegistered",
            1,
            {"brandId": 2, "operator": roles.other_operator.address, "docHash": ZERO_HASH},
        )
    ]
    assert state(registry, new).brand_id == 2


def test_item_registered_with_claim_key_becomes_claimable_only_once_sold(
    registry: Registry, roles: Roles, code: str
) -> None:
    new = serial_item("1")
    registry.register(roles.operator, new, claim_key=claim_key(new, code).address)
    assert not state(registry, new).claimable

    registry.record_retail_sale(roles.operator, new)

    assert state(registry, new).claimable


def test_item_registered_without_claim_key_is_not_claimable_when_sold(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    registry.record_retail_sale(roles.operator, item)

    assert not state(registry, item).claimable


@pytest.mark.parametrize("second", ["operator", "other_operator"])
def test_register_reverts_when_item_is_already_registered(
    registry: Registry, roles: Roles, item: ItemId, second: str
) -> None:
    account: LocalAccount = getattr(roles, second)
    with reverts(ItemAlreadyRegistered, itemId=item.hex()):
        registry.register(account, item, DOC_HASH)
    assert len(registry.history(item)) == 1


@pytest.mark.parametrize("caller", ["admin", "brand_admin", "distributor", "stranger"])
def test_register_reverts_when_caller_is_not_an_operator(
    registry: Registry, roles: Roles, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    with reverts(NotOperator, account=account.address):
        registry.register(account, serial_item("1"))


# ───────────── registerBatch / registerBatchWithClaimKeys ─────────────


def test_register_batch_emits_batch_registered_then_one_event_per_item(
    registry: Registry, roles: Roles, brand: int
) -> None:
    items = [serial_item(f"B{n}") for n in range(3)]
    batch_id = items[0].hex()

    result = registry.register_batch(roles.operator, items, DOC_HASH)

    assert emitted(registry, result.receipt) == [
        (
            "BatchRegistered",
            {
                "batchId": batch_id,
                "brandId": brand,
                "operator": roles.operator.address,
                "docHash": "0x" + DOC_HASH.hex(),
                "count": 3,
            },
        ),
        *[("BatchItemRegistered", {"itemId": i.hex(), "batchId": batch_id}) for i in items],
    ]
    for registered in items:
        assert history(registry, registered) == [("BatchItemRegistered", 1, {"batchId": batch_id})]
        found = state(registry, registered)
        assert (found.custodian, found.status, found.seq, found.brand_id) == (
            roles.operator.address,
            Status.ACTIVE,
            1,
            brand,
        )
        assert found.registered_at == timestamp(registry, result)


def test_register_batch_with_claim_keys_arms_each_nonzero_key(
    registry: Registry, roles: Roles, brand: int, code: str
) -> None:
    keyed, unkeyed = serial_item("K1"), serial_item("K2")
    claim_keys = [claim_key(keyed, code).address, ZERO_ADDRESS]

    result = registry.register_batch(roles.operator, [keyed, unkeyed], DOC_HASH, claim_keys)

    batch_id = keyed.hex()
    assert emitted(registry, result.receipt) == [
        (
            "BatchRegistered",
            {
                "batchId": batch_id,
                "brandId": brand,
                "operator": roles.operator.address,
                "docHash": "0x" + DOC_HASH.hex(),
                "count": 2,
            },
        ),
        ("BatchItemRegistered", {"itemId": keyed.hex(), "batchId": batch_id}),
        ("BatchItemRegistered", {"itemId": unkeyed.hex(), "batchId": batch_id}),
    ]
    registry.transfer_batch(roles.operator, [keyed, unkeyed], roles.retailer.address)
    registry.record_retail_sale(roles.retailer, keyed)
    registry.record_retail_sale(roles.retailer, unkeyed)
    assert state(registry, keyed).claimable
    assert not state(registry, unkeyed).claimable
    claim_for(registry, roles, keyed, code, roles.consumer)
    assert state(registry, keyed).custodian == roles.consumer.address


@pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
@pytest.mark.parametrize("with_keys", [False, True], ids=["plain", "claim-keys"])
def test_register_batch_reverts_for_batch_size_outside_1_to_max(
    registry: Registry, roles: Roles, size: int, with_keys: bool
) -> None:
    items = numbered(size)
    claim_keys = [ZERO_ADDRESS] * size if with_keys else None
    with reverts(BatchSize, size=size, max=MAX_BATCH):
        registry.register_batch(roles.operator, items, DOC_HASH, claim_keys)


@pytest.mark.parametrize("key_count", [1, 3])
def test_register_batch_with_claim_keys_reverts_when_lengths_differ(
    registry: Registry, roles: Roles, key_count: int
) -> None:
    items = numbered(2)
    with reverts(LengthMismatch, expected=2, actual=key_count):
        registry.register_batch(roles.operator, items, DOC_HASH, [DEAD] * key_count)
    assert registry.item(items[0]) is None


@pytest.mark.parametrize("with_keys", [False, True], ids=["plain", "claim-keys"])
def test_register_batch_with_a_duplicate_registers_nothing(
    registry: Registry, roles: Roles, with_keys: bool
) -> None:
    first, second = numbered(2)
    batch = [first, second, first]
    claim_keys = [DEAD] * 3 if with_keys else None

    with reverts(ItemAlreadyRegistered, itemId=first.hex()):
        registry.register_batch(roles.operator, batch, DOC_HASH, claim_keys)

    assert registry.item(first) is None
    assert registry.item(second) is None
    assert registry.history(first) == []


def test_register_batch_including_a_registered_item_registers_nothing(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    fresh = serial_item("fresh")
    with reverts(ItemAlreadyRegistered, itemId=item.hex()):
        registry.register_batch(roles.operator, [fresh, item])
    assert registry.item(fresh) is None


@pytest.mark.parametrize("with_keys", [False, True], ids=["plain", "claim-keys"])
def test_register_batch_reverts_when_caller_is_not_an_operator(
    registry: Registry, roles: Roles, with_keys: bool
) -> None:
    claim_keys = [DEAD] if with_keys else None
    with reverts(NotOperator, account=roles.brand_admin.address):
        registry.register_batch(roles.brand_admin, numbered(1), DOC_HASH, claim_keys)


# ───────────── transfer / transferBatch ─────────────


def test_transfer_emits_custody_transferred_and_hands_custody_over(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    registry.transfer(roles.operator, item, roles.distributor.address)
    registry.transfer(roles.distributor, item, roles.retailer.address)

    assert history(registry, item)[1:] == [
        (
            "CustodyTransferred",
            2,
            {"from": roles.operator.address, "to": roles.distributor.address},
        ),
        (
            "CustodyTransferred",
            3,
            {"from": roles.distributor.address, "to": roles.retailer.address},
        ),
    ]
    found = state(registry, item)
    assert (found.custodian, found.status, found.consignee) == (
        roles.retailer.address,
        Status.ACTIVE,
        None,
    )
    assert found.operator == roles.operator.address  # the registering operator never changes


@pytest.mark.parametrize(
    "caller", ["brand_admin", "other_operator", "distributor", "stranger", "admin"]
)
def test_transfer_reverts_when_caller_is_not_custodian(
    registry: Registry, roles: Roles, item: ItemId, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    with reverts(
        NotCustodian, itemId=item.hex(), custodian=roles.operator.address, caller=account.address
    ):
        registry.transfer(account, item, roles.retailer.address)


def test_transfer_reverts_for_the_previous_custodian(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    registry.transfer(roles.operator, item, roles.distributor.address)
    with reverts(
        NotCustodian,
        itemId=item.hex(),
        custodian=roles.distributor.address,
        caller=roles.operator.address,
    ):
        registry.transfer(roles.operator, item, roles.retailer.address)


def test_transfer_reverts_for_zero_recipient(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    with reverts(ZeroAddress):
        registry.transfer(roles.operator, item, ZERO_ADDRESS)


def test_transfer_reverts_when_custodian_hands_item_to_itself(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    with reverts(SelfTransfer, itemId=item.hex(), account=roles.operator.address):
        registry.transfer(roles.operator, item, roles.operator.address)


def test_transfer_batch_moves_every_item_with_one_event_each(
    registry: Registry, roles: Roles
) -> None:
    items = numbered(3)
    registry.register_batch(roles.operator, items)

    registry.transfer_batch(roles.operator, items, roles.distributor.address)

    for moved in items:
        assert history(registry, moved)[1:] == [
            (
                "CustodyTransferred",
                2,
                {"from": roles.operator.address, "to": roles.distributor.address},
            )
        ]
        assert state(registry, moved).custodian == roles.distributor.address


def test_transfer_batch_with_one_item_held_elsewhere_moves_nothing(
    registry: Registry, roles: Roles
) -> None:
    first, elsewhere, last = numbered(3)
    registry.register_batch(roles.operator, [first, elsewhere, last])
    registry.transfer(roles.operator, elsewhere, roles.retailer.address)

    with reverts(
        NotCustodian,
        itemId=elsewhere.hex(),
        custodian=roles.retailer.address,
        caller=roles.operator.address,
    ):
        registry.transfer_batch(roles.operator, [first, elsewhere, last], roles.distributor.address)

    assert state(registry, first).custodian == roles.operator.address
    assert state(registry, last).custodian == roles.operator.address
    assert len(registry.history(first)) == 1


def test_transfer_batch_naming_an_item_twice_moves_nothing(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    with reverts(
        NotCustodian,
        itemId=item.hex(),
        custodian=roles.distributor.address,
        caller=roles.operator.address,
    ):
        registry.transfer_batch(roles.operator, [item, item], roles.distributor.address)
    assert state(registry, item).custodian == roles.operator.address


# ───────────── ship / acceptDelivery / cancelShipment ─────────────


def test_ship_emits_item_shipped_and_leaves_the_shipper_custodian_until_receipt(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    registry.ship(roles.operator, item, roles.distributor.address)

    assert history(registry, item)[1:] == [
        ("ItemShipped", 2, {"from": roles.operator.address, "to": roles.distributor.address})
    ]
    found = state(registry, item)
    assert (found.status, found.custodian, found.consignee) == (
        Status.IN_TRANSIT,
        roles.operator.address,
        roles.distributor.address,
    )


def test_receive_by_consignee_emits_item_received_and_transfers_custody(
    registry: Registry, roles: Roles, shipped: ItemId
) -> None:
    registry.receive(roles.distributor, shipped)

    assert history(registry, shipped)[2:] == [
        ("ItemReceived", 3, {"by": roles.distributor.address})
    ]
    found = state(registry, shipped)
    assert (found.status, found.custodian, found.consignee) == (
        Status.ACTIVE,
        roles.distributor.address,
        None,
    )


def test_item_shipped_again_after_receipt_names_its_new_shipper(
    registry: Registry, roles: Roles, shipped: ItemId
) -> None:
    registry.receive(roles.distributor, shipped)

    registry.ship(roles.distributor, shipped, roles.retailer.address)

    found = state(registry, shipped)
    assert (found.custodian, found.consignee) == (roles.distributor.address, roles.retailer.address)
    with reverts(
        NotCustodian,
        itemId=shipped.hex(),
        custodian=roles.distributor.address,
        caller=roles.operator.address,
    ):
        registry.cancel_shipment(roles.operator, shipped)


@pytest.mark.parametrize("caller", ["operator", "retailer", "stranger", "brand_admin"])
def test_receive_reverts_when_caller_is_not_the_consignee(
    registry: Registry, roles: Roles, shipped: ItemId, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    with reverts(
        NotConsignee,
        itemId=shipped.hex(),
        consignee=roles.distributor.address,
        caller=account.address,
    ):
        registry.receive(account, shipped)


def test_receive_reverts_for_an_item_not_in_transit(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    with reverts(WrongStatus, itemId=item.hex(), actual=Status.ACTIVE, required=Status.IN_TRANSIT):
        registry.receive(roles.operator, item)


@pytest.mark.parametrize("caller", ["distributor", "brand_admin", "stranger"])
def test_ship_reverts_when_caller_is_not_custodian(
    registry: Registry, roles: Roles, item: ItemId, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    with reverts(
        NotCustodian, itemId=item.hex(), custodian=roles.operator.address, caller=account.address
    ):
        registry.ship(account, item, roles.retailer.address)


def test_ship_reverts_for_zero_recipient(registry: Registry, roles: Roles, item: ItemId) -> None:
    with reverts(ZeroAddress):
        registry.ship(roles.operator, item, ZERO_ADDRESS)


def test_ship_reverts_when_custodian_ships_to_itself(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    with reverts(SelfTransfer, itemId=item.hex(), account=roles.operator.address):
        registry.ship(roles.operator, item, roles.operator.address)


def test_shipper_cannot_transfer_ship_or_sell_an_item_in_transit(
    registry: Registry, roles: Roles, shipped: ItemId
) -> None:
    in_transit = {"itemId": shipped.hex(), "actual": Status.IN_TRANSIT, "required": Status.ACTIVE}
    shipper = roles.operator

    assert {
        "transfer": refusal(lambda: registry.transfer(shipper, shipped, roles.retailer.address)),
        "ship": refusal(lambda: registry.ship(shipper, shipped, roles.retailer.address)),
        "sale": refusal(lambda: registry.record_retail_sale(shipper, shipped)),
    } == {
        "transfer": ("WrongStatus", in_transit),
        "ship": ("WrongStatus", in_transit),
        "sale": ("WrongStatus", in_transit),
    }


def test_consignee_cannot_transfer_ship_or_sell_before_receiving(
    registry: Registry, roles: Roles, shipped: ItemId
) -> None:
    consignee = roles.distributor
    not_yet = {
        "itemId": shipped.hex(),
        "custodian": roles.operator.address,
        "caller": consignee.address,
    }

    assert {
        "transfer": refusal(lambda: registry.transfer(consignee, shipped, roles.retailer.address)),
        "ship": refusal(lambda: registry.ship(consignee, shipped, roles.retailer.address)),
        "sale": refusal(lambda: registry.record_retail_sale(consignee, shipped)),
        "report stolen": refusal(lambda: registry.report_stolen(consignee, shipped)),
    } == {
        "transfer": ("NotCustodian", not_yet),
        "ship": ("NotCustodian", not_yet),
        "sale": ("NotCustodian", not_yet),
        "report stolen": ("NotCustodian", not_yet),
    }


def test_cancel_shipment_emits_shipment_cancelled_and_the_shipper_keeps_the_item(
    registry: Registry, roles: Roles, shipped: ItemId
) -> None:
    registry.cancel_shipment(roles.operator, shipped)

    assert history(registry, shipped)[2:] == [
        ("ShipmentCancelled", 3, {"by": roles.operator.address})
    ]
    found = state(registry, shipped)
    assert (found.status, found.custodian, found.consignee) == (
        Status.ACTIVE,
        roles.operator.address,
        None,
    )
    with reverts(
        WrongStatus, itemId=shipped.hex(), actual=Status.ACTIVE, required=Status.IN_TRANSIT
    ):
        registry.receive(roles.distributor, shipped)


@pytest.mark.parametrize("caller", ["distributor", "brand_admin", "stranger"])
def test_cancel_shipment_reverts_when_caller_is_not_the_shipper(
    registry: Registry, roles: Roles, shipped: ItemId, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    with reverts(
        NotCustodian,
        itemId=shipped.hex(),
        custodian=roles.operator.address,
        caller=account.address,
    ):
        registry.cancel_shipment(account, shipped)


def test_cancel_shipment_reverts_for_an_item_not_in_transit(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    with reverts(WrongStatus, itemId=item.hex(), actual=Status.ACTIVE, required=Status.IN_TRANSIT):
        registry.cancel_shipment(roles.operator, item)


def test_ship_batch_and_receive_batch_move_every_item(registry: Registry, roles: Roles) -> None:
    items = numbered(3)
    registry.register_batch(roles.operator, items)

    registry.ship_batch(roles.operator, items, roles.distributor.address)
    for moved in items:
        assert state(registry, moved).consignee == roles.distributor.address
    registry.receive_batch(roles.distributor, items)

    for moved in items:
        assert history(registry, moved)[1:] == [
            (
                "ItemShipped",
                2,
                {"from": roles.operator.address, "to": roles.distributor.address},
            ),
            ("ItemReceived", 3, {"by": roles.distributor.address}),
        ]
        assert state(registry, moved).custodian == roles.distributor.address


def test_ship_batch_with_one_item_held_elsewhere_ships_nothing(
    registry: Registry, roles: Roles
) -> None:
    first, elsewhere = numbered(2)
    registry.register_batch(roles.operator, [first, elsewhere])
    registry.transfer(roles.operator, elsewhere, roles.retailer.address)

    with reverts(
        NotCustodian,
        itemId=elsewhere.hex(),
        custodian=roles.retailer.address,
        caller=roles.operator.address,
    ):
        registry.ship_batch(roles.operator, [first, elsewhere], roles.distributor.address)
    assert state(registry, first).status is Status.ACTIVE


def test_receive_batch_with_one_item_shipped_elsewhere_receives_nothing(
    registry: Registry, roles: Roles
) -> None:
    first, elsewhere, unshipped = numbered(3)
    registry.register_batch(roles.operator, [first, elsewhere, unshipped])
    registry.ship(roles.operator, first, roles.distributor.address)
    registry.ship(roles.operator, elsewhere, roles.retailer.address)

    with reverts(
        NotConsignee,
        itemId=elsewhere.hex(),
        consignee=roles.retailer.address,
        caller=roles.distributor.address,
    ):
        registry.receive_batch(roles.distributor, [first, elsewhere])
    with reverts(
        WrongStatus, itemId=unshipped.hex(), actual=Status.ACTIVE, required=Status.IN_TRANSIT
    ):
        registry.receive_batch(roles.distributor, [first, unshipped])
    assert state(registry, first).status is Status.IN_TRANSIT
    assert state(registry, first).custodian == roles.operator.address


BATCH_ACTIONS: dict[str, Callable[[Registry, LocalAccount, list[ItemId]], TxResult]] = {
    "transferBatch": lambda r, a, items: r.transfer_batch(a, items, DEAD),
    "shipBatch": lambda r, a, items: r.ship_batch(a, items, DEAD),
    "acceptDeliveryBatch": lambda r, a, items: r.receive_batch(a, items),
    "recall": lambda r, a, items: r.recall(a, items),
    "liftRecall": lambda r, a, items: r.lift_recall(a, items),
}


@pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
@pytest.mark.parametrize("action", list(BATCH_ACTIONS))
def test_batch_actions_revert_for_batch_size_outside_1_to_max(
    registry: Registry, roles: Roles, action: str, size: int
) -> None:
    with reverts(BatchSize, size=size, max=MAX_BATCH):
        BATCH_ACTIONS[action](registry, roles.operator, numbered(size))


# ───────────── recall / liftRecall ─────────────


@pytest.mark.parametrize("caller", ["brand_admin", "operator"])
def test_recall_and_lift_recall_by_brand_admin_or_operator_emit_events(
    registry: Registry, roles: Roles, item: ItemId, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    registry.transfer(roles.operator, item, roles.distributor.address)

    registry.recall(account, [item])
    assert state(registry, item).flags == Flag.RECALLED
    registry.lift_recall(account, [item])

    assert history(registry, item)[2:] == [
        ("ItemRecalled", 3, {"by": account.address}),
        ("RecallLifted", 4, {"by": account.address}),
    ]
    found = state(registry, item)
    assert (found.flags, found.status, found.custodian) == (
        Flag(0),
        Status.ACTIVE,
        roles.distributor.address,
    )


def test_recall_of_many_items_emits_one_event_per_item(registry: Registry, roles: Roles) -> None:
    items = numbered(3)
    registry.register_batch(roles.operator, items)

    registry.recall(roles.brand_admin, items)

    for recalled in items:
        assert history(registry, recalled)[1:] == [
            ("ItemRecalled", 2, {"by": roles.brand_admin.address})
        ]
        assert state(registry, recalled).recalled


@pytest.mark.parametrize(
    "caller", ["other_brand_admin", "other_operator", "admin", "distributor", "stranger"]
)
def test_recall_and_lift_recall_revert_when_caller_does_not_act_for_the_brand(
    registry: Registry, roles: Roles, item: ItemId, brand: int, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    registry.transfer(roles.operator, item, roles.distributor.address)

    with reverts(NotBrandAuthority, brandId=brand, account=account.address):
        registry.recall(account, [item])
    registry.recall(roles.brand_admin, [item])
    with reverts(NotBrandAuthority, brandId=brand, account=account.address):
        registry.lift_recall(account, [item])


def test_removed_operator_can_no_longer_recall(
    registry: Registry, roles: Roles, item: ItemId, brand: int
) -> None:
    registry.remove_operator(roles.brand_admin, roles.operator.address)
    with reverts(NotBrandAuthority, brandId=brand, account=roles.operator.address):
        registry.recall(roles.operator, [item])


def test_recall_spanning_two_brands_recalls_nothing(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    foreign = serial_item("F", OTHER_GTIN)
    registry.register(roles.other_operator, foreign)

    with reverts(NotBrandAuthority, brandId=2, account=roles.brand_admin.address):
        registry.recall(roles.brand_admin, [item, foreign])
    assert not state(registry, item).recalled


def test_recall_reverts_for_an_item_already_recalled(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    registry.recall(roles.brand_admin, [item])
    with reverts(RecalledItem, itemId=item.hex()):
        registry.recall(roles.operator, [item])


def test_lift_recall_reverts_for_an_item_not_recalled(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    with reverts(NotRecalled, itemId=item.hex()):
        registry.lift_recall(roles.brand_admin, [item])


# ───────────── reportStolen / clearStolen ─────────────


def test_report_and_clear_stolen_by_custodian_emit_events(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    registry.transfer(roles.operator, item, roles.retailer.address)

    registry.report_stolen(roles.retailer, item)
    assert state(registry, item).flags == Flag.STOLEN
    registry.clear_stolen(roles.retailer, item)

    assert history(registry, item)[2:] == [
        ("ItemReportedStolen", 3, {"by": roles.retailer.address}),
        ("StolenReportCleared", 4, {"by": roles.retailer.address}),
    ]
    assert state(registry, item).flags == Flag(0)


@pytest.mark.parametrize("caller", ["brand_admin", "operator", "stranger"])
def test_report_and_clear_stolen_revert_when_caller_is_not_custodian(
    registry: Registry, roles: Roles, item: ItemId, caller: str
) -> None:
    registry.transfer(roles.operator, item, roles.retailer.address)
    account: LocalAccount = getattr(roles, caller)
    refused = {
        "itemId": item.hex(),
        "custodian": roles.retailer.address,
        "caller": account.address,
    }

    with reverts(NotCustodian, **refused):
        registry.report_stolen(account, item)
    registry.report_stolen(roles.retailer, item)
    with reverts(NotCustodian, **refused):
        registry.clear_stolen(account, item)


def test_shipper_may_report_an_item_stolen_in_transit(
    registry: Registry, roles: Roles, shipped: ItemId
) -> None:
    registry.report_stolen(roles.operator, shipped)

    assert history(registry, shipped)[2:] == [
        ("ItemReportedStolen", 3, {"by": roles.operator.address})
    ]
    found = state(registry, shipped)
    assert (found.status, found.flags) == (Status.IN_TRANSIT, Flag.STOLEN)


def test_report_stolen_reverts_for_an_item_already_reported(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    registry.report_stolen(roles.operator, item)
    with reverts(StolenItem, itemId=item.hex()):
        registry.report_stolen(roles.operator, item)


def test_clear_stolen_reverts_for_an_item_not_reported(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    with reverts(NotStolen, itemId=item.hex()):
        registry.clear_stolen(roles.operator, item)


# ───────────── frozen items ─────────────


@pytest.mark.parametrize("flag", ["recalled", "stolen"])
def test_frozen_item_cannot_be_transferred_shipped_received_cancelled_sold_or_claimed(
    registry: Registry, roles: Roles, item: ItemId, code: str, flag: str
) -> None:
    held = item
    in_transit = serial_item("T")
    registry.register(roles.operator, in_transit)
    registry.ship(roles.operator, in_transit, roles.distributor.address)
    sold = sold_with_claim_key(registry, roles, code)
    for frozen in (held, in_transit, sold):
        if flag == "recalled":
            registry.recall(roles.brand_admin, [frozen])
        else:
            registry.report_stolen(roles.operator, frozen)
    error = "RecalledItem" if flag == "recalled" else "StolenItem"
    op, dist = roles.operator, roles.distributor

    outcomes = {
        "transfer": refusal(lambda: registry.transfer(op, held, dist.address)),
        "transferBatch": refusal(lambda: registry.transfer_batch(op, [held], dist.address)),
        "ship": refusal(lambda: registry.ship(op, held, dist.address)),
        "shipBatch": refusal(lambda: registry.ship_batch(op, [held], dist.address)),
        "recordRetailSale": refusal(lambda: registry.record_retail_sale(op, held)),
        "acceptDelivery": refusal(lambda: registry.receive(dist, in_transit)),
        "acceptDeliveryBatch": refusal(lambda: registry.receive_batch(dist, [in_transit])),
        "cancelShipment": refusal(lambda: registry.cancel_shipment(op, in_transit)),
        "claim": refusal(lambda: claim_for(registry, roles, sold, code, roles.consumer)),
    }

    assert outcomes == {
        "transfer": (error, {"itemId": held.hex()}),
        "transferBatch": (error, {"itemId": held.hex()}),
        "ship": (error, {"itemId": held.hex()}),
        "shipBatch": (error, {"itemId": held.hex()}),
        "recordRetailSale": (error, {"itemId": held.hex()}),
        "acceptDelivery": (error, {"itemId": in_transit.hex()}),
        "acceptDeliveryBatch": (error, {"itemId": in_transit.hex()}),
        "cancelShipment": (error, {"itemId": in_transit.hex()}),
        "claim": (error, {"itemId": sold.hex()}),
    }


def test_item_moves_again_once_recall_is_lifted_and_theft_report_cleared(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    registry.recall(roles.brand_admin, [item])
    registry.report_stolen(roles.operator, item)
    with reverts(RecalledItem, itemId=item.hex()):  # the recall is named first
        registry.transfer(roles.operator, item, roles.distributor.address)

    registry.lift_recall(roles.brand_admin, [item])
    with reverts(StolenItem, itemId=item.hex()):
        registry.transfer(roles.operator, item, roles.distributor.address)
    registry.clear_stolen(roles.operator, item)
    registry.transfer(roles.operator, item, roles.distributor.address)

    assert state(registry, item).custodian == roles.distributor.address


# ───────────── recordRetailSale ─────────────


def test_record_retail_sale_emits_retail_sale_recorded_and_marks_item_sold(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    registry.transfer(roles.operator, item, roles.retailer.address)

    registry.record_retail_sale(roles.retailer, item)

    assert history(registry, item)[2:] == [
        ("RetailSaleRecorded", 3, {"retailer": roles.retailer.address})
    ]
    found = state(registry, item)
    assert (found.status, found.custodian) == (Status.SOLD, roles.retailer.address)


@pytest.mark.parametrize("caller", ["brand_admin", "distributor", "stranger"])
def test_record_retail_sale_reverts_when_caller_is_not_custodian(
    registry: Registry, roles: Roles, item: ItemId, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    with reverts(
        NotCustodian, itemId=item.hex(), custodian=roles.operator.address, caller=account.address
    ):
        registry.record_retail_sale(account, item)


def test_sold_item_cannot_be_sold_again_transferred_or_shipped(
    registry: Registry, roles: Roles, item: ItemId
) -> None:
    registry.record_retail_sale(roles.operator, item)
    sold = {"itemId": item.hex(), "actual": Status.SOLD, "required": Status.ACTIVE}
    op = roles.operator

    assert {
        "sale": refusal(lambda: registry.record_retail_sale(op, item)),
        "transfer": refusal(lambda: registry.transfer(op, item, roles.consumer.address)),
        "ship": refusal(lambda: registry.ship(op, item, roles.consumer.address)),
    } == {
        "sale": ("WrongStatus", sold),
        "transfer": ("WrongStatus", sold),
        "ship": ("WrongStatus", sold),
    }


# ───────────── claim ─────────────


def test_claim_emits_item_claimed_and_makes_the_new_owner_custodian(
    registry: Registry, roles: Roles, code: str
) -> None:
    sold = sold_with_claim_key(registry, roles, code)

    claim_for(registry, roles, sold, code, roles.consumer)

    assert history(registry, sold)[2:] == [("ItemClaimed", 3, {"owner": roles.consumer.address})]
    found = state(registry, sold)
    assert (found.status, found.custodian, found.flags, found.claimable) == (
        Status.ACTIVE,
        roles.consumer.address,
        Flag.CLAIMED,
        False,
    )
    with reverts(WrongStatus, itemId=sold.hex(), actual=Status.ACTIVE, required=Status.SOLD):
        claim_for(registry, roles, sold, code, roles.consumer)


def test_claim_reverts_for_a_signature_by_another_key(
    registry: Registry, roles: Roles, code: str
) -> None:
    sold = sold_with_claim_key(registry, roles, code)
    wrong_code = generate_claim_code()
    with reverts(
        InvalidClaimSignature, itemId=sold.hex(), signer=claim_key(sold, wrong_code).address
    ):
        claim_for(registry, roles, sold, wrong_code, roles.consumer)


def test_claim_reverts_when_a_signature_is_replayed_for_another_owner(
    registry: Registry, roles: Roles, code: str
) -> None:
    sold = sold_with_claim_key(registry, roles, code)
    signature = sign_claim(
        sold, code, roles.consumer.address, chain_id=registry.chain_id, contract=registry.address
    )
    digest = registry.claim_digest(sold, roles.stranger.address)
    recovered = Signature(signature[:64] + bytes([signature[64] - 27]))
    signer = recovered.recover_public_key_from_msg_hash(digest).to_checksum_address()

    with reverts(InvalidClaimSignature, itemId=sold.hex(), signer=signer):
        registry.claim(roles.relayer, sold, roles.stranger.address, signature)


def test_claim_reverts_for_a_sold_item_without_claim_key(
    registry: Registry, roles: Roles, item: ItemId, code: str
) -> None:
    registry.record_retail_sale(roles.operator, item)
    with reverts(NoClaimKey, itemId=item.hex()):
        claim_for(registry, roles, item, code, roles.consumer)


def test_claim_reverts_for_an_item_not_sold(registry: Registry, roles: Roles, code: str) -> None:
    unsold = serial_item("U")
    registry.register(roles.operator, unsold, claim_key=claim_key(unsold, code).address)
    with reverts(WrongStatus, itemId=unsold.hex(), actual=Status.ACTIVE, required=Status.SOLD):
        claim_for(registry, roles, unsold, code, roles.consumer)


def test_claim_reverts_for_zero_new_owner(registry: Registry, roles: Roles, code: str) -> None:
    sold = sold_with_claim_key(registry, roles, code)
    signature = sign_claim(
        sold, code, ZERO_ADDRESS, chain_id=registry.chain_id, contract=registry.address
    )
    with reverts(ZeroAddress):
        registry.claim(roles.relayer, sold, ZERO_ADDRESS, signature)


# ───────────── decommission / destroy ─────────────

RETIREMENTS = {
    "decommission": ("ItemDecommissioned", Status.DECOMMISSIONED),
    "destroy": ("ItemDestroyed", Status.DESTROYED),
}


def retire(registry: Registry, how: str, sender: LocalAccount, item: ItemId) -> TxResult:
    if how == "decommission":
        return registry.decommission(sender, item)
    return registry.destroy(sender, item)


@pytest.mark.parametrize("actor", ["distributor", "brand_admin", "operator"])
@pytest.mark.parametrize("how", list(RETIREMENTS))
def test_retire_by_custodian_or_brand_emits_its_event_and_sets_final_status(
    registry: Registry, roles: Roles, item: ItemId, how: str, actor: str
) -> None:
    registry.transfer(roles.operator, item, roles.distributor.address)
    account: LocalAccount = getattr(roles, actor)
    event, status = RETIREMENTS[how]

    retire(registry, how, account, item)

    assert history(registry, item)[2:] == [(event, 3, {"by": account.address})]
    found = state(registry, item)
    assert (found.status, found.custodian, found.seq) == (status, roles.distributor.address, 3)


@pytest.mark.parametrize("how", list(RETIREMENTS))
def test_retire_works_on_sold_and_on_frozen_items(
    registry: Registry, roles: Roles, how: str
) -> None:
    sold, recalled = numbered(2)
    registry.register_batch(roles.operator, [sold, recalled])
    registry.record_retail_sale(roles.operator, sold)
    registry.recall(roles.brand_admin, [recalled])

    retire(registry, how, roles.operator, sold)
    retire(registry, how, roles.brand_admin, recalled)

    _, status = RETIREMENTS[how]
    assert state(registry, sold).status is status
    assert (state(registry, recalled).status, state(registry, recalled).flags) == (
        status,
        Flag.RECALLED,
    )


@pytest.mark.parametrize(
    "caller", ["other_brand_admin", "other_operator", "operator", "stranger", "admin"]
)
@pytest.mark.parametrize("how", list(RETIREMENTS))
def test_retire_reverts_when_caller_is_neither_custodian_nor_brand(
    registry: Registry, roles: Roles, item: ItemId, how: str, caller: str, brand: int
) -> None:
    """``operator`` is refused here because it was removed from the brand first."""
    registry.transfer(roles.operator, item, roles.retailer.address)
    registry.remove_operator(roles.brand_admin, roles.operator.address)
    account: LocalAccount = getattr(roles, caller)

    with reverts(NotBrandAuthority, brandId=brand, account=account.address):
        retire(registry, how, account, item)


@pytest.mark.parametrize("caller", ["operator", "brand_admin"])
@pytest.mark.parametrize("how", list(RETIREMENTS))
def test_retire_reverts_for_an_item_in_transit(
    registry: Registry, roles: Roles, shipped: ItemId, how: str, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    with reverts(
        WrongStatus, itemId=shipped.hex(), actual=Status.IN_TRANSIT, required=Status.ACTIVE
    ):
        retire(registry, how, account, shipped)


def every_item_action(roles: Roles, code: str) -> dict[str, Callable[[Registry, ItemId], object]]:
    """Every registry write that names an item, each sent by a party entitled to it."""
    op, brand_admin = roles.operator, roles.brand_admin

    def claim(registry: Registry, item: ItemId) -> TxResult:
        return claim_for(registry, roles, item, code, roles.consumer)

    return {
        "register": lambda r, i: r.register(op, i),
        "registerBatch": lambda r, i: r.register_batch(op, [i]),
        "transfer": lambda r, i: r.transfer(op, i, DEAD),
        "transferBatch": lambda r, i: r.transfer_batch(op, [i], DEAD),
        "ship": lambda r, i: r.ship(op, i, DEAD),
        "shipBatch": lambda r, i: r.ship_batch(op, [i], DEAD),
        "acceptDelivery": lambda r, i: r.receive(op, i),
        "acceptDeliveryBatch": lambda r, i: r.receive_batch(op, [i]),
        "cancelShipment": lambda r, i: r.cancel_shipment(op, i),
        "recall": lambda r, i: r.recall(brand_admin, [i]),
        "liftRecall": lambda r, i: r.lift_recall(brand_admin, [i]),
        "reportStolen": lambda r, i: r.report_stolen(op, i),
        "clearStolen": lambda r, i: r.clear_stolen(op, i),
        "recordRetailSale": lambda r, i: r.record_retail_sale(op, i),
        "decommission": lambda r, i: r.decommission(op, i),
        "destroy": lambda r, i: r.destroy(brand_admin, i),
        "claim": claim,
    }


@pytest.mark.parametrize("how", list(RETIREMENTS))
def test_retired_item_refuses_every_action_with_item_retired(
    registry: Registry, roles: Roles, code: str, how: str
) -> None:
    retired = sold_with_claim_key(registry, roles, code)
    retire(registry, how, roles.operator, retired)
    _, status = RETIREMENTS[how]
    actions = every_item_action(roles, code)

    outcomes = {name: refusal(partial(act, registry, retired)) for name, act in actions.items()}

    already = ("ItemAlreadyRegistered", {"itemId": retired.hex()})
    final = ("ItemRetired", {"itemId": retired.hex(), "actual": status})
    assert outcomes == {name: already if name.startswith("register") else final for name in actions}
    assert len(registry.history(retired)) == 3


def test_unregistered_item_refuses_every_action_with_unknown_item(
    registry: Registry, roles: Roles, code: str
) -> None:
    unknown = serial_item("never-registered")
    actions = every_item_action(roles, code)
    del actions["register"], actions["registerBatch"]

    outcomes = {name: refusal(partial(act, registry, unknown)) for name, act in actions.items()}

    assert outcomes == dict.fromkeys(actions, ("UnknownItem", {"itemId": unknown.hex()}))
    assert registry.item(unknown) is None
    assert registry.history(unknown) == []


# ───────────── sequence numbers ─────────────


def test_every_item_event_raises_seq_by_one_and_seq_counts_the_history(
    registry: Registry, roles: Roles, code: str
) -> None:
    item = serial_item("LIFE")
    steps: list[Callable[[], object]] = [
        lambda: registry.register(roles.operator, item, claim_key=claim_key(item, code).address),
        lambda: registry.ship(roles.operator, item, roles.distributor.address),
        lambda: registry.cancel_shipment(roles.operator, item),
        lambda: registry.ship(roles.operator, item, roles.distributor.address),
        lambda: registry.receive(roles.distributor, item),
        lambda: registry.transfer(roles.distributor, item, roles.retailer.address),
        lambda: registry.recall(roles.operator, [item]),
        lambda: registry.lift_recall(roles.brand_admin, [item]),
        lambda: registry.report_stolen(roles.retailer, item),
        lambda: registry.clear_stolen(roles.retailer, item),
        lambda: registry.record_retail_sale(roles.retailer, item),
        lambda: claim_for(registry, roles, item, code, roles.consumer),
        lambda: registry.destroy(roles.consumer, item),
    ]

    for expected_seq, step in enumerate(steps, start=1):
        step()
        assert state(registry, item).seq == expected_seq

    assert [(name, seq) for name, seq, _ in history(registry, item)] == [
        ("ItemRegistered", 1),
        ("ItemShipped", 2),
        ("ShipmentCancelled", 3),
        ("ItemShipped", 4),
        ("ItemReceived", 5),
        ("CustodyTransferred", 6),
        ("ItemRecalled", 7),
        ("RecallLifted", 8),
        ("ItemReportedStolen", 9),
        ("StolenReportCleared", 10),
        ("RetailSaleRecorded", 11),
        ("ItemClaimed", 12),
        ("ItemDestroyed", 13),
    ]
    assert state(registry, item).seq == len(registry.history(item))
