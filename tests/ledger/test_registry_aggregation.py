"""Aggregation: items packed into cases, cases onto pallets, moved as one.

A container (case or pallet) is a record of the registry under ``container_id(sscc)``,
created by its first ``pack``. These tests check pack and unpack (events, states, every
refusal with its data), that a packed item's custodian and status follow its top container,
that direct actions on a packed item are refused, the recall and theft rules, and that the
gas of shipping and receiving a pallet does not depend on what it holds.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from ledger.chain import Chain
from ledger.contract_errors import (
    BatchSize,
    NestingTooDeep,
    NotAContainer,
    NotCustodian,
    PackedItem,
    RecalledItem,
    RegistryError,
    Status,
    StolenItem,
    UnknownItem,
    WrongStatus,
)
from ledger.identifiers import ItemId, check_digit, container_id, item_id
from ledger.registry import ZERO_ADDRESS, Flag, Registry
from tests.helpers import emitted, refusal, reverts, state

if TYPE_CHECKING:
    from tests.conftest import Roles

GTIN = "00614141123452"


# ───────────── helpers ─────────────


def sscc(serial_reference: int) -> str:
    """A valid SSCC under brand 1's prefix: extension 0, prefix 0614141, 9-digit reference."""
    payload = f"00614141{serial_reference:09d}"
    return payload + str(check_digit(payload))


def items(count: int, start: int = 1) -> list[ItemId]:
    return [item_id(GTIN, f"P{n}") for n in range(start, start + count)]


def numbered(count: int, start: int = 1) -> list[ItemId]:
    """Distinct ids without hashing, for hundreds of items."""
    return [ItemId(n.to_bytes(32, "big")) for n in range(start, start + count)]


CASE = container_id(sscc(1))
PALLET = container_id(sscc(2))
OTHER_PALLET = container_id(sscc(3))


@pytest.fixture
def goods(registry: Registry, roles: Roles) -> list[ItemId]:
    """Three Active items of brand 1 held by ``roles.operator``."""
    registered = items(3)
    registry.register_batch(roles.operator, registered)
    return registered


@pytest.fixture
def packed(registry: Registry, roles: Roles, goods: list[ItemId]) -> list[ItemId]:
    """``goods`` packed into ``PALLET`` by ``roles.operator`` (each at seq 2)."""
    registry.pack(roles.operator, PALLET, goods)
    return goods


# ───────────── identifiers ─────────────


def test_container_id_is_keccak_of_00_slash_sscc() -> None:
    assert container_id(sscc(1)).value == keccak(text=f"00/{sscc(1)}")
    assert container_id(f"(00){sscc(1)}") == container_id(sscc(1))


# ───────────── pack ─────────────


def test_first_pack_creates_the_container_held_by_the_packer_and_packs_each_item(
    registry: Registry, roles: Roles, goods: list[ItemId]
) -> None:
    result = registry.pack(roles.operator, PALLET, goods)

    assert emitted(registry, result.receipt) == [
        ("ContainerCreated", {"containerId": PALLET.hex(), "by": roles.operator.address}),
        *[
            ("ItemPacked", {"itemId": g.hex(), "containerId": PALLET.hex(), "seq": 2})
            for g in goods
        ],
    ]
    pallet = state(registry, PALLET)
    assert (pallet.custodian, pallet.status, pallet.flags, pallet.seq) == (
        roles.operator.address,
        Status.ACTIVE,
        Flag.CONTAINER,
        1,
    )
    assert (pallet.brand_id, pallet.operator, pallet.container) == (0, ZERO_ADDRESS, None)
    for g in goods:
        item = state(registry, g)
        assert (item.custodian, item.status, item.flags, item.seq, item.container) == (
            roles.operator.address,
            Status.ACTIVE,
            Flag.PACKED,
            2,
            PALLET,
        )
    assert [e.name for e in registry.history(PALLET)] == ["ContainerCreated"]
    assert [e.name for e in registry.history(goods[0])] == ["BatchItemRegistered", "ItemPacked"]


def test_packing_into_an_existing_container_adds_to_it_without_touching_it(
    registry: Registry, roles: Roles, goods: list[ItemId]
) -> None:
    registry.pack(roles.operator, PALLET, goods[:1])

    result = registry.pack(roles.operator, PALLET, goods[1:])

    assert [name for name, _ in emitted(registry, result.receipt)] == ["ItemPacked"] * 2
    assert state(registry, PALLET).seq == 1


