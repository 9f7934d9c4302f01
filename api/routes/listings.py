"""The marketplace gate: ``POST /v1/listings/check`` and the listings it remembers.

A batch answers 200 with one result per listing, each with its own ``status``: a listing
whose code is malformed, whose seller is unknown, or whose id was used for another item
gets a problem, and the rest are still decided. The answer is built as plain JSON (no
response-model validation) because it is the hot path: up to 1,000 signed decisions.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, model_validator

from api.auth import MarketplaceDep
from api.services import ServicesDep
from ledger.marketplace.check import MAX_LISTINGS, CheckedListing, IndexVerdict, ListingIn
from ledger.marketplace.signing import TYPES
from ledger.registry import Flag
from ledger.store.listings import ListingRow, Listings
from ledger.store.market_models import EXTERNAL_ID_LENGTH

router = APIRouter(tags=["listings"])

_ID = Field(
    min_length=1,
    max_length=EXTERNAL_ID_LENGTH,
    pattern=r"^[^\x00-\x1f\x7f]+$",
    description="The marketplace's own id: 1 to 128 printable characters.",
)


class ListingCheckIn(BaseModel):
    listing_id: str = _ID
    seller_id: str = _ID
    code: str | None = Field(
        default=None, max_length=2048, description="The scanned GS1 Digital Link URI."
    )
    gtin: str | None = Field(default=None, max_length=14, description="Instead of `code`.")
    serial: str | None = Field(default=None, max_length=20, description="Instead of `code`.")

    @model_validator(mode="after")
    def _one_code(self) -> ListingCheckIn:
        if self.code is None and (self.gtin is None or self.serial is None):
            raise ValueError("give `code` (a Digital Link) or both `gtin` and `serial`")
        return self


class ListingCheckRequest(BaseModel):
    listings: list[ListingCheckIn] = Field(min_length=1, max_length=MAX_LISTINGS)


class ReasonOut(BaseModel):
    code: str
    message: str


class ListingItemOut(BaseModel):
    gtin: str
    serial: str
    item_id: str
    status: str | None
    flags: list[str]
    holder: str | None = Field(description="The custodian or owner on chain.")


class ListingProofOut(BaseModel):
    chain_id: int
    contract: str
    block: int = Field(description="The indexed block the decision was read at.")
    seq: int


class ListingVerdictOut(BaseModel):
    verdict: str
    reasons: list[ReasonOut]
    item: ListingItemOut
    brand_id: int | None
    proof: ListingProofOut


class ProblemOut(BaseModel):
    type: str
    title: str
    status: int
    detail: str


class ListingResultOut(BaseModel):
    listing_id: str
    seller_id: str
    status: int = Field(description="200, or the 4xx status of `problem`.")
    decision: str | None = Field(description="allow | review | block; null with a problem.")
    reasons: list[ReasonOut]
    verdict: ListingVerdictOut | None
    signature: str | None = Field(
        description="The service's EIP-712 signature over the decision (see /v1/listings/signer)."
    )
    problem: ProblemOut | None


class ListingCheckResponse(BaseModel):
    block: int
    checked_at: str
    signer: str
    marketplace: int = Field(description="The marketplace id the decisions are signed for.")
    results: list[ListingResultOut]


class ListingOut(BaseModel):
    listing_id: str
    seller_id: str
    code: str
    item_id: str
    decision: str
    verdict: str
    reasons: list[str]
    block: int
    active: bool
    checks: int
    first_checked_at: str
    checked_at: str
    ended_at: str | None


class SignerOut(BaseModel):
    address: str
    domain: dict[str, Any]
    types: dict[str, list[dict[str, str]]]
    primary_type: str


@router.post(
    "/v1/listings/check",
    response_model=ListingCheckResponse,
    summary="Check up to 1,000 listings before they go live",
)
def check_listings(
    body: ListingCheckRequest, caller: MarketplaceDep, services: ServicesDep
) -> Response:
    batch = [
        ListingIn(x.listing_id, x.seller_id, code=x.code, gtin=x.gtin, serial=x.serial)
        for x in body.listings
    ]
    outcome = services.listing_checker().check(caller.org_id, batch)
    registry = services.registry
    results = [_result(r, registry.chain_id, registry.address) for r in outcome.results]
    return JSONResponse(
        {
            "block": outcome.block,
            "checked_at": outcome.checked_at.isoformat(),
            "signer": outcome.signer,
            "marketplace": caller.org_id,
            "results": results,
        }
    )


@router.get("/v1/listings/signer", response_model=SignerOut)
def decision_signer(services: ServicesDep) -> SignerOut:
    """Who signs decisions, and the EIP-712 domain and types to verify them with."""
    signer = services.decision_signer
    return SignerOut(
        address=signer.address,
        domain=signer.domain(),
        types=TYPES,
        primary_type="ListingDecision",
    )


@router.get("/v1/listings/{listing_id}", response_model=ListingOut)
def get_listing(listing_id: str, caller: MarketplaceDep, services: ServicesDep) -> ListingOut:
    """One of the caller's listings as last checked."""
    return _listing(Listings(services.engine).get(caller.org_id, listing_id))


@router.delete("/v1/listings/{listing_id}", status_code=204)
def end_listing(listing_id: str, caller: MarketplaceDep, services: ServicesDep) -> Response:
    """End a listing (sold or withdrawn): the item is no longer offered by this seller."""
    Listings(services.engine, clock=services.clock).end(caller.org_id, listing_id)
    return Response(status_code=204)


def _result(result: CheckedListing, chain_id: int, contract: str) -> dict[str, Any]:
    problem = result.problem
    return {
        "listing_id": result.listing_id,
        "seller_id": result.seller_id,
        "status": result.status,
        "decision": result.decision.value if result.decision else None,
        "reasons": [{"code": r.code, "message": r.message} for r in result.reasons],
        "verdict": _verdict(result.verdict, chain_id, contract) if result.verdict else None,
        "signature": result.signature,
        "problem": (
            {
                "type": "about:blank",
                "title": problem.title,
                "status": problem.status,
                "detail": problem.detail,
            }
            if problem
            else None
        ),
    }


def _verdict(verdict: IndexVerdict, chain_id: int, contract: str) -> dict[str, Any]:
    state = verdict.state
    return {
        "verdict": verdict.verdict.value,
        "reasons": [{"code": r.code, "message": r.message} for r in verdict.reasons],
        "item": {
            "gtin": verdict.gtin,
            "serial": verdict.serial,
            "item_id": verdict.item_id,
            "status": state.status.name.lower() if state else None,
            "flags": [(f.name or "").lower() for f in Flag if state and f in state.flags],
            "holder": state.custodian if state else None,
        },
        "brand_id": verdict.brand_id,
        "proof": {
            "chain_id": chain_id,
            "contract": contract,
            "block": verdict.block,
            "seq": state.seq if state else 0,
        },
    }


def _listing(row: ListingRow) -> ListingOut:
    return ListingOut(
        listing_id=row.listing_id,
        seller_id=row.seller_id,
        code=row.code,
        item_id=row.item_id,
        decision=row.decision,
        verdict=row.verdict,
        reasons=list(row.reasons),
        block=row.block_number,
        active=row.active,
        checks=row.checks,
        first_checked_at=row.first_checked_at.isoformat(),
        checked_at=row.checked_at.isoformat(),
        ended_at=row.ended_at.isoformat() if row.ended_at else None,
    )
