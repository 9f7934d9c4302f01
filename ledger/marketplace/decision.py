"""Whether a listing may go live: ``allow``, ``review`` or ``block``, with the reasons.

Pure rules over facts gathered elsewhere (the item's verdict and state from the index, the
seller's proven addresses, other active listings, clone signals, the seller's risk), so they
can be read, tested and changed in one place. First the item (is it genuine and sellable at
all?), then the seller (may *this* seller sell it?), then softer signals that ask a person
to look. Rules, in order:

===========================  ========  =======================================================
reason                       decision  when
===========================  ========  =======================================================
verdict's own reasons        block     counterfeit: unregistered code, destroyed, foreign prefix
``stolen`` / ``recalled``    block     the item is reported stolen or recalled
``decommissioned``           block     taken out of service
``claimed_by_another_owner`` block     a consumer claimed it and the seller is not that owner
``sold_unclaimed``           block     sold at retail, not yet claimed (a reseller must claim)
``seller_not_holder``        block     none of the seller's addresses holds it (nor receives it)
``duplicate_listing``        block     the same seller already has another live listing of it
``in_transit``               review    shipped to or by the seller, not yet received
``listed_by_another_seller`` review    another seller (other addresses) lists it too
clone signal codes           review    scans show signs of a cloned code
suspect verdict reasons      review    suspended key, incomplete history, …
``seller_risk``              review    would be allowed, but the seller's risk is high
``brand_not_registered``     allow     no registered brand owns the prefix: nothing to check
``holder``                   allow     the seller holds the genuine item and nothing above holds
===========================  ========  =======================================================
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from ledger.contract_errors import Status, short
from ledger.registry import ItemState
from ledger.verify import Reason, VerdictKind

__all__ = ["Decision", "ListingFacts", "decide"]


class Decision(enum.StrEnum):
    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"

    @property
    def code(self) -> int:
        """The number the decision is signed as (EIP-712 ``uint8``)."""
        return _CODES[self]


_CODES = {Decision.ALLOW: 0, Decision.REVIEW: 1, Decision.BLOCK: 2}


@dataclass(frozen=True)
class ListingFacts:
    """Everything the rules look at for one listing."""

    verdict: VerdictKind
    verdict_reasons: Sequence[Reason]
    state: ItemState | None
    seller_addresses: frozenset[str]
    """Checksummed addresses the seller proved it controls."""
    duplicate_of: str | None = None
    """Another live listing id of the same item by the same seller, if any."""
    other_sellers: int = 0
    """Live listings of the item by sellers with none of this seller's addresses."""
    signals: Sequence[Reason] = ()
    seller_risk: Reason | None = None
    """Set when the seller's risk is high enough to hold back an ``allow``."""


def decide(facts: ListingFacts) -> tuple[Decision, list[Reason]]:
    blocked = _item_blocks(facts) or _seller_blocks(facts)
    if blocked:
        return Decision.BLOCK, blocked
    if facts.state is None:  # unknown brand: Veritag has nothing to check it against
        return Decision.ALLOW, [
            Reason(
                "brand_not_registered",
                "no brand registered here owns this GTIN's prefix; Veritag cannot vouch for it",
            )
        ]
    review = _review_reasons(facts)
    if review:
        return Decision.REVIEW, review
    if facts.seller_risk is not None:
        return Decision.REVIEW, [facts.seller_risk]
    status = facts.state.status.label
    return Decision.ALLOW, [Reason("holder", f"the seller holds this genuine item ({status})")]


def _item_blocks(facts: ListingFacts) -> list[Reason]:
    if facts.verdict is VerdictKind.COUNTERFEIT:
        return list(facts.verdict_reasons)
    state = facts.state
    if state is None:
        return []
    reasons = [r for r in facts.verdict_reasons if r.code in {"stolen", "recalled"}]
    if state.status is Status.DECOMMISSIONED:
        reasons.append(Reason("decommissioned", "it was taken out of service"))
    return reasons


def _seller_blocks(facts: ListingFacts) -> list[Reason]:
    state = facts.state
    if state is None:
        return []
    mine = facts.seller_addresses
    holds = state.custodian in mine
    if state.claimed and not holds:
        return [
            Reason(
                "claimed_by_another_owner",
                f"a consumer claimed it ({short(state.custodian)}); the seller is not that owner",
            )
        ]
    if state.status is Status.SOLD:
        return [
            Reason(
                "sold_unclaimed",
                "it was sold at retail and not yet claimed; whoever bought it must claim it "
                "with the hidden code before reselling it",
            )
        ]
    in_transit = state.status is Status.IN_TRANSIT
    if not holds and not (in_transit and state.consignee in mine):
        return [
            Reason(
                "seller_not_holder",
                f"held by {short(state.custodian)}, which is not an address this seller proved "
                "it controls",
            )
        ]
    if facts.duplicate_of is not None:
        return [
            Reason(
                "duplicate_listing",
                f"the seller already lists this item as {facts.duplicate_of!r}; one item "
                "cannot be sold twice",
            )
        ]
    return []


def _review_reasons(facts: ListingFacts) -> list[Reason]:
    assert facts.state is not None
    reasons: list[Reason] = []
    if facts.state.status is Status.IN_TRANSIT:
        reasons.append(Reason("in_transit", "it is in transit; list it once it is received"))
    if facts.other_sellers:
        reasons.append(
            Reason(
                "listed_by_another_seller",
                f"{facts.other_sellers} other seller(s) list this same item right now",
            )
        )
    reasons.extend(facts.signals)
    if facts.verdict is VerdictKind.SUSPECT:
        reasons.extend(facts.verdict_reasons)
    return reasons