def test_pack_refusals_name_what_is_wrong(
    registry: Registry, roles: Roles, goods: list[ItemId]
) -> None:
    op = roles.operator
    loose = items(1, start=10)[0]
    registry.register(op, loose)
    shipped = items(1, start=11)[0]
    registry.register(op, shipped)
    registry.ship(op, shipped, roles.distributor.address)
    recalled = items(1, start=12)[0]
    registry.register(op, recalled)
    registry.recall(roles.brand_admin, [recalled])
    registry.pack(op, PALLET, goods[:1])
    unknown = items(1, start=99)[0]

    cases: dict[str, Callable[[], object]] = {
        "item held by another": lambda: registry.pack(roles.distributor, OTHER_PALLET, [loose]),
        "item in transit": lambda: registry.pack(op, OTHER_PALLET, [shipped]),
        "item recalled": lambda: registry.pack(op, OTHER_PALLET, [recalled]),
        "item already packed": lambda: registry.pack(op, OTHER_PALLET, [goods[0]]),
        "item unknown": lambda: registry.pack(op, OTHER_PALLET, [unknown]),
        "container held by another": lambda: registry.pack(roles.distributor, PALLET, [loose]),
        "container is an item": lambda: registry.pack(op, loose, [goods[1]]),
        "empty batch": lambda: registry.pack(op, OTHER_PALLET, []),
        "container into itself": lambda: registry.pack(op, PALLET, [PALLET]),
    }
    assert {name: refusal(action) for name, action in cases.items()} == {
        "item held by another": (
            "NotCustodian",
            {"itemId": loose.hex(), "custodian": op.address, "caller": roles.distributor.address},
        ),
        "item in transit": (
            "WrongStatus",
            {"itemId": shipped.hex(), "actual": Status.IN_TRANSIT, "required": Status.ACTIVE},
        ),
        "item recalled": ("RecalledItem", {"itemId": recalled.hex()}),
        "item already packed": (
            "PackedItem",
            {"itemId": goods[0].hex(), "containerId": PALLET.hex()},
        ),
        "item unknown": ("UnknownItem", {"itemId": unknown.hex()}),
        "container held by another": (
            "NotCustodian",
            {"itemId": PALLET.hex(), "custodian": op.address, "caller": roles.distributor.address},
        ),
        "container is an item": ("NotAContainer", {"containerId": loose.hex()}),
        "empty batch": ("BatchSize", {"size": 0, "max": 500}),
        "container into itself": ("NestingTooDeep", {"itemId": PALLET.hex()}),
    }


def test_pack_refuses_a_container_in_transit(
    registry: Registry, roles: Roles, packed: list[ItemId]
) -> None:
    more = items(1, start=20)[0]
    registry.register(roles.operator, more)
    registry.ship(roles.operator, PALLET, roles.distributor.address)

    with reverts(
        WrongStatus, itemId=PALLET.hex(), actual=Status.IN_TRANSIT, required=Status.ACTIVE
    ):
        registry.pack(roles.operator, PALLET, [more])


def test_pack_is_all_or_nothing(registry: Registry, roles: Roles, goods: list[ItemId]) -> None:
    unknown = items(1, start=99)[0]

    with reverts(UnknownItem, itemId=unknown.hex()):
        registry.pack(roles.operator, PALLET, [*goods, unknown])

    assert registry.item(PALLET) is None
    assert all(state(registry, g).container is None for g in goods)


# ───────────── nesting ─────────────


def test_cases_go_onto_a_pallet_and_items_follow_the_pallet(
    registry: Registry, roles: Roles, goods: list[ItemId]
) -> None:
    registry.pack(roles.operator, CASE, goods)
    result = registry.pack(roles.operator, PALLET, [CASE])
    assert emitted(registry, result.receipt)[1] == (
        "ItemPacked",
        {"itemId": CASE.hex(), "containerId": PALLET.hex(), "seq": 2},
    )

    registry.ship(roles.operator, PALLET, roles.distributor.address)
    in_transit = state(registry, goods[0])
    assert (in_transit.custodian, in_transit.status, in_transit.consignee) == (
        roles.operator.address,
        Status.IN_TRANSIT,
        roles.distributor.address,
    )
    assert in_transit.container == CASE
    registry.receive(roles.distributor, PALLET)

    for record in (*goods, CASE):
        received = state(registry, record)
        assert (received.custodian, received.status, received.consignee) == (
            roles.distributor.address,
            Status.ACTIVE,
            None,
        )
    assert state(registry, goods[0]).seq == 2  # the items' own records were not touched


