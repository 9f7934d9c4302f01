"""Take-down metrics: how many listings were checked, held for review and blocked, and why."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, BeforeValidator, Field

from api.auth import CallerDep
from api.params import iso_8601
from api.services import ServicesDep
from ledger.errors import Forbidden
from ledger.store.listings import Listings
from ledger.store.orgs import Role

router = APIRouter(tags=["metrics"])


class TakedownsOut(BaseModel):
    scope: str = Field(description="`marketplace <id>`, `brand <id>` or `all`.")
    since: datetime | None
    listings_checked: int = Field(description="Listings checked (each once, however rechecked).")
    allowed: int
    review: int
    blocked: int
    block_rate: float = Field(description="blocked / listings_checked (0 when none).")
    reasons: dict[str, int] = Field(
        description="How many blocked or held listings gave each reason, most frequent first."
    )


@router.get("/v1/metrics/takedowns", response_model=TakedownsOut)
def takedowns(
    caller: CallerDep,
    services: ServicesDep,
    since: Annotated[
        datetime | None,
        BeforeValidator(iso_8601),
        Query(description="Only listings first checked since."),
    ] = None,
) -> TakedownsOut:
    """A marketplace sees its own listings; a brand, the listings of its items in every
    marketplace (counts only); the registry operator, everything."""
    listings = Listings(services.engine)
    if caller.role is Role.MARKETPLACE:
        scope, counts = (
            f"marketplace {caller.org_id}",
            listings.takedowns(marketplace_id=caller.org_id, since=since),
        )
    elif caller.role is Role.BRAND and caller.brand_id is not None:
        scope, counts = (
            f"brand {caller.brand_id}",
            listings.takedowns(brand_id=caller.brand_id, since=since),
        )
    elif caller.role is Role.REGISTRY:
        scope, counts = "all", listings.takedowns(since=since)
    else:
        raise Forbidden(
            "read take-down metrics", "they are for marketplaces, brands and the registry"
        )
    checked = counts.listings_checked
    return TakedownsOut(
        scope=scope,
        since=since,
        listings_checked=checked,
        allowed=counts.allowed,
        review=counts.review,
        blocked=counts.blocked,
        block_rate=counts.blocked / checked if checked else 0.0,
        reasons=counts.reasons,
    )
