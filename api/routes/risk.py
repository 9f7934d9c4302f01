"""``GET /v1/sellers/{seller_id}/risk``: a seller's risk score, factor by factor."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.auth import MarketplaceDep
from api.services import ServicesDep
from ledger.detect.seller_risk import SellerStats, seller_risk
from ledger.errors import NotFound
from ledger.store.listings import Listings

router = APIRouter(tags=["sellers"])


class RiskFactorOut(BaseModel):
    code: str
    message: str
    value: float
    points: float = Field(description="What this factor adds to the score.")


class SellerRiskOut(BaseModel):
    seller_id: str
    score: float = Field(description="0 (no concern) to 100.")
    level: str = Field(description="low | medium | high; high moves `allow` to `review`.")
    factors: list[RiskFactorOut]
    listings_checked: int
    listings_blocked: int
    never_held: int
    confirmed_reports: int
    listings_last_hour: int
    listings_last_day: int


@router.get("/v1/sellers/{seller_id}/risk", response_model=SellerRiskOut)
def risk(seller_id: str, caller: MarketplaceDep, services: ServicesDep) -> SellerRiskOut:
    """Why a seller of the caller's marketplace scores what it does."""
    seller = Listings(services.engine, clock=services.clock).sellers(caller.org_id, [seller_id])
    record = seller.get(seller_id)
    if record is None:
        raise NotFound("seller", seller_id)
    stats = SellerStats(
        listings_checked=record.listings_checked,
        listings_blocked=record.listings_blocked,
        never_held=record.never_held,
        confirmed_reports=record.confirmed_reports,
        listings_last_hour=record.listings_last_hour,
        listings_last_day=record.listings_last_day,
    )
    scored = seller_risk(stats)
    return SellerRiskOut(
        seller_id=seller_id,
        score=scored.score,
        level=scored.level,
        factors=[
            RiskFactorOut(code=f.code, message=f.message, value=f.value, points=f.points)
            for f in scored.factors
        ],
        listings_checked=stats.listings_checked,
        listings_blocked=stats.listings_blocked,
        never_held=stats.never_held,
        confirmed_reports=stats.confirmed_reports,
        listings_last_hour=stats.listings_last_hour,
        listings_last_day=stats.listings_last_day,
    )
