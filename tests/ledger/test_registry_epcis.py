"""``applyEpcisEvent``: a captured EPCIS event's custody step, with its hash recorded beside it.

Each step must behave exactly like its plain function (same rights, same refusals, same item
event) and add one ``EpcisEventRecorded`` carrying the item event's ``seq``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ledger.contract_errors import (
    NotConsignee,
    NotCustodian,
    NotOperator,
    Status,
    UnexpectedParty,
    WrongStatus,
)
from ledger.identifiers import item_id
from ledger.registry import EpcisStep, Registry
from tests.conftest import GTIN
from tests.helpers import reverts

if TYPE_CHECKING:
    from tests.conftest import Roles

EVENT = bytes.fromhex("ab" * 32)
OTHER_EVENT = bytes.fromhex("cd" * 32)
ZERO = "0x0000000000000000000000000000000000000000"


def _events(registry: Registry, serial: str) -> list[tuple[str, int, str | None]]:
    return [(e.name, e.seq, e.event_hash) for e in registry.history(item_id(GTIN, serial))]


def test_a_whole_life_through_epcis_records_each_events_hash_beside_its_item_event(
    registry: Registry, roles: Roles
) -> None:
    item = item_id(GTIN, "E-1")
    steps = [
        (roles.operator, EpcisStep.COMMISSIONING, roles.consumer.address),
        (roles.operator, EpcisStep.SHIPPING, roles.distributor.address),
        (roles.distributor, EpcisStep.RECEIVING, None),
        (roles.distributor, EpcisStep.RETAIL_SELLING, None),
        (roles.distributor, EpcisStep.DESTROYING, None),
    ]
    hashes = [bytes([n]) * 32 for n in range(1, len(steps) + 1)]

    for (sender, step, party), digest in zip(steps, hashes, strict=True):
        registry.apply_epcis_event(sender, item, step, digest, party)

    assert _events(registry, "E-1") == [
        (name, seq, "0x" + digest.hex())
        for (name, seq), digest in zip(
            [("ItemRegistered", 1), ("ItemShipped", 2), ("ItemReceived", 3),
             ("RetailSaleRecorded", 4), ("ItemDestroyed", 5)],
            hashes,
            strict=True,
        )
    ]  # fmt: skip
    state = registry.item(item)
    assert state is not None
    assert state.status is Status.DESTROYED
    assert state.claimable is False
    assert registry.history(item)[0].args["docHash"] == "0x" + "00" * 32


def test_commissioning_names_the_claim_key_and_decommissioning_retires(
    registry: Registry, roles: Roles
) -> None:
    item = item_id(GTIN, "E-2")
    registry.apply_epcis_event(
        roles.operator, item, EpcisStep.COMMISSIONING, EVENT, roles.consumer.address
    )
    registry.apply_epcis_event(roles.operator, item, EpcisStep.RETAIL_SELLING, EVENT)
    assert registry.item(item).claimable is True  # type: ignore[union-attr]

    registry.apply_epcis_event(roles.operator, item, EpcisStep.DECOMMISSIONING, OTHER_EVENT)

    assert _events(registry, "E-2") == [
        ("ItemRegistered", 1, "0x" + EVENT.hex()),
        ("RetailSaleRecorded", 2, "0x" + EVENT.hex()),
        ("ItemDecommissioned", 3, "0x" + OTHER_EVENT.hex()),
    ]


def test_each_step_has_the_rights_and_refusals_of_its_plain_function(
    registry: Registry, roles: Roles
) -> None:
    item = item_id(GTIN, "E-3")

    with reverts(NotOperator, account=roles.distributor.address):
        registry.apply_epcis_event(roles.distributor, item, EpcisStep.COMMISSIONING, EVENT)
    registry.apply_epcis_event(roles.operator, item, EpcisStep.COMMISSIONING, EVENT)
    with reverts(NotCustodian, itemId=item.hex(), custodian=roles.operator.address,
                 caller=roles.distributor.address):  # fmt: skip
        registry.apply_epcis_event(
            roles.distributor, item, EpcisStep.SHIPPING, EVENT, roles.retailer.address
        )
    with reverts(WrongStatus, itemId=item.hex(), actual=Status.ACTIVE, required=Status.IN_TRANSIT):
        registry.apply_epcis_event(roles.distributor, item, EpcisStep.RECEIVING, EVENT)
    registry.apply_epcis_event(
        roles.operator, item, EpcisStep.SHIPPING, EVENT, roles.distributor.address
    )
    with reverts(NotConsignee, itemId=item.hex(), consignee=roles.distributor.address,
                 caller=roles.retailer.address):  # fmt: skip
        registry.apply_epcis_event(roles.retailer, item, EpcisStep.RECEIVING, EVENT)
    assert [name for name, _, _ in _events(registry, "E-3")] == ["ItemRegistered", "ItemShipped"]


@pytest.mark.parametrize(
    "step",
    [
        EpcisStep.RECEIVING,
        EpcisStep.RETAIL_SELLING,
        EpcisStep.DECOMMISSIONING,
        EpcisStep.DESTROYING,
    ],
)
def test_steps_without_a_party_refuse_one(
    registry: Registry, roles: Roles, step: EpcisStep
) -> None:
    item = item_id(GTIN, "E-4")
    registry.apply_epcis_event(roles.operator, item, EpcisStep.COMMISSIONING, EVENT)

    with reverts(UnexpectedParty, step=int(step), party=roles.retailer.address):
        registry.apply_epcis_event(roles.operator, item, step, EVENT, roles.retailer.address)


def test_plain_calls_record_no_event_hash(registry: Registry, roles: Roles) -> None:
    item = item_id(GTIN, "E-5")
    registry.register(roles.operator, item)
    registry.ship(roles.operator, item, roles.distributor.address)

    assert _events(registry, "E-5") == [("ItemRegistered", 1, None), ("ItemShipped", 2, None)]
    assert ZERO not in {e.args.get("to") for e in registry.history(item)}
