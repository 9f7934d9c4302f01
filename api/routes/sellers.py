"""A marketplace's sellers: linking each to the ledger addresses it proves it controls.

``POST /v1/sellers/{seller_id}/challenge`` gives an EIP-4361 message naming the marketplace,
the seller and a fresh nonce; the seller signs it with the address's key (any wallet's
"sign message"), and ``POST …/link`` hands the message and signature back. Every route
needs a marketplace key and sees that marketplace's sellers only: another marketplace's
seller is a 404, as if it did not exist.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import MarketplaceDep
from api.services import Services, ServicesDep
from ledger.store.sellers import SellerRead, Sellers

router = APIRouter(prefix="/v1/sellers", tags=["sellers"])


class ChallengeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(description="The ledger address to link, `0x` and 40 hex digits.")


class ChallengePublic(BaseModel):
    nonce: str
    message: str = Field(description="The EIP-4361 message the seller signs, unchanged.")
    expires_at: datetime


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(description="The challenge's message, exactly as it was signed.")
    signature: str = Field(description="The EIP-191 signature: `0x` and 130 hex digits.")


class SellerPublic(BaseModel):
    seller_id: str
    addresses: list[str] = Field(description="Linked ledger addresses, oldest link first.")
    listings_checked: int
    listings_blocked: int
    never_held: int = Field(
        description="Listings of registered items that no linked address ever held."
    )
    confirmed_reports: int
    created_at: datetime


def _sellers(services: Services) -> Sellers:
    return Sellers(services.engine, clock=services.clock)


def _public(seller: SellerRead) -> SellerPublic:
    return SellerPublic(
        seller_id=seller.seller_id,
        addresses=list(seller.addresses),
        listings_checked=seller.listings_checked,
        listings_blocked=seller.listings_blocked,
        never_held=seller.never_held,
        confirmed_reports=seller.confirmed_reports,
        created_at=seller.created_at,
    )


@router.post("/{seller_id}/challenge", summary="A message for the seller to sign")
def challenge(
    seller_id: str,
    body: ChallengeIn,
    request: Request,
    caller: MarketplaceDep,
    services: ServicesDep,
) -> ChallengePublic:
    base = request.base_url
    issued = _sellers(services).issue_nonce(
        caller.org_id,
        caller.name,
        seller_id,
        body.address,
        domain=base.netloc,
        uri=str(base),
        chain_id=services.registry.chain_id,
    )
    return ChallengePublic(
        nonce=issued.nonce, message=issued.message_text, expires_at=issued.expires_at
    )


@router.post("/{seller_id}/link", summary="Link the address a signed challenge proves")
def link(
    seller_id: str, body: LinkIn, caller: MarketplaceDep, services: ServicesDep
) -> SellerPublic:
    seller = _sellers(services).link(
        caller.org_id,
        seller_id,
        body.message,
        body.signature,
        chain_id=services.registry.chain_id,
    )
    return _public(seller)


@router.get("/{seller_id}", summary="One of the marketplace's sellers")
def get_seller(seller_id: str, caller: MarketplaceDep, services: ServicesDep) -> SellerPublic:
    return _public(_sellers(services).get(caller.org_id, seller_id))


@router.delete("/{seller_id}/addresses/{address}", status_code=204, summary="Unlink an address")
def unlink(seller_id: str, address: str, caller: MarketplaceDep, services: ServicesDep) -> Response:
    _sellers(services).unlink(caller.org_id, seller_id, address)
    return Response(status_code=204)
