"""Reports of suspected fakes, by consumers (anonymous) and marketplaces, seen by brands.

A report names an item by GTIN and serial; its brand is the one whose registered GS1
Company Prefix the GTIN falls under (from the indexed ``BrandPrefix`` table), or none when
no brand registered it, which is itself worth a look by the registry. Only the item's brand
resolves a report. Confirming a marketplace's report about one of its sellers counts
against that seller, in the same transaction.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Engine, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from ledger.alerts.publish import AlertKind, AlertSpec, publish_in
from ledger.errors import Conflict, Forbidden, IdentifierError, InvalidRecord, NotFound
from ledger.identifiers import (
    gs1_company_prefix_candidates,
    item_id,
    validate_gtin,
    validate_serial,
)
from ledger.store.database import session
from ledger.store.market_models import EXTERNAL_ID_LENGTH, Report, Seller
from ledger.store.models import BrandPrefix
from ledger.store.sellers import validate_seller_id

__all__ = [
    "MESSAGE_MAX_LENGTH",
    "ReportIn",
    "ReportKind",
    "ReportRead",
    "ReportStatus",
    "Reports",
]

MESSAGE_MAX_LENGTH = 2000
_E = TypeVar("_E", bound=enum.StrEnum)
_COORDINATE_DECIMALS = 1
"""0.1° (about 11 km): enough to see where fakes turn up, too coarse to find a person."""


class ReportKind(enum.StrEnum):
    SUSPECTED_FAKE = "suspected_fake"
    COUNTERFEIT_PURCHASE = "counterfeit_purchase"
    LISTING = "listing"
    OTHER = "other"


class ReportStatus(enum.StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


@dataclass(frozen=True)
class ReportIn:
    """A report as filed; :meth:`Reports.file` checks every field."""

    gtin: str
    serial: str
    kind: ReportKind | str
    message: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    reporter_org_id: int | None = None
    """The marketplace filing it; None for a consumer."""
    listing_id: str | None = None
    seller_id: str | None = None
    """The reporting marketplace's own listing and seller the report is about, if any."""


@dataclass(frozen=True)
class ReportRead:
    id: int
    item_id: str
    gtin: str
    serial: str
    brand_id: int | None
    kind: ReportKind
    message: str | None
    latitude: float | None
    longitude: float | None
    reporter_org_id: int | None
    listing_id: str | None
    seller_id: str | None
    status: ReportStatus
    created_at: datetime
    resolved_at: datetime | None
    resolved_by_org_id: int | None