def test_a_pallet_holding_cases_cannot_go_into_another_container(
    registry: Registry, roles: Roles, goods: list[ItemId]
) -> None:
    registry.pack(roles.operator, CASE, goods)
    registry.pack(roles.operator, PALLET, [CASE])

    with reverts(NestingTooDeep, itemId=PALLET.hex()):
        registry.pack(roles.operator, OTHER_PALLET, [PALLET])


def test_nothing_is_packed_into_a_case_that_sits_on_a_pallet(
    registry: Registry, roles: Roles, goods: list[ItemId]
) -> None:
    registry.pack(roles.operator, CASE, goods[:1])
    registry.pack(roles.operator, PALLET, [CASE])

    with reverts(PackedItem, itemId=CASE.hex(), containerId=PALLET.hex()):
        registry.pack(roles.operator, CASE, goods[1:])


def test_an_emptied_pallet_can_go_into_another_container_again(
    registry: Registry, roles: Roles, goods: list[ItemId]
) -> None:
    registry.pack(roles.operator, CASE, goods)
    registry.pack(roles.operator, PALLET, [CASE])
    registry.unpack(roles.operator, PALLET, [CASE])

    registry.pack(roles.operator, OTHER_PALLET, [PALLET])

    assert state(registry, PALLET).container == OTHER_PALLET


# ───────────── a packed item moves only with its container ─────────────


def test_every_direct_action_on_a_packed_item_is_refused(
    registry: Registry, roles: Roles, packed: list[ItemId]
) -> None:
    op, item = roles.operator, packed[0]
    to = roles.distributor.address
    actions: dict[str, Callable[[], object]] = {
        "ship": lambda: registry.ship(op, item, to),
        "ship batch": lambda: registry.ship_batch(op, [item], to),
        "transfer": lambda: registry.transfer(op, item, to),
        "transfer batch": lambda: registry.transfer_batch(op, [item], to),
        "retail sale": lambda: registry.record_retail_sale(op, item),
        "report stolen": lambda: registry.report_stolen(op, item),
        "decommission": lambda: registry.decommission(op, item),
        "destroy": lambda: registry.destroy(roles.brand_admin, item),
        "pack elsewhere": lambda: registry.pack(op, OTHER_PALLET, [item]),
    }
    expected = ("PackedItem", {"itemId": item.hex(), "containerId": PALLET.hex()})
    assert {name: refusal(a) for name, a in actions.items()} == dict.fromkeys(actions, expected)


def test_the_packer_cannot_move_a_packed_item_after_the_pallet_left(
    registry: Registry, roles: Roles, packed: list[ItemId]
) -> None:
    registry.ship(roles.operator, PALLET, roles.distributor.address)
    registry.receive(roles.distributor, PALLET)

    with reverts(PackedItem, itemId=packed[0].hex(), containerId=PALLET.hex()):
        registry.transfer(roles.distributor, packed[0], roles.retailer.address)
    with reverts(PackedItem, itemId=packed[0].hex(), containerId=PALLET.hex()):
        registry.ship(roles.operator, packed[0], roles.retailer.address)


def test_a_container_moves_with_the_item_functions(
    registry: Registry, roles: Roles, packed: list[ItemId]
) -> None:
    registry.transfer(roles.operator, PALLET, roles.distributor.address)
    registry.ship(roles.distributor, PALLET, roles.retailer.address)
    registry.cancel_shipment(roles.distributor, PALLET)

    assert state(registry, packed[0]).custodian == roles.distributor.address
    assert [e.name for e in registry.history(PALLET)] == [
        "ContainerCreated",
        "CustodyTransferred",
        "ItemShipped",
        "ShipmentCancelled",
    ]


