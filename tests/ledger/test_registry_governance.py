"""Registry governance: brands, prefixes, brand admins, suspensions, operators, partners.

Every success path checks the exact events of its transaction; every refusal checks the
decoded error class and its data. Tests run on the session registry of ``conftest`` (brand 1
with ``roles.operator``, brand 2 with ``roles.other_operator``), rolled back after each test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils.abi import event_abi_to_log_topic
from hexbytes import HexBytes
from web3.types import TxReceipt

from ledger.chain import Chain
from ledger.contract_errors import (
    BrandIsSuspended,
    InvalidPrefix,
    InvalidSuspensionTime,
    NotBrandAdmin,
    NotOperator,
    OperatorAlreadyAssigned,
    OperatorIsSuspended,
    OwnableUnauthorizedAccount,
    PrefixConflict,
    RenounceDisabled,
    UnknownBrand,
    ZeroAddress,
)
from ledger.errors import InvalidCompanyPrefix
from ledger.identifiers import ItemId, item_id
from ledger.registry import ZERO_ADDRESS, BrandInfo, ItemState, OperatorInfo, Registry
from tests.helpers import reverts

if TYPE_CHECKING:
    from tests.conftest import Roles

# The brands ``conftest.deployed`` admits (conftest.PREFIX and its GTIN for brand 1).
PREFIX = "0614141"
GTIN = "00614141123452"
OTHER_PREFIX = "0950600"
OTHER_GTIN = "00950600123459"
NEW_PREFIX = "4000001"
NEW_GTIN = "04000001123452"
UNKNOWN_BRAND = 99


# ───────────── helpers ─────────────


def emitted(registry: Registry, receipt: TxReceipt) -> list[tuple[str, dict[str, Any]]]:
    """Every registry event of ``receipt``, in log order, as (name, args)."""
    by_topic = {
        HexBytes(event_abi_to_log_topic(entry)): str(entry["name"])
        for entry in registry.contract.abi
        if entry["type"] == "event"
    }
    events = []
    for log in receipt["logs"]:
        assert log["address"] == registry.address
        name = by_topic[HexBytes(log["topics"][0])]
        data = registry.contract.events[name]().process_log(log)
        events.append((name, dict(data["args"])))
    return events


def last_receipt(registry: Registry) -> TxReceipt:
    """The receipt of the one transaction in the latest block (for writes returning a value)."""
    (tx_hash,) = registry.w3.eth.get_block("latest")["transactions"]
    assert isinstance(tx_hash, bytes)
    return registry.w3.eth.get_transaction_receipt(tx_hash)


def block_count(registry: Registry) -> int:
    return int(registry.w3.eth.block_number)


def pending_time(chain: Chain) -> int:
    """The timestamp the next transaction will be mined with (absent time travel)."""
    return int(chain.w3.eth.get_block("pending")["timestamp"])


def latest_time(chain: Chain) -> int:
    return int(chain.w3.eth.get_block("latest")["timestamp"])


def _state(registry: Registry, item: ItemId) -> ItemState:
    state = registry.item(item)
    assert state is not None, f"{item} is not registered"
    return state


def register(registry: Registry, operator: LocalAccount, serial: str) -> ItemId:
    item = item_id(GTIN, serial)
    registry.register(operator, item)
    return item


# ───────────── admitBrand ─────────────


def test_admit_brand_returns_next_id_and_emits_brand_admitted_then_each_prefix(
    registry: Registry, roles: Roles
) -> None:
    brand_id = registry.admit_brand(
        roles.admin, roles.stranger.address, "Newco", [NEW_PREFIX, "4000002"]
    )

    assert brand_id == 3
    assert emitted(registry, last_receipt(registry)) == [
        ("BrandAdmitted", {"brandId": 3, "admin": roles.stranger.address, "name": "Newco"}),
        ("PrefixAssigned", {"brandId": 3, "prefix": NEW_PREFIX}),
        ("PrefixAssigned", {"brandId": 3, "prefix": "4000002"}),
    ]
    assert registry.brand_count() == 3
    assert registry.brand(3) == BrandInfo(3, roles.stranger.address, 0)
    assert registry.brand_of_prefix(NEW_PREFIX) == 3
    assert registry.brand_of_prefix("4000002") == 3
    assert registry.brand_of_gtin(NEW_GTIN) == 3


def test_admit_brand_accepts_a_brand_without_prefixes(registry: Registry, roles: Roles) -> None:
    brand_id = registry.admit_brand(roles.admin, roles.stranger.address, "Newco", [])

    assert emitted(registry, last_receipt(registry)) == [
        ("BrandAdmitted", {"brandId": brand_id, "admin": roles.stranger.address, "name": "Newco"})
    ]


@pytest.mark.parametrize("prefix", ["1234", "123456789012"])
def test_admit_brand_accepts_prefixes_of_4_and_12_digits(
    registry: Registry, roles: Roles, prefix: str
) -> None:
    brand_id = registry.admit_brand(roles.admin, roles.stranger.address, "Newco", [prefix])

    assert registry.brand_of_prefix(prefix) == brand_id


@pytest.mark.parametrize("caller", ["brand_admin", "operator", "stranger"])
def test_admit_brand_reverts_when_caller_is_not_registry_admin(
    registry: Registry, roles: Roles, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    with reverts(OwnableUnauthorizedAccount, account=account.address):
        registry.admit_brand(account, roles.stranger.address, "Newco", [NEW_PREFIX])


def test_admit_brand_reverts_for_zero_admin(registry: Registry, roles: Roles) -> None:
    with reverts(ZeroAddress):
        registry.admit_brand(roles.admin, ZERO_ADDRESS, "Newco", [NEW_PREFIX])


MALFORMED_PREFIXES = [
    pytest.param("123", id="3-digits"),
    pytest.param("1234567890123", id="13-digits"),
    pytest.param("", id="empty"),
    pytest.param("12a4", id="letter"),
    pytest.param("12 45", id="space"),
    pytest.param("\u0661\u0662\u0663\u0664", id="arabic-indic-digits"),
]


@pytest.mark.parametrize("prefix", MALFORMED_PREFIXES)
def test_admit_brand_contract_reverts_with_invalid_prefix(
    registry: Registry, roles: Roles, prefix: str
) -> None:
    """The contract checks prefixes itself, whatever a client sends."""
    call = registry.contract.functions.admitBrand(roles.stranger.address, "Newco", [prefix])
    with reverts(InvalidPrefix, prefix=prefix):
        registry._tx.send(roles.admin, call)
    assert registry.brand_count() == 2


@pytest.mark.parametrize("prefix", MALFORMED_PREFIXES)
def test_admit_brand_client_rejects_invalid_prefix_before_sending(
    registry: Registry, roles: Roles, prefix: str
) -> None:
    blocks = block_count(registry)
    with pytest.raises(InvalidCompanyPrefix) as caught:
        registry.admit_brand(roles.admin, roles.stranger.address, "Newco", [NEW_PREFIX, prefix])
    assert caught.value.value == prefix
    assert block_count(registry) == blocks


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param(PREFIX, id="duplicate"),
        pytest.param(PREFIX + "9", id="extends-assigned"),
        pytest.param(PREFIX + "98765", id="extends-assigned-by-5"),
        pytest.param(PREFIX[:-1], id="covered-by-assigned"),
        pytest.param(PREFIX[:4], id="covered-at-4-digits"),
    ],
)
def test_admit_brand_reverts_with_prefix_conflict_and_admits_nothing(
    registry: Registry, roles: Roles, prefix: str
) -> None:
    with reverts(PrefixConflict, prefix=prefix, ownerBrandId=1):
        registry.admit_brand(roles.admin, roles.stranger.address, "Newco", [NEW_PREFIX, prefix])
    assert registry.brand_count() == 2
    assert registry.brand(3) is None
    assert registry.brand_of_prefix(NEW_PREFIX) is None


def test_admit_brand_reverts_when_its_own_prefixes_overlap(
    registry: Registry, roles: Roles
) -> None:
    # The conflicting owner is the brand being admitted, which the revert then undoes.
    with reverts(PrefixConflict, prefix=NEW_PREFIX + "5", ownerBrandId=3):
        registry.admit_brand(
            roles.admin, roles.stranger.address, "Newco", [NEW_PREFIX, NEW_PREFIX + "5"]
        )
    assert registry.brand_count() == 2


# ───────────── assignPrefix ─────────────


def test_assign_prefix_emits_prefix_assigned_and_maps_gtins_to_the_brand(
    registry: Registry, roles: Roles, brand: int
) -> None:
    result = registry.assign_prefix(roles.admin, brand, NEW_PREFIX)

    assert emitted(registry, result.receipt) == [
        ("PrefixAssigned", {"brandId": brand, "prefix": NEW_PREFIX})
    ]
    assert registry.brand_of_prefix(NEW_PREFIX) == brand
    assert registry.brand_of_gtin(NEW_GTIN) == brand
    assert registry.brand_of_prefix(PREFIX) == brand


@pytest.mark.parametrize("caller", ["brand_admin", "operator", "stranger"])
def test_assign_prefix_reverts_when_caller_is_not_registry_admin(
    registry: Registry, roles: Roles, brand: int, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    with reverts(OwnableUnauthorizedAccount, account=account.address):
        registry.assign_prefix(account, brand, NEW_PREFIX)


@pytest.mark.parametrize("brand_id", [0, UNKNOWN_BRAND])
def test_assign_prefix_reverts_for_unknown_brand(
    registry: Registry, roles: Roles, brand_id: int
) -> None:
    with reverts(UnknownBrand, brandId=brand_id):
        registry.assign_prefix(roles.admin, brand_id, NEW_PREFIX)


@pytest.mark.parametrize(
    ("prefix", "owner"),
    [
        pytest.param(OTHER_PREFIX, 2, id="other-brands-prefix"),
        pytest.param(OTHER_PREFIX + "1", 2, id="extends-other-brands-prefix"),
        pytest.param(OTHER_PREFIX[:5], 2, id="covered-by-other-brands-prefix"),
        pytest.param(PREFIX + "1", 1, id="extends-own-prefix"),
        pytest.param(PREFIX, 1, id="own-prefix-again"),
    ],
)
def test_assign_prefix_reverts_with_prefix_conflict(
    registry: Registry, roles: Roles, brand: int, prefix: str, owner: int
) -> None:
    with reverts(PrefixConflict, prefix=prefix, ownerBrandId=owner):
        registry.assign_prefix(roles.admin, brand, prefix)


@pytest.mark.parametrize("prefix", MALFORMED_PREFIXES)
def test_assign_prefix_is_refused_by_client_and_contract_for_invalid_prefix(
    registry: Registry, roles: Roles, brand: int, prefix: str
) -> None:
    with pytest.raises(InvalidCompanyPrefix):
        registry.assign_prefix(roles.admin, brand, prefix)
    with reverts(InvalidPrefix, prefix=prefix):
        registry._tx.send(roles.admin, registry.contract.functions.assignPrefix(brand, prefix))


# ───────────── setBrandAdmin ─────────────


@pytest.mark.parametrize("caller", ["admin", "brand_admin"])
def test_set_brand_admin_by_registry_or_brand_admin_hands_over_brand_rights(
    registry: Registry, roles: Roles, brand: int, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    new_admin = roles.distributor

    result = registry.set_brand_admin(account, brand, new_admin.address)

    assert emitted(registry, result.receipt) == [
        (
            "BrandAdminChanged",
            {
                "brandId": brand,
                "previousAdmin": roles.brand_admin.address,
                "newAdmin": new_admin.address,
            },
        )
    ]
    assert registry.brand(brand) == BrandInfo(brand, new_admin.address, 0)
    with reverts(NotBrandAdmin, brandId=brand, account=roles.brand_admin.address):
        registry.add_operator(roles.brand_admin, brand, roles.stranger.address)
    registry.add_operator(new_admin, brand, roles.stranger.address)


@pytest.mark.parametrize("caller", ["stranger", "operator", "other_brand_admin", "distributor"])
def test_set_brand_admin_reverts_when_caller_is_neither_registry_nor_brand_admin(
    registry: Registry, roles: Roles, brand: int, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    with reverts(NotBrandAdmin, brandId=brand, account=account.address):
        registry.set_brand_admin(account, brand, account.address)


def test_set_brand_admin_reverts_for_unknown_brand(registry: Registry, roles: Roles) -> None:
    with reverts(UnknownBrand, brandId=UNKNOWN_BRAND):
        registry.set_brand_admin(roles.admin, UNKNOWN_BRAND, roles.stranger.address)


def test_set_brand_admin_reverts_for_zero_address(
    registry: Registry, roles: Roles, brand: int
) -> None:
    with reverts(ZeroAddress):
        registry.set_brand_admin(roles.brand_admin, brand, ZERO_ADDRESS)


# ───────────── suspendBrand / reinstateBrand ─────────────


def test_suspend_brand_emits_brand_suspended_and_records_since(
    registry: Registry, roles: Roles, brand: int
) -> None:
    result = registry.suspend_brand(roles.admin, brand, 1_000)

    assert emitted(registry, result.receipt) == [
        ("BrandSuspended", {"brandId": brand, "since": 1_000})
    ]
    assert registry.brand(brand) == BrandInfo(brand, roles.brand_admin.address, 1_000)


@pytest.mark.parametrize("caller", ["brand_admin", "operator", "stranger"])
def test_suspend_brand_reverts_when_caller_is_not_registry_admin(
    registry: Registry, roles: Roles, brand: int, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    with reverts(OwnableUnauthorizedAccount, account=account.address):
        registry.suspend_brand(account, brand, 1_000)


def test_suspend_brand_reverts_for_zero_since(registry: Registry, roles: Roles, brand: int) -> None:
    with reverts(InvalidSuspensionTime):
        registry.suspend_brand(roles.admin, brand, 0)


def test_suspend_brand_reverts_for_unknown_brand(registry: Registry, roles: Roles) -> None:
    with reverts(UnknownBrand, brandId=UNKNOWN_BRAND):
        registry.suspend_brand(roles.admin, UNKNOWN_BRAND, 1_000)


def test_suspended_brand_registers_until_since_and_is_refused_from_since(
    registry: Registry, chain: Chain, roles: Roles, brand: int
) -> None:
    since = pending_time(chain) + 100
    registry.suspend_brand(roles.admin, brand, since)
    before = register(registry, roles.operator, "before")

    chain.set_next_timestamp(since)
    with reverts(BrandIsSuspended, brandId=brand, since=since):
        registry.register(roles.operator, item_id(GTIN, "at-since"))
    with reverts(BrandIsSuspended, brandId=brand, since=since):
        registry.register_batch(roles.operator, [item_id(GTIN, "batch")])

    state = registry.item(before)
    assert state is not None
    assert not state.registered_while_suspended


def test_brand_suspended_from_the_past_is_refused_at_once(
    registry: Registry, chain: Chain, roles: Roles, brand: int
) -> None:
    since = latest_time(chain) - 3_600
    registry.suspend_brand(roles.admin, brand, since)

    with reverts(BrandIsSuspended, brandId=brand, since=since):
        registry.register(roles.operator, item_id(GTIN, "1"))
    registry.register(roles.other_operator, item_id(OTHER_GTIN, "1"))


def test_retroactive_brand_suspension_flags_items_registered_from_since_only(
    registry: Registry, chain: Chain, roles: Roles, brand: int
) -> None:
    early = register(registry, roles.operator, "early")
    chain.increase_time(10)
    at_since = register(registry, roles.operator, "at-since")
    later = register(registry, roles.operator, "later")
    other_brand = item_id(OTHER_GTIN, "same-time")
    registry.register(roles.other_operator, other_brand)
    since = _state(registry, at_since).registered_at

    registry.suspend_brand(roles.admin, brand, since)

    assert not _state(registry, early).registered_while_suspended
    assert _state(registry, at_since).registered_while_suspended
    assert _state(registry, later).registered_while_suspended
    assert not _state(registry, other_brand).registered_while_suspended


def test_reinstate_brand_emits_brand_reinstated_and_allows_registration(
    registry: Registry, roles: Roles, brand: int
) -> None:
    registry.suspend_brand(roles.admin, brand, 1_000)

    result = registry.reinstate_brand(roles.admin, brand)

    assert emitted(registry, result.receipt) == [("BrandReinstated", {"brandId": brand})]
    assert registry.brand(brand) == BrandInfo(brand, roles.brand_admin.address, 0)
    item = register(registry, roles.operator, "after")
    assert not _state(registry, item).registered_while_suspended


def test_reinstating_a_brand_keeps_flags_of_items_registered_while_suspended(
    registry: Registry, chain: Chain, roles: Roles, brand: int
) -> None:
    chain.increase_time(10)
    flagged = register(registry, roles.operator, "flagged")
    registry.suspend_brand(roles.admin, brand, _state(registry, flagged).registered_at)
    assert _state(registry, flagged).registered_while_suspended

    registry.reinstate_brand(roles.admin, brand)

    assert _state(registry, flagged).registered_while_suspended


@pytest.mark.parametrize("caller", ["brand_admin", "operator", "stranger"])
def test_reinstate_brand_reverts_when_caller_is_not_registry_admin(
    registry: Registry, roles: Roles, brand: int, caller: str
) -> None:
    registry.suspend_brand(roles.admin, brand, 1_000)
    account: LocalAccount = getattr(roles, caller)
    with reverts(OwnableUnauthorizedAccount, account=account.address):
        registry.reinstate_brand(account, brand)


def test_reinstate_brand_reverts_for_unknown_brand(registry: Registry, roles: Roles) -> None:
    with reverts(UnknownBrand, brandId=UNKNOWN_BRAND):
        registry.reinstate_brand(roles.admin, UNKNOWN_BRAND)


# ───────────── suspendOperator / reinstateOperator ─────────────


@pytest.mark.parametrize("caller", ["admin", "brand_admin"])
def test_suspend_operator_by_registry_or_brand_admin_emits_operator_suspended(
    registry: Registry, roles: Roles, brand: int, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)

    result = registry.suspend_operator(account, roles.operator.address, 1_000)

    assert emitted(registry, result.receipt) == [
        (
            "OperatorSuspended",
            {"brandId": brand, "operator": roles.operator.address, "since": 1_000},
        )
    ]
    assert registry.operator(roles.operator.address) == OperatorInfo(
        roles.operator.address, brand, 1, True, 1_000
    )


@pytest.mark.parametrize("caller", ["stranger", "operator", "other_brand_admin", "other_operator"])
def test_suspend_operator_reverts_when_caller_is_neither_registry_nor_its_brand_admin(
    registry: Registry, roles: Roles, brand: int, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    with reverts(NotBrandAdmin, brandId=brand, account=account.address):
        registry.suspend_operator(account, roles.operator.address, 1_000)


def test_suspend_operator_reverts_for_an_account_that_never_was_an_operator(
    registry: Registry, roles: Roles
) -> None:
    with reverts(NotOperator, account=roles.stranger.address):
        registry.suspend_operator(roles.admin, roles.stranger.address, 1_000)


def test_suspend_operator_reverts_for_zero_since(registry: Registry, roles: Roles) -> None:
    with reverts(InvalidSuspensionTime):
        registry.suspend_operator(roles.brand_admin, roles.operator.address, 0)


def test_suspended_operator_is_refused_from_since_while_its_brand_registers_on(
    registry: Registry, chain: Chain, roles: Roles, brand: int
) -> None:
    second = roles.relayer
    registry.add_operator(roles.brand_admin, brand, second.address)
    since = pending_time(chain) + 100
    registry.suspend_operator(roles.brand_admin, roles.operator.address, since)
    register(registry, roles.operator, "before")

    chain.set_next_timestamp(since)
    with reverts(OperatorIsSuspended, operator=roles.operator.address, since=since):
        registry.register(roles.operator, item_id(GTIN, "at-since"))
    with reverts(OperatorIsSuspended, operator=roles.operator.address, since=since):
        registry.register_batch(roles.operator, [item_id(GTIN, "batch")])
    unflagged = register(registry, second, "second-operator")
    assert not _state(registry, unflagged).registered_while_suspended


def test_operator_suspension_is_reported_before_brand_suspension(
    registry: Registry, chain: Chain, roles: Roles, brand: int
) -> None:
    since = latest_time(chain) - 10
    registry.suspend_brand(roles.admin, brand, since)
    registry.suspend_operator(roles.admin, roles.operator.address, since + 1)

    with reverts(OperatorIsSuspended, operator=roles.operator.address, since=since + 1):
        registry.register(roles.operator, item_id(GTIN, "1"))


def test_retroactive_operator_suspension_flags_its_items_registered_from_since_only(
    registry: Registry, chain: Chain, roles: Roles, brand: int
) -> None:
    second = roles.relayer
    registry.add_operator(roles.brand_admin, brand, second.address)
    early = register(registry, roles.operator, "early")
    chain.increase_time(10)
    at_since = register(registry, roles.operator, "at-since")
    by_second = register(registry, second, "second")
    since = _state(registry, at_since).registered_at

    registry.suspend_operator(roles.brand_admin, roles.operator.address, since)

    assert not _state(registry, early).registered_while_suspended
    assert _state(registry, at_since).registered_while_suspended
    assert not _state(registry, by_second).registered_while_suspended


def test_reinstate_operator_emits_operator_reinstated_and_allows_registration(
    registry: Registry, chain: Chain, roles: Roles, brand: int
) -> None:
    registry.suspend_operator(roles.admin, roles.operator.address, latest_time(chain) - 10)

    result = registry.reinstate_operator(roles.admin, roles.operator.address)

    assert emitted(registry, result.receipt) == [
        ("OperatorReinstated", {"brandId": brand, "operator": roles.operator.address})
    ]
    assert registry.operator(roles.operator.address) == OperatorInfo(
        roles.operator.address, brand, 1, True, 0
    )
    register(registry, roles.operator, "after")


def test_reinstating_an_operator_keeps_flags_of_items_registered_while_suspended(
    registry: Registry, chain: Chain, roles: Roles
) -> None:
    chain.increase_time(10)
    flagged = register(registry, roles.operator, "flagged")
    since = _state(registry, flagged).registered_at
    registry.suspend_operator(roles.admin, roles.operator.address, since)
    assert _state(registry, flagged).registered_while_suspended

    registry.reinstate_operator(roles.admin, roles.operator.address)

    assert _state(registry, flagged).registered_while_suspended


@pytest.mark.parametrize("caller", ["brand_admin", "stranger", "operator", "other_brand_admin"])
def test_reinstate_operator_reverts_when_caller_is_not_registry_admin(
    registry: Registry, roles: Roles, caller: str
) -> None:
    """Only the registry admin lifts a key suspension: a compromised brand admin cannot."""
    registry.suspend_operator(roles.admin, roles.operator.address, 1_000)
    account: LocalAccount = getattr(roles, caller)
    with reverts(OwnableUnauthorizedAccount, account=account.address):
        registry.reinstate_operator(account, roles.operator.address)
    info = registry.operator(roles.operator.address)
    assert info is not None
    assert info.suspended_from == 1_000


def test_suspending_again_can_move_a_suspension_earlier_but_never_later(
    registry: Registry, roles: Roles, brand: int
) -> None:
    registry.suspend_operator(roles.admin, roles.operator.address, 1_000)

    later = registry.suspend_operator(roles.brand_admin, roles.operator.address, 5_000)
    assert emitted(registry, later.receipt) == [
        (
            "OperatorSuspended",
            {"brandId": brand, "operator": roles.operator.address, "since": 1_000},
        )
    ]
    registry.suspend_operator(roles.brand_admin, roles.operator.address, 500)
    info = registry.operator(roles.operator.address)
    assert info is not None
    assert info.suspended_from == 500


def test_reinstate_operator_reverts_for_an_account_that_never_was_an_operator(
    registry: Registry, roles: Roles
) -> None:
    with reverts(NotOperator, account=roles.stranger.address):
        registry.reinstate_operator(roles.admin, roles.stranger.address)


# ───────────── registry admin: two-step transfer ─────────────


def test_transfer_admin_names_a_pending_admin_and_keeps_the_current_one(
    registry: Registry, roles: Roles
) -> None:
    result = registry.transfer_admin(roles.admin, roles.stranger.address)

    assert emitted(registry, result.receipt) == [
        (
            "OwnershipTransferStarted",
            {"previousOwner": roles.admin.address, "newOwner": roles.stranger.address},
        )
    ]
    assert registry.admin() == roles.admin.address
    assert registry.pending_admin() == roles.stranger.address
    registry.admit_brand(roles.admin, roles.distributor.address, "Still admin", [])


def test_accept_admin_moves_registry_admin_rights_to_the_pending_admin(
    registry: Registry, roles: Roles
) -> None:
    registry.transfer_admin(roles.admin, roles.stranger.address)

    result = registry.accept_admin(roles.stranger)

    assert emitted(registry, result.receipt) == [
        (
            "OwnershipTransferred",
            {"previousOwner": roles.admin.address, "newOwner": roles.stranger.address},
        )
    ]
    assert registry.admin() == roles.stranger.address
    assert registry.pending_admin() is None
    with reverts(OwnableUnauthorizedAccount, account=roles.admin.address):
        registry.admit_brand(roles.admin, roles.distributor.address, "Old admin", [])
    registry.admit_brand(roles.stranger, roles.distributor.address, "New admin", [NEW_PREFIX])


@pytest.mark.parametrize("caller", ["admin", "distributor", "brand_admin"])
def test_accept_admin_reverts_for_anyone_but_the_pending_admin(
    registry: Registry, roles: Roles, caller: str
) -> None:
    registry.transfer_admin(roles.admin, roles.stranger.address)
    account: LocalAccount = getattr(roles, caller)

    with reverts(OwnableUnauthorizedAccount, account=account.address):
        registry.accept_admin(account)
    assert registry.admin() == roles.admin.address


def test_accept_admin_reverts_when_no_transfer_is_pending(registry: Registry, roles: Roles) -> None:
    with reverts(OwnableUnauthorizedAccount, account=roles.stranger.address):
        registry.accept_admin(roles.stranger)


@pytest.mark.parametrize("caller", ["brand_admin", "stranger"])
def test_transfer_admin_reverts_when_caller_is_not_registry_admin(
    registry: Registry, roles: Roles, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    with reverts(OwnableUnauthorizedAccount, account=account.address):
        registry.transfer_admin(account, account.address)
    assert registry.pending_admin() is None


@pytest.mark.parametrize("caller", ["admin", "brand_admin"])
def test_renounce_ownership_is_disabled_even_for_the_registry_admin(
    registry: Registry, roles: Roles, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    call = registry.contract.functions.renounceOwnership()
    with reverts(RenounceDisabled):
        registry._tx.send(account, call)
    assert registry.admin() == roles.admin.address


# ───────────── addOperator / removeOperator ─────────────


def test_add_operator_emits_operator_added_with_next_operator_id(
    registry: Registry, roles: Roles, brand: int
) -> None:
    new = roles.stranger

    result = registry.add_operator(roles.brand_admin, brand, new.address)

    assert emitted(registry, result.receipt) == [
        ("OperatorAdded", {"brandId": brand, "operator": new.address, "operatorId": 3})
    ]
    assert registry.operator(new.address) == OperatorInfo(new.address, brand, 3, True, 0)
    item = register(registry, new, "by-new-operator")
    state = _state(registry, item)
    assert (state.brand_id, state.operator) == (brand, new.address)


@pytest.mark.parametrize("caller", ["admin", "operator", "stranger", "other_brand_admin"])
def test_add_operator_reverts_when_caller_is_not_brand_admin(
    registry: Registry, roles: Roles, brand: int, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    with reverts(NotBrandAdmin, brandId=brand, account=account.address):
        registry.add_operator(account, brand, roles.stranger.address)
    assert registry.operator(roles.stranger.address) is None


def test_add_operator_reverts_for_unknown_brand(registry: Registry, roles: Roles) -> None:
    with reverts(UnknownBrand, brandId=UNKNOWN_BRAND):
        registry.add_operator(roles.brand_admin, UNKNOWN_BRAND, roles.stranger.address)


def test_add_operator_reverts_for_zero_address(
    registry: Registry, roles: Roles, brand: int
) -> None:
    with reverts(ZeroAddress):
        registry.add_operator(roles.brand_admin, brand, ZERO_ADDRESS)


def test_add_operator_reverts_for_an_operator_of_another_brand(
    registry: Registry, roles: Roles, brand: int
) -> None:
    with reverts(OperatorAlreadyAssigned, operator=roles.other_operator.address, brandId=2):
        registry.add_operator(roles.brand_admin, brand, roles.other_operator.address)


def test_add_operator_reverts_for_an_operator_already_active_in_the_brand(
    registry: Registry, roles: Roles, brand: int
) -> None:
    with reverts(OperatorAlreadyAssigned, operator=roles.operator.address, brandId=brand):
        registry.add_operator(roles.brand_admin, brand, roles.operator.address)


def test_removed_operator_cannot_join_another_brand(
    registry: Registry, roles: Roles, brand: int
) -> None:
    registry.remove_operator(roles.brand_admin, roles.operator.address)

    with reverts(OperatorAlreadyAssigned, operator=roles.operator.address, brandId=brand):
        registry.add_operator(roles.other_brand_admin, 2, roles.operator.address)


def test_remove_operator_emits_operator_removed_and_stops_registration(
    registry: Registry, roles: Roles, brand: int
) -> None:
    result = registry.remove_operator(roles.brand_admin, roles.operator.address)

    assert emitted(registry, result.receipt) == [
        ("OperatorRemoved", {"brandId": brand, "operator": roles.operator.address})
    ]
    assert registry.operator(roles.operator.address) == OperatorInfo(
        roles.operator.address, brand, 1, False, 0
    )
    with reverts(NotOperator, account=roles.operator.address):
        registry.register(roles.operator, item_id(GTIN, "1"))
    with reverts(NotOperator, account=roles.operator.address):
        registry.register_batch(roles.operator, [item_id(GTIN, "2")])


def test_removed_operator_readded_to_its_brand_keeps_its_id_and_registers_again(
    registry: Registry, roles: Roles, brand: int
) -> None:
    registry.remove_operator(roles.brand_admin, roles.operator.address)

    result = registry.add_operator(roles.brand_admin, brand, roles.operator.address)

    assert emitted(registry, result.receipt) == [
        ("OperatorAdded", {"brandId": brand, "operator": roles.operator.address, "operatorId": 1})
    ]
    register(registry, roles.operator, "again")


@pytest.mark.parametrize("caller", ["admin", "operator", "stranger", "other_brand_admin"])
def test_remove_operator_reverts_when_caller_is_not_its_brand_admin(
    registry: Registry, roles: Roles, brand: int, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    with reverts(NotBrandAdmin, brandId=brand, account=account.address):
        registry.remove_operator(account, roles.operator.address)


@pytest.mark.parametrize("removed_first", [False, True], ids=["never-added", "already-removed"])
def test_remove_operator_reverts_for_an_account_that_is_not_an_active_operator(
    registry: Registry, roles: Roles, removed_first: bool
) -> None:
    account = roles.operator if removed_first else roles.stranger
    if removed_first:
        registry.remove_operator(roles.brand_admin, account.address)
    with reverts(NotOperator, account=account.address):
        registry.remove_operator(roles.brand_admin, account.address)


# ───────────── setPartner / isPartner ─────────────


def test_set_partner_names_and_unnames_a_partner_of_one_brand(
    registry: Registry, roles: Roles, brand: int
) -> None:
    named = registry.set_partner(roles.brand_admin, brand, roles.retailer.address)

    assert emitted(registry, named.receipt) == [
        ("PartnerSet", {"brandId": brand, "partner": roles.retailer.address, "authorised": True})
    ]
    assert registry.is_partner(brand, roles.retailer.address)
    assert not registry.is_partner(2, roles.retailer.address)

    unnamed = registry.set_partner(
        roles.brand_admin, brand, roles.retailer.address, authorised=False
    )

    assert emitted(registry, unnamed.receipt) == [
        ("PartnerSet", {"brandId": brand, "partner": roles.retailer.address, "authorised": False})
    ]
    assert not registry.is_partner(brand, roles.retailer.address)


@pytest.mark.parametrize("caller", ["admin", "operator", "stranger", "other_brand_admin"])
def test_set_partner_reverts_when_caller_is_not_brand_admin(
    registry: Registry, roles: Roles, brand: int, caller: str
) -> None:
    account: LocalAccount = getattr(roles, caller)
    with reverts(NotBrandAdmin, brandId=brand, account=account.address):
        registry.set_partner(account, brand, roles.retailer.address)
    assert not registry.is_partner(brand, roles.retailer.address)


def test_set_partner_reverts_for_unknown_brand(registry: Registry, roles: Roles) -> None:
    with reverts(UnknownBrand, brandId=UNKNOWN_BRAND):
        registry.set_partner(roles.brand_admin, UNKNOWN_BRAND, roles.retailer.address)


def test_set_partner_reverts_for_zero_address(registry: Registry, roles: Roles, brand: int) -> None:
    with reverts(ZeroAddress):
        registry.set_partner(roles.brand_admin, brand, ZERO_ADDRESS)


# ───────────── views ─────────────


def test_brand_views_describe_the_admitted_brands(
    registry: Registry, roles: Roles, brand: int
) -> None:
    assert registry.brand_count() == 2
    assert registry.brand(brand) == BrandInfo(brand, roles.brand_admin.address, 0)
    assert registry.brand(2) == BrandInfo(2, roles.other_brand_admin.address, 0)
    assert registry.brand(0) is None
    assert registry.brand(UNKNOWN_BRAND) is None
    assert registry.admin() == roles.admin.address
    assert registry.pending_admin() is None


def test_prefix_views_map_exact_prefixes_and_gtins_to_brands(
    registry: Registry, brand: int
) -> None:
    assert registry.brand_of_prefix(PREFIX) == brand
    assert registry.brand_of_prefix(OTHER_PREFIX) == 2
    assert registry.brand_of_prefix(PREFIX[:-1]) is None  # covered, not owned
    assert registry.brand_of_prefix(PREFIX + "1") is None
    assert registry.brand_of_gtin(GTIN) == brand
    assert registry.brand_of_gtin(OTHER_GTIN) == 2
    assert registry.brand_of_gtin(NEW_GTIN) is None


def test_operator_view_describes_operators_and_nobody_else(
    registry: Registry, roles: Roles, brand: int
) -> None:
    assert registry.operator(roles.operator.address) == OperatorInfo(
        roles.operator.address, brand, 1, True, 0
    )
    assert registry.operator(roles.other_operator.address) == OperatorInfo(
        roles.other_operator.address, 2, 2, True, 0
    )
    assert registry.operator(roles.brand_admin.address) is None
    assert registry.operator(roles.stranger.address) is None


def test_max_batch_size_is_500(registry: Registry) -> None:
    assert registry.max_batch_size == 500
