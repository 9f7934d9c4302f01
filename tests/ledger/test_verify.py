"""Verdicts read from the chain: every kind, its reasons, the custody and the proof."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ledger.chain import Chain
from ledger.claims import claim_key, generate_claim_code, sign_claim
from ledger.identifiers import item_id
from ledger.registry import Registry
from ledger.verify import Reason, VerdictKind, verify_item

if TYPE_CHECKING:
    from tests.conftest import Roles

GTIN = "00614141123452"
OTHER_BRAND_GTIN = "00950600123459"  # prefix 0950600: brand 2 in conftest
NO_BRAND_GTIN = "04012345000016"  # prefix 4012345: no brand


def register(
    registry: Registry, roles: Roles, serial: str, *, claim_code: str | None = None
) -> None:
    key = claim_key(item_id(GTIN, serial), claim_code).address if claim_code else None
    registry.register(roles.operator, item_id(GTIN, serial), b"\x01" * 32, key)


def codes(verdict_reasons: tuple[Reason, ...]) -> list[str]:
    return [r.code for r in verdict_reasons]


def test_registered_item_held_in_the_supply_chain_is_authentic(
    registry: Registry, roles: Roles
) -> None:
    register(registry, roles, "A1")
    registry.ship(roles.operator, item_id(GTIN, "A1"), roles.retailer.address)
    registry.receive(roles.retailer, item_id(GTIN, "A1"))

    verdict = verify_item(registry, "614141123452", "A1")  # GTIN-12 form of the same GTIN

    assert verdict.verdict is VerdictKind.AUTHENTIC
    assert codes(verdict.reasons) == ["registered"]
    assert verdict.gtin == GTIN
    assert verdict.brand_id == 1
    assert [(s.seq, s.event, s.from_, s.to) for s in verdict.custody] == [
        (1, "ItemRegistered", None, roles.operator.address),
        (2, "ItemShipped", roles.operator.address, roles.retailer.address),
        (3, "ItemReceived", None, roles.retailer.address),
    ]
    assert verdict.proof.seq == 3
    assert verdict.proof.contract == registry.address
    assert verdict.proof.chain_id == registry.chain_id
    assert [e[0] for e in verdict.proof.events] == [1, 2, 3]
    assert verdict.proof.block == registry.w3.eth.block_number


def test_unregistered_serial_under_a_registered_brand_prefix_is_counterfeit(
    registry: Registry,
) -> None:
    verdict = verify_item(registry, GTIN, "FAKE-1")
    assert verdict.verdict is VerdictKind.COUNTERFEIT
    assert codes(verdict.reasons) == ["unregistered_code"]
    assert verdict.state is None
    assert verdict.custody == ()
    assert verdict.brand_id == 1


def test_code_of_no_registered_brand_is_unknown(registry: Registry) -> None:
    verdict = verify_item(registry, NO_BRAND_GTIN, "X1")
    assert verdict.verdict is VerdictKind.UNKNOWN
    assert codes(verdict.reasons) == ["unknown_prefix"]
    assert verdict.brand_id is None


def test_item_registered_by_a_brand_under_another_brands_prefix_is_counterfeit(
    registry: Registry, roles: Roles
) -> None:
    registry.register(roles.operator, item_id(OTHER_BRAND_GTIN, "Z1"))
    verdict = verify_item(registry, OTHER_BRAND_GTIN, "Z1")
    assert verdict.verdict is VerdictKind.COUNTERFEIT
    assert codes(verdict.reasons) == ["prefix_not_owned"]
    assert "prefix belongs to brand 2" in verdict.reasons[0].message


def test_destroyed_item_is_counterfeit(registry: Registry, roles: Roles) -> None:
    register(registry, roles, "D1")
    registry.destroy(roles.operator, item_id(GTIN, "D1"))
    verdict = verify_item(registry, GTIN, "D1")
    assert verdict.verdict is VerdictKind.COUNTERFEIT
    assert codes(verdict.reasons) == ["destroyed"]


def test_recalled_item_is_recalled(registry: Registry, roles: Roles) -> None:
    register(registry, roles, "R1")
    registry.recall(roles.brand_admin, [item_id(GTIN, "R1")])
    verdict = verify_item(registry, GTIN, "R1")
    assert verdict.verdict is VerdictKind.RECALLED
    assert codes(verdict.reasons) == ["recalled"]


def test_stolen_wins_over_recalled(registry: Registry, roles: Roles) -> None:
    register(registry, roles, "S1")
    registry.recall(roles.brand_admin, [item_id(GTIN, "S1")])
    registry.report_stolen(roles.operator, item_id(GTIN, "S1"))
    verdict = verify_item(registry, GTIN, "S1")
    assert verdict.verdict is VerdictKind.STOLEN
    assert codes(verdict.reasons) == ["stolen", "recalled"]


def test_item_registered_by_a_suspended_key_is_suspect(
    registry: Registry, chain: Chain, roles: Roles
) -> None:
    chain.increase_time(10)
    register(registry, roles, "K1")
    since = registry.item(item_id(GTIN, "K1")).registered_at  # type: ignore[union-attr]
    registry.suspend_operator(roles.admin, roles.operator.address, since)
    verdict = verify_item(registry, GTIN, "K1")
    assert verdict.verdict is VerdictKind.SUSPECT
    assert codes(verdict.reasons) == ["suspended_key"]


def test_decommissioned_item_is_suspect(registry: Registry, roles: Roles) -> None:
    register(registry, roles, "C1")
    registry.decommission(roles.operator, item_id(GTIN, "C1"))
    verdict = verify_item(registry, GTIN, "C1")
    assert verdict.verdict is VerdictKind.SUSPECT
    assert codes(verdict.reasons) == ["decommissioned"]


def test_claimed_item_is_authentic_and_held_by_its_owner(registry: Registry, roles: Roles) -> None:
    code = generate_claim_code()
    register(registry, roles, "O1", claim_code=code)
    ident = item_id(GTIN, "O1")
    registry.record_retail_sale(roles.operator, ident)
    signature = sign_claim(
        ident, code, roles.consumer.address, chain_id=registry.chain_id, contract=registry.address
    )
    registry.claim(roles.relayer, ident, roles.consumer.address, signature)

    verdict = verify_item(registry, GTIN, "O1")

    assert verdict.verdict is VerdictKind.AUTHENTIC
    assert "held by its owner" in verdict.reasons[0].message
    assert verdict.custody[-1].event == "ItemClaimed"
    assert verdict.custody[-1].to == roles.consumer.address


@pytest.mark.parametrize(("gtin", "serial"), [("00614141123453", "A1"), (GTIN, "A#1")])
def test_malformed_codes_raise_identifier_errors(
    registry: Registry, gtin: str, serial: str
) -> None:
    with pytest.raises(ValueError, match="invalid"):
        verify_item(registry, gtin, serial)