def test_containers_have_no_brand_so_brand_actions_are_refused(
    registry: Registry, roles: Roles, packed: list[ItemId]
) -> None:
    actions: dict[str, Callable[[], object]] = {
        "retail sale": lambda: registry.record_retail_sale(roles.operator, PALLET),
        "recall": lambda: registry.recall(roles.brand_admin, [PALLET]),
        "lift recall": lambda: registry.lift_recall(roles.brand_admin, [PALLET]),
        "decommission": lambda: registry.decommission(roles.operator, PALLET),
        "destroy": lambda: registry.destroy(roles.operator, PALLET),
    }
    expected = ("IsContainer", {"itemId": PALLET.hex()})
    assert {name: refusal(a) for name, a in actions.items()} == dict.fromkeys(actions, expected)


# ───────────── recall and theft ─────────────


def test_the_brand_may_recall_a_packed_item_and_the_pallet_still_moves(
    registry: Registry, roles: Roles, packed: list[ItemId]
) -> None:
    result = registry.recall(roles.brand_admin, packed[:1])
    assert emitted(registry, result.receipt) == [
        ("ItemRecalled", {"itemId": packed[0].hex(), "by": roles.brand_admin.address, "seq": 3})
    ]
    registry.ship(roles.operator, PALLET, roles.distributor.address)
    registry.receive(roles.distributor, PALLET)

    registry.unpack(roles.distributor, PALLET, packed[:1])

    recalled = state(registry, packed[0])
    assert (recalled.custodian, recalled.flags, recalled.container) == (
        roles.distributor.address,
        Flag.RECALLED,
        None,
    )
    with reverts(RecalledItem, itemId=packed[0].hex()):
        registry.ship(roles.distributor, packed[0], roles.retailer.address)


def test_a_pallet_reported_stolen_marks_its_items_stolen_and_cannot_move(
    registry: Registry, roles: Roles, packed: list[ItemId]
) -> None:
    registry.report_stolen(roles.operator, PALLET)

    assert state(registry, packed[0]).flags == Flag.PACKED | Flag.STOLEN
    with reverts(StolenItem, itemId=PALLET.hex()):
        registry.ship(roles.operator, PALLET, roles.distributor.address)
    with reverts(StolenItem, itemId=PALLET.hex()):
        registry.unpack(roles.operator, PALLET, packed)

    registry.clear_stolen(roles.operator, PALLET)
    assert state(registry, packed[0]).flags == Flag.PACKED


# ───────────── unpack ─────────────


def test_unpack_gives_each_item_to_the_containers_custodian(
    registry: Registry, roles: Roles, packed: list[ItemId]
) -> None:
    registry.ship(roles.operator, PALLET, roles.distributor.address)
    registry.receive(roles.distributor, PALLET)

    result = registry.unpack(roles.distributor, PALLET, packed[:2])

    assert emitted(registry, result.receipt) == [
        (
            "ItemUnpacked",
            {
                "itemId": g.hex(),
                "containerId": PALLET.hex(),
                "by": roles.distributor.address,
                "seq": 3,
            },
        )
        for g in packed[:2]
    ]
    for g in packed[:2]:
        item = state(registry, g)
        assert (item.custodian, item.status, item.flags, item.seq, item.container) == (
            roles.distributor.address,
            Status.ACTIVE,
            Flag(0),
            3,
            None,
        )
    registry.ship(roles.distributor, packed[0], roles.retailer.address)  # moves alone again
    assert state(registry, packed[2]).container == PALLET


def test_unpack_refusals_name_what_is_wrong(
    registry: Registry, roles: Roles, packed: list[ItemId]
) -> None:
    op = roles.operator
    loose = items(1, start=30)[0]
    registry.register(op, loose)
    registry.pack(op, CASE, [loose])

    cases: dict[str, Callable[[], object]] = {
        "not in it": lambda: registry.unpack(op, PALLET, [loose]),
        "not the custodian": lambda: registry.unpack(roles.distributor, PALLET, packed),
        "not a container": lambda: registry.unpack(op, packed[0], [loose]),
        "unknown container": lambda: registry.unpack(op, OTHER_PALLET, packed),
        "empty batch": lambda: registry.unpack(op, PALLET, []),
    }
    assert {name: refusal(action) for name, action in cases.items()} == {
        "not in it": ("NotInContainer", {"itemId": loose.hex(), "containerId": PALLET.hex()}),
        "not the custodian": (
            "NotCustodian",
            {"itemId": PALLET.hex(), "custodian": op.address, "caller": roles.distributor.address},
        ),
        "not a container": (
            "PackedItem",
            {"itemId": packed[0].hex(), "containerId": PALLET.hex()},
        ),
        "unknown container": ("UnknownItem", {"itemId": OTHER_PALLET.hex()}),
        "empty batch": ("BatchSize", {"size": 0, "max": 500}),
    }


