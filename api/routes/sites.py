"""``/v1/sites``: where ledger addresses (factories, warehouses, shops) are.

Clone detection compares scans made before an item's sale with the sites of its custody
path. Only the registry operator records sites (it vets the parties); anyone with a key may
read one.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.auth import CallerDep, require_role
from api.services import ServicesDep
from ledger.errors import NotFound
from ledger.store.orgs import Role
from ledger.store.signals import SignalStore, SiteRead

router = APIRouter(prefix="/v1/sites", tags=["sites"])

_ADDRESS = "The ledger address (0x and 40 hex digits) of the party at the site."


class SiteIn(BaseModel):
    name: str = Field(description="What the site is, for people.", examples=["Acme, Biel"])
    latitude: float = Field(description="Degrees north, −90 to 90.", examples=[47.14])
    longitude: float = Field(description="Degrees east, −180 to 180.", examples=[7.25])
    country: str | None = Field(
        default=None, description="ISO 3166-1 alpha-2 code.", examples=["CH"]
    )
    gln: str | None = Field(
        default=None,
        description="The site's GS1 Global Location Number (13 digits): EPCIS events name "
        "the site by it (SGLN or PGLN), and exported events name the site with it.",
        examples=["0614141073467"],
    )


class SitePublic(SiteIn):
    address: str = Field(description="The checksummed ledger address.")
    recorded_at: datetime = Field(description="When the site was last recorded.")


@router.put(
    "/{address}",
    response_model=SitePublic,
    summary="Record where a ledger address is (registry operator only)",
)
def put_site(address: str, body: SiteIn, caller: CallerDep, services: ServicesDep) -> SitePublic:
    require_role(caller, "record sites", Role.REGISTRY)
    site = SignalStore(services.engine, clock=services.clock).set_site(
        address, body.name, body.latitude, body.longitude, body.country, gln=body.gln
    )
    return _public(site)


@router.get("/{address}", response_model=SitePublic, summary="Where a ledger address is")
def get_site(address: str, _caller: CallerDep, services: ServicesDep) -> SitePublic:
    site = SignalStore(services.engine).site(address)
    if site is None:
        raise NotFound("site", address)
    return _public(site)


def _public(site: SiteRead) -> SitePublic:
    return SitePublic(
        address=site.address,
        name=site.name,
        latitude=site.latitude,
        longitude=site.longitude,
        country=site.country,
        gln=site.gln,
        recorded_at=site.recorded_at,
    )
