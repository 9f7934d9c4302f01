"""Reports of suspected fakes: anyone files one, brands see and resolve those about their items.

``POST /v1/reports`` needs no key (a consumer who scanned a doubtful item) or a marketplace
key (then it may name the marketplace's own listing and seller). ``GET /v1/reports`` answers
by who asks: a brand sees reports about its items, a marketplace the ones it filed, the
registry operator all of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CallerDep, OptionalCallerDep, require_role
from api.routes import ROW_ID_MAX, RowId
from api.services import Services, ServicesDep
from ledger.errors import InvalidDigitalLink, InvalidRecord
from ledger.identifiers import parse_digital_link
from ledger.store.orgs import Role
from ledger.store.reports import ReportIn, ReportRead, Reports

router = APIRouter(prefix="/v1/reports", tags=["reports"])


class ReportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(
        default=None, max_length=2048, description="The item's GS1 Digital Link, as scanned."
    )
    gtin: str | None = Field(default=None, description="Instead of `code`, with `serial`.")
    serial: str | None = Field(default=None, description="Instead of `code`, with `gtin`.")
    kind: str = Field(description="suspected_fake, counterfeit_purchase, listing or other.")
    message: str | None = Field(default=None, description="At most 2,000 characters.")
    latitude: float | None = Field(default=None, description="Kept rounded to 0.1°.")
    longitude: float | None = Field(default=None, description="Kept rounded to 0.1°.")
    listing_id: str | None = Field(default=None, description="Marketplaces only: its listing.")
    seller_id: str | None = Field(default=None, description="Marketplaces only: its seller.")


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str = Field(description="confirmed or dismissed.")


class ReportPublic(BaseModel):
    id: int
    item_id: str
    gtin: str
    serial: str
    brand_id: int | None = Field(description="The brand whose GS1 prefix the GTIN is under.")
    kind: str
    message: str | None
    latitude: float | None
    longitude: float | None
    reporter_org_id: int | None = Field(description="The reporting marketplace; null: consumer.")
    listing_id: str | None
    seller_id: str | None
    status: str = Field(description="open, confirmed or dismissed.")
    created_at: datetime
    resolved_at: datetime | None


class ReportList(BaseModel):
    reports: list[ReportPublic]


def _reports(services: Services) -> Reports:
    return Reports(services.engine, clock=services.clock)


def _public(report: ReportRead) -> ReportPublic:
    return ReportPublic(
        id=report.id,
        item_id=report.item_id,
        gtin=report.gtin,
        serial=report.serial,
        brand_id=report.brand_id,
        kind=report.kind.value,
        message=report.message,
        latitude=report.latitude,
        longitude=report.longitude,
        reporter_org_id=report.reporter_org_id,
        listing_id=report.listing_id,
        seller_id=report.seller_id,
        status=report.status.value,
        created_at=report.created_at,
        resolved_at=report.resolved_at,
    )


def _item(body: ReportBody) -> tuple[str, str]:
    """The GTIN and serial the report names, from its code or given as they are."""
    if body.code is not None:
        if body.gtin is not None or body.serial is not None:
            raise InvalidRecord(
                "report", "name the item by its code or by gtin and serial, not both"
            )
        link = parse_digital_link(body.code)
        if link.gtin is None or link.serial is None:
            raise InvalidDigitalLink(
                body.code, "it names no single item; a report needs a GTIN with a serial"
            )
        return link.gtin, link.serial
    if body.gtin is None or body.serial is None:
        raise InvalidRecord(
            "report", "name the item by its code (a Digital Link) or by both gtin and serial"
        )
    return body.gtin, body.serial


@router.post("", status_code=201, summary="Report a suspected fake")
def file_report(body: ReportBody, caller: OptionalCallerDep, services: ServicesDep) -> ReportPublic:
    if caller is not None:
        require_role(caller, "file a report", Role.MARKETPLACE)
    gtin, serial = _item(body)
    report = _reports(services).file(
        ReportIn(
            gtin=gtin,
            serial=serial,
            kind=body.kind,
            message=body.message,
            latitude=body.latitude,
            longitude=body.longitude,
            reporter_org_id=None if caller is None else caller.org_id,
            listing_id=body.listing_id,
            seller_id=body.seller_id,
        )
    )
    return _public(report)


@router.get("", summary="Reports the caller may see, newest first")
def list_reports(
    caller: CallerDep,
    services: ServicesDep,
    status: str | None = None,
    limit: int = 100,
    offset: Annotated[int, Query(le=ROW_ID_MAX, description="Reports to skip.")] = 0,
) -> ReportList:
    require_role(caller, "list reports", Role.BRAND, Role.MARKETPLACE, Role.REGISTRY)
    reports = _reports(services)
    if caller.role is Role.BRAND:
        assert caller.brand_id is not None  # a brand organisation always has its brand
        found = reports.for_brand(caller.brand_id, status, limit=limit, offset=offset)
    elif caller.role is Role.MARKETPLACE:
        found = reports.for_reporter(caller.org_id, status, limit=limit, offset=offset)
    else:
        found = reports.all(status, limit=limit, offset=offset)
    return ReportList(reports=[_public(report) for report in found])


@router.post("/{report_id}/resolve", summary="Confirm or dismiss a report about the brand's item")
def resolve_report(
    report_id: RowId, body: ResolveIn, caller: CallerDep, services: ServicesDep
) -> ReportPublic:
    require_role(caller, f"resolve report {report_id}", Role.BRAND)
    assert caller.brand_id is not None
    resolved = _reports(services).resolve(report_id, caller.brand_id, body.status, caller.org_id)
    return _public(resolved)