def test_unpack_refuses_an_item_of_a_loose_non_container(
    registry: Registry, roles: Roles, goods: list[ItemId]
) -> None:
    with reverts(NotAContainer, containerId=goods[0].hex()):
        registry.unpack(roles.operator, goods[0], goods[1:])


def test_unpack_refuses_a_pallet_in_transit(
    registry: Registry, roles: Roles, packed: list[ItemId]
) -> None:
    registry.ship(roles.operator, PALLET, roles.distributor.address)

    with reverts(
        WrongStatus, itemId=PALLET.hex(), actual=Status.IN_TRANSIT, required=Status.ACTIVE
    ):
        registry.unpack(roles.operator, PALLET, packed)
    with reverts(
        NotCustodian,
        itemId=PALLET.hex(),
        custodian=roles.operator.address,
        caller=roles.distributor.address,
    ):
        registry.unpack(roles.distributor, PALLET, packed)


def test_a_case_on_a_pallet_is_unpacked_from_the_pallet_first(
    registry: Registry, roles: Roles, goods: list[ItemId]
) -> None:
    registry.pack(roles.operator, CASE, goods)
    registry.pack(roles.operator, PALLET, [CASE])

    with reverts(PackedItem, itemId=CASE.hex(), containerId=PALLET.hex()):
        registry.unpack(roles.operator, CASE, goods)

    registry.unpack(roles.operator, PALLET, [CASE])
    registry.unpack(roles.operator, CASE, goods)
    assert all(state(registry, g).container is None for g in goods)


def test_batch_size_is_bounded(registry: Registry, roles: Roles) -> None:
    with reverts(BatchSize, size=501, max=500):
        registry.pack(roles.operator, PALLET, numbered(501))


# ───────────── gas does not grow with the content ─────────────


def _pallet_round_trip_gas(registry: Registry, roles: Roles, count: int, pallet: ItemId) -> int:
    content = numbered(count, start=1_000 * count)
    registry.register_batch(roles.operator, content)
    registry.pack(roles.operator, pallet, content)
    shipped = registry.ship(roles.operator, pallet, roles.distributor.address)
    received = registry.receive(roles.distributor, pallet)
    return shipped.gas_used + received.gas_used


def test_shipping_and_receiving_a_pallet_costs_the_same_for_2_or_200_items(
    registry: Registry, roles: Roles
) -> None:
    small = _pallet_round_trip_gas(registry, roles, 2, PALLET)
    large = _pallet_round_trip_gas(registry, roles, 200, OTHER_PALLET)

    assert small == large
    packed_item = state(registry, ItemId((200_000).to_bytes(32, "big")))
    assert packed_item.custodian == roles.distributor.address


# ───────────── stateful: each record's custodian follows a Python model ─────────────


@dataclass
class Model:
    """One record as the contract should see it."""

    holder: str
    status: Status = Status.ACTIVE
    shipper: str | None = None
    parent: ItemId | None = None
    container: bool = False
    nested: int = 0
    stolen: bool = False
    recalled: bool = False

    @property
    def custodian(self) -> str:
        return self.shipper if self.status is Status.IN_TRANSIT and self.shipper else self.holder

    @property
    def frozen(self) -> bool:
        return self.stolen or self.recalled

    @property
    def flags(self) -> Flag:
        flags = Flag.CONTAINER if self.container else Flag(0)
        flags |= Flag.PACKED if self.parent is not None else Flag(0)
        flags |= Flag.STOLEN if self.stolen else Flag(0)
        return flags | (Flag.RECALLED if self.recalled else Flag(0))


class Refused(Exception):
    """The model predicts a revert."""


PARTIES = ("operator", "distributor", "retailer")
ACTORS = st.sampled_from((*PARTIES, "needed", "needed", "needed"))
"""Who attempts a rule: a party, or (mostly) the one the rule needs, so sequences go places."""
LOOSE = items(4, start=40)
CONTAINERS = [container_id(sscc(n)) for n in range(10, 14)]
RECORDS = [*LOOSE, *CONTAINERS]


