"""The URL on every label: ``GET /01/{gtin}/21/{serial}`` → the verdict, as JSON or a page."""

from __future__ import annotations

import hashlib
from datetime import datetime
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.templating import Jinja2Templates

from api.linkset import linkset_header, resolve_link_type, wants_resolver
from api.schemas import VerdictPublic
from api.services import Services, ServicesDep
from api.verdicts import public_verdict
from ledger.errors import ConfigError
from ledger.identifiers import build_digital_link
from ledger.identifiers.item_link import gtin_and_serial
from ledger.store.repository import ScanRecord
from ledger.verify import Verdict

router = APIRouter(tags=["scan"])
templates = Jinja2Templates(directory=str(files("api") / "templates"))

LOCATION_HEADER = "x-veritag-location"
"""Optional coarse location a scanning app may send: ``lat,lon`` in degrees."""


class BadLocation(ConfigError):
    status = 400

    def __init__(self, value: str) -> None:
        self.value = value
        super().__init__(
            f"header X-Veritag-Location {value!r} must be 'latitude,longitude' in degrees"
        )


@router.get(
    "/01/{path:path}",
    response_model=VerdictPublic,
    summary="Scan a GS1 Digital Link",
    description="JSON with `Accept: application/json`, a page for browsers. Query "
    "attributes are accepted. When the chain node does not answer, the answer comes from "
    "the index, marked `stale` with the block it is as of (still 200); 503 only when there "
    "is no index either.",
    responses={503: {"description": "The chain node did not answer and there is no index."}},
    openapi_extra={  # read from the whole URL, so no function parameter declares it
        "parameters": [
            {
                "name": "path",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": "The rest of the Digital Link: `{gtin}/21/{serial}`, and more "
                "key qualifiers or attributes.",
            }
        ]
    },
)
def scan(request: Request, services: ServicesDep) -> Response:
    gtin, serial = gtin_and_serial(
        str(request.url), missing="a scan needs a GTIN (01) and a serial (21)"
    )
    if wants_resolver(request):
        resolved = resolve_link_type(request, gtin, serial)
        if resolved is not None:
            return resolved
    lookup = services.verdicts.lookup(gtin, serial)
    verdict = lookup.verdict
    count, first_seen = _record_scan(request, services, verdict)
    base_url = str(request.base_url).rstrip("/")
    writer = services.scans if verdict.state is not None else None
    canonical = build_digital_link(verdict.gtin, verdict.serial, base_url)
    headers = {"link": linkset_header(canonical)}
    answer = public_verdict(
        verdict,
        services,
        link=canonical,
        scan_count=count,
        first_seen=first_seen,
        signals=writer.signals(verdict.item_id.hex()) if writer is not None else (),
        stale=lookup.stale,
    )
    if _wants_html(request):
        return templates.TemplateResponse(request, "scan.html", {"v": answer}, headers=headers)
    fresh_only = set() if lookup.stale else {"stale", "as_of_block"}  # only stale ones say so
    body = answer.model_dump(mode="json", by_alias=True, exclude=fresh_only)
    return JSONResponse(_without_absent_aggregation(body), headers=headers)


def _without_absent_aggregation(body: dict[str, Any]) -> dict[str, Any]:
    """Aggregation fields only where they say something: ``containers`` for an item ever
    packed, a step's ``container`` for a case's or pallet's own event."""
    if not body.get("containers"):
        body.pop("containers", None)
    for step in body.get("custody", ()):
        if step.get("container") is None:
            step.pop("container", None)
    return body


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


def _record_scan(
    request: Request, services: Services, verdict: Verdict
) -> tuple[int, datetime | None]:
    """Store the scan (hashed client data, coarse location); return the item's scan stats."""
    item_hex = verdict.item_id.hex()
    latitude, longitude = _location(request.headers.get(LOCATION_HEADER))
    if services.store is None:
        return 0, None
    registered = verdict.state is not None
    scanned_at = services.clock()
    record = ScanRecord(
        item_id=item_hex if registered else None,
        gtin=verdict.gtin,
        serial=verdict.serial,
        scanned_at=scanned_at,
        latitude=latitude,
        longitude=longitude,
        ip_hash=_hash(services, request.client.host if request.client else ""),
        ua_hash=_hash(services, request.headers.get("user-agent", "")),
    )
    if services.scans is not None:
        services.scans.submit(record)
    return services.scan_recorded(item_hex, scanned_at) if registered else (0, None)


def _location(value: str | None) -> tuple[float | None, float | None]:
    """Rounded to 0.1° (about 11 km): coarse enough not to locate a person."""
    if value is None:
        return None, None
    try:
        lat_text, lon_text = value.split(",")
        latitude, longitude = float(lat_text), float(lon_text)
    except ValueError:
        raise BadLocation(value) from None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise BadLocation(value)
    return round(latitude, 1), round(longitude, 1)


def _hash(services: Services, value: str) -> str:
    return hashlib.sha256(services.hash_salt + value.encode()).hexdigest()