def _alert(row: Report) -> AlertSpec:
    return AlertSpec(
        AlertKind.REPORT,
        {
            "report_id": row.id,
            "item_id": row.item_id,
            "gtin": row.gtin,
            "serial": row.serial,
            "kind": row.kind,
            "message": row.message,
            "reporter": "consumer" if row.reporter_org_id is None else "marketplace",
            "listing_id": row.listing_id,
            "seller_id": row.seller_id,
        },
        brand_id=row.brand_id,
        alert_id=f"report-{row.id}",
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Reports:
    """Reports in the store behind ``engine``."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.engine = engine
        self._clock = clock

    def file(self, report: ReportIn) -> ReportRead:
        """Record a report; InvalidRecord for a bad field, NotFound for an unknown seller."""
        try:
            gtin = validate_gtin(report.gtin)
            serial = validate_serial(report.serial)
        except IdentifierError as exc:
            raise InvalidRecord("report", str(exc)) from exc
        kind = _choice(ReportKind, report.kind, "kind")
        message = _message(report.message)
        latitude, longitude = _place(report.latitude, report.longitude)
        if report.reporter_org_id is None and (report.listing_id or report.seller_id):
            raise InvalidRecord(
                "report", "only a marketplace, with its API key, names a listing or seller"
            )
        listing_id = _listing_id(report.listing_id)
        seller_id = None if report.seller_id is None else validate_seller_id(report.seller_id)
        row = Report(
            item_id=item_id(gtin, serial).hex(),
            gtin=gtin,
            serial=serial,
            reporter_org_id=report.reporter_org_id,
            listing_id=listing_id,
            seller_id=seller_id,
            kind=kind.value,
            message=message,
            latitude=latitude,
            longitude=longitude,
            status=ReportStatus.OPEN.value,
            created_at=_utc(self._clock()),
        )
        with session(self.engine) as db:
            if (
                seller_id is not None
                and db.get(Seller, (report.reporter_org_id, seller_id)) is None
            ):
                raise NotFound("seller", seller_id)
            row.brand_id = _brand_of(db, gtin)
            db.add(row)
            db.flush()
            # Queued with the report, so a brand hears of every report exactly once.
            publish_in(db, [_alert(row)], now=row.created_at)
        return _read(row)

    def get(self, report_id: int) -> ReportRead:
        with session(self.engine) as db:
            row = db.get(Report, report_id)
        if row is None:
            raise NotFound("report", str(report_id))
        return _read(row)

    def for_brand(
        self,
        brand_id: int,
        status: ReportStatus | str | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ReportRead]:
        """Reports about the brand's items, newest first."""
        return self._list(col(Report.brand_id) == brand_id, status, limit, offset)

    def for_reporter(
        self,
        org_id: int,
        status: ReportStatus | str | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ReportRead]:
        """Reports the organisation filed, newest first."""
        return self._list(col(Report.reporter_org_id) == org_id, status, limit, offset)

    def all(
        self, status: ReportStatus | str | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[ReportRead]:
        """Every report (for the registry operator), newest first."""
        return self._list(None, status, limit, offset)

    def resolve(
        self,
        report_id: int,
        brand_id: int,
        status: ReportStatus | str,
        by_org_id: int,
    ) -> ReportRead:
        """Confirm or dismiss a report about one of ``brand_id``'s items, once."""
        outcome = _choice(ReportStatus, status, "resolution")
        if outcome is ReportStatus.OPEN:
            raise InvalidRecord("resolution", "a report is resolved as confirmed or dismissed")
        action = f"resolve report {report_id}"
        now = _utc(self._clock())
        with session(self.engine) as db:
            row = db.get(Report, report_id)
            if row is None:
                raise NotFound("report", str(report_id))
            if row.brand_id != brand_id:
                owner = "no registered brand" if row.brand_id is None else f"brand {row.brand_id}"
                raise Forbidden(
                    action, f"it is about an item of {owner}, and only its brand resolves it"
                )
            changed = db.exec(
                update(Report)
                .where(col(Report.id) == report_id, col(Report.status) == ReportStatus.OPEN)
                .values(status=outcome.value, resolved_at=now, resolved_by_org_id=by_org_id)
            )
            if changed.rowcount != 1:
                db.refresh(row)
                raise Conflict(
                    f"report {report_id}",
                    f"it was already {row.status} by organisation {row.resolved_by_org_id}",
                )
            if (
                outcome is ReportStatus.CONFIRMED
                and row.seller_id is not None
                and row.reporter_org_id is not None
            ):
                _count_confirmed(db, row.reporter_org_id, row.seller_id)
            db.refresh(row)
        return _read(row)

    def _list(
        self,
        where: ColumnElement[bool] | None,
        status: ReportStatus | str | None,
        limit: int,
        offset: int,
    ) -> list[ReportRead]:
        if not 1 <= limit <= 1000 or offset < 0:
            raise InvalidRecord("report query", "limit is 1 to 1000 and offset not negative")
        query = select(Report)
        if where is not None:
            query = query.where(where)
        if status is not None:
            query = query.where(Report.status == _choice(ReportStatus, status, "status").value)
        query = query.order_by(col(Report.id).desc()).limit(limit).offset(offset)
        with session(self.engine) as db:
            rows = db.exec(query).all()
        return [_read(row) for row in rows]


def _brand_of(db: Session, gtin: str) -> int | None:
    # Prefixes are unique and never nest across brands, so at most one candidate matches.
    return db.exec(
        select(BrandPrefix.brand_id).where(
            col(BrandPrefix.prefix).in_(gs1_company_prefix_candidates(gtin))
        )
    ).first()


def _count_confirmed(db: Session, marketplace_id: int, seller_id: str) -> None:
    db.exec(
        update(Seller)
        .where(col(Seller.marketplace_id) == marketplace_id, col(Seller.seller_id) == seller_id)
        .values(confirmed_reports=col(Seller.confirmed_reports) + 1)
    )


def _choice(kind: type[_E], value: _E | str, name: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidRecord("report", f"{name} {value!r} is not one of {allowed}") from None


def _message(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MESSAGE_MAX_LENGTH:
        raise InvalidRecord(
            "report",
            f"its message has {len(value)} characters, at most {MESSAGE_MAX_LENGTH} are allowed",
        )
    return value


def _place(latitude: float | None, longitude: float | None) -> tuple[float | None, float | None]:
    if latitude is None and longitude is None:
        return None, None
    if latitude is None or longitude is None:
        raise InvalidRecord("report", "a place needs both latitude and longitude, or neither")
    for name, value, bound in (("latitude", latitude, 90), ("longitude", longitude, 180)):
        if not math.isfinite(value) or abs(value) > bound:
            raise InvalidRecord("report", f"{name} {value} is not between -{bound} and {bound}")
    return round(latitude, _COORDINATE_DECIMALS), round(longitude, _COORDINATE_DECIMALS)


def _listing_id(value: str | None) -> str | None:
    if value is None:
        return None
    if not value or len(value) > EXTERNAL_ID_LENGTH or not value.isprintable():
        raise InvalidRecord(
            "report",
            f"listing id {value[:40]!r} is not 1 to {EXTERNAL_ID_LENGTH} printable characters",
        )
    return value


def _read(row: Report) -> ReportRead:
    assert row.id is not None
    return ReportRead(
        id=row.id,
        item_id=row.item_id,
        gtin=row.gtin,
        serial=row.serial,
        brand_id=row.brand_id,
        kind=ReportKind(row.kind),
        message=row.message,
        latitude=row.latitude,
        longitude=row.longitude,
        reporter_org_id=row.reporter_org_id,
        listing_id=row.listing_id,
        seller_id=row.seller_id,
        status=ReportStatus(row.status),
        created_at=_utc(row.created_at),
        resolved_at=None if row.resolved_at is None else _utc(row.resolved_at),
        resolved_by_org_id=row.resolved_by_org_id,
    )


def _utc(moment: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; the store writes UTC only.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
