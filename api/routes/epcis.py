"""``GET /v1/epcis/items/{gtin}/{serial}``: an item's whole history as an EPCIS 2.0 document.

Public like the scan route: the history is on chain for anyone to read; this only says it in
GS1's vocabulary (``ledger.epcis.export`` documents the mapping).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Response

from api.services import ServicesDep
from ledger.epcis.export import export_item

__all__ = ["JSON_LD", "router"]

router = APIRouter(prefix="/v1/epcis", tags=["epcis"])

JSON_LD = "application/ld+json"


@router.get(
    "/items/{gtin}/{serial}",
    response_class=Response,
    responses={
        200: {
            "content": {JSON_LD: {}},
            "description": "An EPCIS 2.0 JSON-LD `EPCISDocument` of every event of the item.",
        },
        400: {"description": "The GTIN or serial is malformed."},
        404: {"description": "No item with this GTIN and serial is registered."},
    },
)
def export_history(gtin: str, serial: str, services: ServicesDep) -> Response:
    """The item's on-chain history as GS1 EPCIS 2.0 ObjectEvents with CBV steps."""
    document = export_item(
        services.registry, gtin, serial, store=services.store, created_at=services.clock()
    )
    return Response(json.dumps(document), media_type=JSON_LD)