@pytest.mark.slow(seconds=30)
def test_pack_ship_receive_unpack_keep_every_custodian_equal_to_the_model(
    chain: Chain, registry: Registry, roles: Roles
) -> None:
    accounts: dict[str, LocalAccount] = {name: getattr(roles, name) for name in PARTIES}
    registry.register_batch(roles.operator, LOOSE)
    base = chain.snapshot()

    class Aggregation(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            chain.revert(base)
            self.snapshot = chain.snapshot()
            self.models: dict[ItemId, Model] = {i: Model(roles.operator.address) for i in LOOSE}

        def teardown(self) -> None:
            chain.revert(self.snapshot)

        @initialize()
        def pack_a_case_onto_a_pallet(self) -> None:
            """Start from item → case → pallet, so every example meets nesting."""
            case, pallet = CONTAINERS[0], CONTAINERS[1]
            registry.pack(roles.operator, case, LOOSE[:2])
            registry.pack(roles.operator, pallet, [case])
            for record in LOOSE[:2]:
                self.models[record].parent = case
            self.models[case] = Model(roles.operator.address, parent=pallet, container=True)
            self.models[pallet] = Model(roles.operator.address, container=True, nested=1)

        def attempt(
            self, predict: Callable[[dict[ItemId, Model]], None], call: Callable[[], object]
        ) -> None:
            staged = copy.deepcopy(self.models)
            try:
                predict(staged)
            except Refused:
                with pytest.raises(RegistryError):
                    call()
                return
            call()
            self.models = staged

        def account(self, actor: str, *records: ItemId, consignee: bool = False) -> LocalAccount:
            """The party named, or for ``needed`` whoever holds (is shipped) the first record
            known of ``records``."""
            if actor != "needed":
                return accounts[actor]
            for record in records:
                model = self.models.get(record)
                if model is not None:
                    top = model
                    while top.parent is not None:
                        top = self.models[top.parent]
                    address = top.holder if consignee else top.custodian
                    return next(a for a in accounts.values() if a.address == address)
            return roles.operator

        def own(self, staged: dict[ItemId, Model], record: ItemId, actor: str) -> Model:
            """The record's own slot: known, Active, held by ``actor``, not packed, not frozen."""
            model = staged.get(record)
            if model is None or model.parent is not None or model.status is not Status.ACTIVE:
                raise Refused
            if model.frozen:
                raise Refused
            if model.holder != actor:
                raise Refused
            return model

        @rule(
            actor=ACTORS,
            box=st.sampled_from(CONTAINERS),
            content=st.lists(st.sampled_from(RECORDS), min_size=1, max_size=2, unique=True),
        )
        def pack(self, actor: str, box: ItemId, content: list[ItemId]) -> None:
            account = self.account(actor, box, *content)

            def predict(staged: dict[ItemId, Model]) -> None:
                if box in staged:
                    self.own(staged, box, account.address)
                else:
                    staged[box] = Model(account.address, container=True)
                for record in content:
                    if record == box:
                        raise Refused
                    model = self.own(staged, record, account.address)
                    if model.container:
                        if model.nested:
                            raise Refused
                        staged[box].nested += 1
                    model.parent = box

            self.attempt(predict, lambda: registry.pack(account, box, content))

        @rule(
            actor=ACTORS,
            box=st.sampled_from(CONTAINERS),
            content=st.lists(st.sampled_from(RECORDS), min_size=1, max_size=2, unique=True),
        )
        def unpack(self, actor: str, box: ItemId, content: list[ItemId]) -> None:
            account = self.account(actor, box)

            def predict(staged: dict[ItemId, Model]) -> None:
                self.own(staged, box, account.address)
                for record in content:
                    model = staged.get(record)
                    if model is None or model.parent != box:
                        raise Refused
                    model.parent, model.holder = None, account.address
                    if model.container:
                        staged[box].nested -= 1

            self.attempt(predict, lambda: registry.unpack(account, box, content))

        @rule(
            actor=ACTORS,
            record=st.sampled_from(RECORDS),
            to=st.sampled_from(PARTIES),
        )
        def ship(self, actor: str, record: ItemId, to: str) -> None:
            account, recipient = self.account(actor, record), accounts[to].address

            def predict(staged: dict[ItemId, Model]) -> None:
                model = self.own(staged, record, account.address)
                if recipient == account.address:
                    raise Refused
                model.status, model.shipper, model.holder = (
                    Status.IN_TRANSIT,
                    account.address,
                    recipient,
                )

            self.attempt(predict, lambda: registry.ship(account, record, recipient))

        @rule(actor=ACTORS, record=st.sampled_from(RECORDS))
        def receive(self, actor: str, record: ItemId) -> None:
            account = self.account(actor, record, consignee=True)

            def predict(staged: dict[ItemId, Model]) -> None:
                model = staged.get(record)
                if model is None or model.status is not Status.IN_TRANSIT:
                    raise Refused
                if model.holder != account.address or model.frozen:
                    raise Refused
                model.status, model.shipper = Status.ACTIVE, None

            self.attempt(predict, lambda: registry.receive(account, record))

        @rule(
            actor=ACTORS,
            record=st.sampled_from(RECORDS),
            to=st.sampled_from(PARTIES),
        )
        def transfer(self, actor: str, record: ItemId, to: str) -> None:
            account, recipient = self.account(actor, record), accounts[to].address

            def predict(staged: dict[ItemId, Model]) -> None:
                model = self.own(staged, record, account.address)
                if recipient == account.address:
                    raise Refused
                model.holder = recipient

            self.attempt(predict, lambda: registry.transfer(account, record, recipient))

        @rule(
            actor=ACTORS,
            record=st.sampled_from(RECORDS),
            stolen=st.booleans(),
        )
        def report_or_clear_stolen(self, actor: str, record: ItemId, stolen: bool) -> None:
            account = self.account(actor, record)

            def predict(staged: dict[ItemId, Model]) -> None:
                model = staged.get(record)
                if model is None or model.parent is not None:
                    raise Refused
                if model.custodian != account.address or model.stolen == stolen:
                    raise Refused
                model.stolen = stolen

            report = registry.report_stolen if stolen else registry.clear_stolen
            self.attempt(predict, lambda: report(account, record))

        @rule(record=st.sampled_from(RECORDS), recalled=st.booleans())
        def recall_or_lift(self, record: ItemId, recalled: bool) -> None:
            def predict(staged: dict[ItemId, Model]) -> None:
                model = staged.get(record)
                if model is None or model.container or model.recalled == recalled:
                    raise Refused
                model.recalled = recalled  # packed or not: the brand's right

            action = registry.recall if recalled else registry.lift_recall
            self.attempt(predict, lambda: action(roles.brand_admin, [record]))

        @invariant()
        def every_record_reads_as_its_top_container(self) -> None:
            for record in RECORDS:
                model = self.models.get(record)
                on_chain = registry.item(record)
                if model is None:
                    assert on_chain is None
                    continue
                assert on_chain is not None
                top, flags = model, model.flags
                while top.parent is not None:
                    top = self.models[top.parent]
                    flags |= Flag.STOLEN if top.stolen else Flag(0)
                assert (
                    on_chain.custodian,
                    on_chain.status,
                    on_chain.container,
                    on_chain.flags,
                ) == (top.custodian, top.status, model.parent, flags), record

    run_state_machine_as_test(
        Aggregation,
        settings=settings(
            max_examples=10,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# ───────────── the journey, from the logs ─────────────


def test_travels_lists_the_moves_of_every_container_the_item_was_in_while_inside(
    registry: Registry, roles: Roles, goods: list[ItemId]
) -> None:
    op, dist, shop = roles.operator, roles.distributor, roles.retailer
    registry.ship(op, goods[1], dist.address)  # the item's own move: not a travel
    registry.receive(dist, goods[1])
    registry.pack(op, CASE, goods[:1])
    registry.pack(op, PALLET, [CASE])
    registry.ship(op, PALLET, dist.address)
    registry.receive(dist, PALLET)
    registry.unpack(dist, PALLET, [CASE])
    registry.ship(dist, PALLET, shop.address)  # the item is no longer on the pallet
    registry.transfer(dist, CASE, shop.address)
    registry.unpack(shop, CASE, goods[:1])
    registry.transfer(shop, CASE, dist.address)  # the item is no longer in the case

    travels = [(e.name, e.container) for e in registry.travels(goods[0])]

    assert travels == [
        ("ItemPacked", CASE),
        ("ItemShipped", PALLET),
        ("ItemReceived", PALLET),
        ("ItemUnpacked", CASE),
        ("CustodyTransferred", CASE),
    ]
    assert [(s.container, s.unpacked is not None) for s in registry.stays(goods[0])] == [
        (CASE, True)
    ]
    assert registry.travels(goods[2]) == []
