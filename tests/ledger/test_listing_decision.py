"""Each listing rule, alone and in its order of precedence."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_typing import ChecksumAddress, HexAddress, HexStr

from ledger.contract_errors import Status
from ledger.identifiers import item_id
from ledger.marketplace.decision import Decision, ListingFacts, decide
from ledger.registry import Flag, ItemState
from ledger.verify import Reason, VerdictKind

SELLER = ChecksumAddress(HexAddress(HexStr("0x1111111111111111111111111111111111111111")))
OTHER = ChecksumAddress(HexAddress(HexStr("0x2222222222222222222222222222222222222222")))
OPERATOR = ChecksumAddress(HexAddress(HexStr("0x3333333333333333333333333333333333333333")))

HELD = ItemState(
    item_id=item_id("09506000134352", "A1"),
    custodian=SELLER,
    status=Status.ACTIVE,
    flags=Flag(0),
    seq=3,
    registered_at=1_800_000_000,
    brand_id=1,
    operator=OPERATOR,
    consignee=None,
    claimable=False,
    registered_while_suspended=False,
)


def facts(state: ItemState | None = HELD, **changes: object) -> ListingFacts:
    base = ListingFacts(
        verdict=VerdictKind.AUTHENTIC,
        verdict_reasons=(Reason("registered", "registered by brand 1"),),
        state=state,
        seller_addresses=frozenset({SELLER}),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def codes(result: tuple[Decision, list[Reason]]) -> tuple[str, list[str]]:
    return result[0].value, [r.code for r in result[1]]


def test_the_holder_of_a_genuine_item_is_allowed() -> None:
    assert codes(decide(facts())) == ("allow", ["holder"])


def test_a_counterfeit_is_blocked_with_the_verdicts_reasons() -> None:
    unregistered = facts(
        None,
        verdict=VerdictKind.COUNTERFEIT,
        verdict_reasons=(Reason("unregistered_code", "never registered"),),
    )
    assert codes(decide(unregistered)) == ("block", ["unregistered_code"])


def test_a_code_of_no_registered_brand_is_allowed_with_a_reason_saying_so() -> None:
    unknown = facts(
        None, verdict=VerdictKind.UNKNOWN, verdict_reasons=(Reason("unknown_prefix", "…"),)
    )
    assert codes(decide(unknown)) == ("allow", ["brand_not_registered"])


@pytest.mark.parametrize(
    ("flag", "kind", "reason"),
    [
        (Flag.STOLEN, VerdictKind.STOLEN, "stolen"),
        (Flag.RECALLED, VerdictKind.RECALLED, "recalled"),
    ],
)
def test_stolen_and_recalled_items_are_blocked_even_for_their_holder(
    flag: Flag, kind: VerdictKind, reason: str
) -> None:
    state = replace(HELD, flags=flag)
    result = decide(facts(state, verdict=kind, verdict_reasons=(Reason(reason, "…"),)))
    assert codes(result) == ("block", [reason])


def test_a_decommissioned_item_is_blocked() -> None:
    state = replace(HELD, status=Status.DECOMMISSIONED)
    suspect = facts(
        state, verdict=VerdictKind.SUSPECT, verdict_reasons=(Reason("decommissioned", "…"),)
    )
    assert codes(decide(suspect)) == ("block", ["decommissioned"])


def test_an_item_claimed_by_someone_else_is_blocked() -> None:
    state = replace(HELD, custodian=OTHER, flags=Flag.CLAIMED)
    assert codes(decide(facts(state))) == ("block", ["claimed_by_another_owner"])


def test_its_claimed_owner_may_resell_it() -> None:
    state = replace(HELD, flags=Flag.CLAIMED)
    assert codes(decide(facts(state))) == ("allow", ["holder"])


def test_an_item_sold_at_retail_and_not_claimed_is_blocked_for_everyone() -> None:
    state = replace(HELD, status=Status.SOLD)
    assert codes(decide(facts(state))) == ("block", ["sold_unclaimed"])
    assert codes(decide(facts(state, seller_addresses=frozenset({OTHER})))) == (
        "block",
        ["sold_unclaimed"],
    )


def test_a_seller_that_does_not_hold_the_item_is_blocked() -> None:
    result = decide(facts(seller_addresses=frozenset({OTHER})))
    assert codes(result) == ("block", ["seller_not_holder"])
    assert "0x1111…1111" in result[1][0].message


def test_a_seller_without_any_proven_address_is_blocked() -> None:
    assert codes(decide(facts(seller_addresses=frozenset()))) == ("block", ["seller_not_holder"])


def test_in_transit_items_go_to_review_for_shipper_and_consignee_only() -> None:
    state = replace(HELD, status=Status.IN_TRANSIT, consignee=OTHER)
    assert codes(decide(facts(state))) == ("review", ["in_transit"])
    consignee = facts(state, seller_addresses=frozenset({OTHER}))
    assert codes(decide(consignee)) == ("review", ["in_transit"])
    stranger = facts(state, seller_addresses=frozenset({OPERATOR}))
    assert codes(decide(stranger)) == ("block", ["seller_not_holder"])


def test_a_second_live_listing_by_the_same_seller_is_blocked() -> None:
    result = decide(facts(duplicate_of="L-1"))
    assert codes(result) == ("block", ["duplicate_listing"])
    assert "'L-1'" in result[1][0].message


def test_another_seller_listing_the_same_item_sends_it_to_review() -> None:
    assert codes(decide(facts(other_sellers=2))) == ("review", ["listed_by_another_seller"])


def test_clone_signals_send_the_holders_listing_to_review() -> None:
    signals = (Reason("impossible_travel", "Paris then Sydney within an hour"),)
    assert codes(decide(facts(signals=signals))) == ("review", ["impossible_travel"])


def test_a_suspect_verdict_sends_it_to_review_with_its_reasons() -> None:
    suspect = facts(verdict=VerdictKind.SUSPECT, verdict_reasons=(Reason("suspended_key", "…"),))
    assert codes(decide(suspect)) == ("review", ["suspended_key"])


def test_a_risky_seller_moves_an_allow_to_review_but_not_a_block() -> None:
    risk = Reason("seller_risk", "seller risk is high (80/100)")
    assert codes(decide(facts(seller_risk=risk))) == ("review", ["seller_risk"])
    blocked = facts(seller_risk=risk, seller_addresses=frozenset({OTHER}))
    assert codes(decide(blocked)) == ("block", ["seller_not_holder"])


def test_item_reasons_come_before_seller_reasons() -> None:
    state = replace(HELD, flags=Flag.STOLEN)
    stolen = facts(
        state,
        verdict=VerdictKind.STOLEN,
        verdict_reasons=(Reason("stolen", "…"),),
        seller_addresses=frozenset({OTHER}),
    )
    assert codes(decide(stolen)) == ("block", ["stolen"])


def test_decision_codes_are_the_signed_numbers() -> None:
    assert [d.code for d in Decision] == [0, 1, 2]
