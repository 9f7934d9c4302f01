"""The label URL as a GS1 resolver: ``linkType`` and the RFC 9264 linkset of an item.

GS1 Digital Link resolver standard 1.1: ``?linkType=linkset`` (or ``all``, or ``Accept:
application/linkset+json``) answers the item's links as ``application/linkset+json``, one
context object whose ``anchor`` is the canonical Digital Link and whose keys are the full
``https://gs1.org/voc/`` link relation IRIs; ``?linkType=gs1:pip`` (or the full IRI)
redirects (307) to that link; a link type the item does not have redirects to the default
link, the scan page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from ledger.identifiers import build_digital_link

__all__ = ["LINKSET_JSON", "linkset", "linkset_header", "resolve_link_type", "wants_resolver"]

LINKSET_JSON = "application/linkset+json"
GS1_VOC = "https://gs1.org/voc/"
_LINKSET_TYPES = frozenset({"linkset", "all"})


def wants_resolver(request: Request) -> bool:
    """Cheap test for a resolver request, so plain scans pay (almost) nothing for it."""
    return b"linkType=" in request.scope["query_string"] or LINKSET_JSON in request.headers.get(
        "accept", ""
    )


def linkset(gtin: str, serial: str, base_url: str) -> dict[str, Any]:
    """The item's linkset (RFC 9264 JSON): product page, EPCIS events, verdict, default."""
    anchor = build_digital_link(gtin, serial, base_url)
    page = {"href": anchor, "title": "Product information and authenticity", "type": "text/html"}
    events = {
        "href": f"{base_url}/v1/epcis/items/{gtin}/{quote(serial, safe='')}",
        "title": "Chain of custody as EPCIS 2.0 events",
        "type": "application/ld+json",
    }
    verdict = {"href": anchor, "title": "Authenticity verdict", "type": "application/json"}
    return {
        "linkset": [
            {
                "anchor": anchor,
                f"{GS1_VOC}pip": [page],
                f"{GS1_VOC}epcis": [events],
                f"{GS1_VOC}traceability": [events],
                f"{GS1_VOC}verificationService": [verdict],
                f"{GS1_VOC}defaultLink": [page],
            }
        ]
    }


def linkset_header(canonical_link: str) -> str:
    """The ``Link`` header pointing a normal answer at its linkset."""
    return f'<{canonical_link}?linkType=linkset>; rel="linkset"; type="{LINKSET_JSON}"'


def resolve_link_type(request: Request, gtin: str, serial: str) -> Response | None:
    """The resolver's answer to ``request``, or ``None`` when it is a plain scan after all."""
    link_type = request.query_params.get("linkType")
    if link_type is None and LINKSET_JSON not in request.headers.get("accept", ""):
        return None
    base_url = str(request.base_url).rstrip("/")
    links = linkset(gtin, serial, base_url)
    if link_type is None or link_type in _LINKSET_TYPES:
        return JSONResponse(links, media_type=LINKSET_JSON)
    relation = GS1_VOC + link_type.removeprefix("gs1:").removeprefix(GS1_VOC)
    context = links["linkset"][0]
    targets = context.get(relation) or context[f"{GS1_VOC}defaultLink"]
    return RedirectResponse(targets[0]["href"], status_code=307)
