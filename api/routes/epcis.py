"""GS1 EPCIS 2.0 over HTTP: export an item's history, capture partners' events, query events.

* ``GET /v1/epcis/items/{gtin}/{serial}``: the item's whole on-chain history as an
  ``EPCISDocument`` (public, like the scan route; ``ledger.epcis.export`` has the mapping).
* ``POST /v1/epcis/capture``: the EPCIS 2.0 REST binding's capture. The document is checked
  whole (GS1's JSON schema when configured, then every event against the ledger's rules,
  ``ledger.epcis.capture``) before anything is recorded; each applicable ObjectEvent becomes
  one outbox operation per item (or case or pallet, by SSCC), each AggregationEvent one
  ``pack`` or ``unpack`` operation for all its children, queued in one transaction. With
  the default ``GS1-Capture-Error-Behaviour: rollback`` one refused event refuses the
  document (422, every reason listed) and nothing changes; with ``proceed`` the applicable
  events are queued and the refused ones listed. ``GET /v1/epcis/capture/{captureID}``
  follows it.
* ``GET /v1/epcis/events``: a documented subset of the EPCIS 2.0 query parameters.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Query, Request, Response
from pydantic import BaseModel, Field

from api.auth import CallerDep, require_role
from api.params import IsoDateTime
from api.services import Services, ServicesDep
from ledger.epcis.capture import (
    CapturePlan,
    Refusal,
    RegistryCaptureView,
    plan_capture,
)
from ledger.epcis.export import export_container, export_item
from ledger.epcis.query import EventQuery, query_events
from ledger.epcis.schema import schema_problems
from ledger.errors import CaptureRejected, Forbidden, InvalidRecord
from ledger.outbox import OpStatus, Outbox, Senders
from ledger.store.captures import CaptureRead, Captures
from ledger.store.containers import Containers
from ledger.store.orgs import Principal, Role
from ledger.store.repository import Store
from ledger.store.signals import SignalStore

__all__ = ["JSON_LD", "router"]

router = APIRouter(prefix="/v1/epcis", tags=["epcis"])

JSON_LD = "application/ld+json"
_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


@router.get(
    "/items/{gtin}/{serial}",
    response_class=Response,
    responses={
        200: {
            "content": {JSON_LD: {}},
            "description": "An EPCIS 2.0 JSON-LD `EPCISDocument` of every event of the item.",
        },
        400: {"description": "The GTIN or serial is malformed.", **_PROBLEM},
        404: {"description": "No item with this GTIN and serial is registered.", **_PROBLEM},
    },
)
def export_history(gtin: str, serial: str, services: ServicesDep) -> Response:
    """The item's on-chain history as GS1 EPCIS 2.0 ObjectEvents with CBV steps."""
    document = export_item(
        services.registry, gtin, serial, store=services.store, created_at=services.clock()
    )
    return Response(json.dumps(document), media_type=JSON_LD)


@router.get(
    "/containers/{sscc}",
    response_class=Response,
    responses={
        200: {
            "content": {JSON_LD: {}},
            "description": "An EPCIS 2.0 JSON-LD `EPCISDocument` of every event of the case "
            "or pallet, in chain order: its moves as ObjectEvents on its SSCC, its own packing "
            "and what was packed into and unpacked out of it (one event per transaction, "
            "all children together) as AggregationEvents.",
        },
        400: {"description": "The SSCC is malformed.", **_PROBLEM},
        404: {"description": "No container with this SSCC was ever packed.", **_PROBLEM},
    },
)
def export_container_history(sscc: str, services: ServicesDep) -> Response:
    """A case's or pallet's on-chain history as GS1 EPCIS 2.0 events."""
    document = export_container(
        services.registry, sscc, store=services.store, created_at=services.clock()
    )
    return Response(json.dumps(document), media_type=JSON_LD)


# ───────────── capture ─────────────


class CapturedEventOut(BaseModel):
    index: int = Field(description="The event's place in the captured document (from 0).")
    event_id: str = Field(
        serialization_alias="eventID",
        description="The event's CBV 2.0 event hash ID, recorded on chain (for an "
        "ObjectEvent; the store keeps it for an AggregationEvent).",
    )
    item_id: str = Field(description="The item, or for a case or pallet its container id.")
    step: str = Field(
        description="The step applied (commissioning, shipping, …, packing, unpacking)."
    )
    operation_id: str = Field(
        description="The outbox operation that applies it (one for all the children of an "
        "AggregationEvent)."
    )
    status: OpStatus
    tx_hash: str | None = None
    error: dict[str, Any] | None = Field(
        default=None, description="Why the chain refused it, for a failed operation."
    )


class RefusalOut(BaseModel):
    index: int | None = Field(description="The event's place in the document; null = all.")
    event_id: str | None = Field(serialization_alias="eventID")
    reason: str


class CaptureJob(BaseModel):
    """A capture job, shaped like the EPCIS 2.0 REST binding's."""

    capture_id: str = Field(serialization_alias="captureID")
    created_at: datetime = Field(serialization_alias="createdAt")
    capture_error_behaviour: Literal["rollback", "proceed"] = Field(
        default="rollback", serialization_alias="captureErrorBehaviour"
    )
    running: bool = Field(description="Some operations are not confirmed or failed yet.")
    success: bool = Field(description="Every operation is confirmed (so far, while running).")
    location: str = Field(description="Where to follow the capture.")
    events: list[CapturedEventOut]
    errors: list[RefusalOut] = Field(
        default_factory=list,
        description="Events refused at capture (with `proceed`), and operations that failed.",
    )


ErrorBehaviour = Annotated[
    Literal["rollback", "proceed"],
    Header(
        alias="GS1-Capture-Error-Behaviour",
        description="`rollback` (default): one refused event refuses the whole document. "
        "`proceed`: apply the events that can be applied and list the others.",
    ),
]


@router.post(
    "/capture",
    status_code=202,
    response_model=CaptureJob,
    responses={
        401: {"description": "No valid API key.", **_PROBLEM},
        403: {"description": "Not a brand or custodian key, or no sending account.", **_PROBLEM},
        422: {
            "description": "The document is invalid or an event cannot be applied: "
            "`data.errors` lists each with its index and reason. Nothing was recorded.",
            **_PROBLEM,
        },
    },
)
def capture(
    document: Annotated[
        dict[str, Any],
        Body(
            description="An EPCIS 2.0 JSON-LD `EPCISDocument` "
            "(`application/ld+json` or `application/json`)."
        ),
    ],
    caller: CallerDep,
    services: ServicesDep,
    response: Response,
    error_behaviour: ErrorBehaviour = "rollback",
) -> CaptureJob:
    """Apply the supported events of an EPCIS document through the outbox."""
    require_role(caller, "capture EPCIS events", Role.BRAND, Role.CUSTODIAN)
    actor = _actor(services, caller)
    problems = _document_problems(document, services)
    if problems:
        raise CaptureRejected([Refusal(None, None, p).as_json() for p in problems])
    captures = Captures(services.engine, services.clock)
    plan = _plan(document, services, actor, captures)
    if plan.refusals and (error_behaviour == "rollback" or not plan.steps):
        raise CaptureRejected([r.as_json() for r in plan.refusals])
    # The codes first: knowing which code an item id hashes from changes nothing recorded.
    Store(services.engine).record_codes(plan.codes())
    Containers(services.engine).record(plan.ssccs())
    recorded = captures.record(caller.org_id, plan.steps, plan.context, _outbox(services))
    job = _job(recorded, error_behaviour, plan.refusals)
    response.headers["Location"] = job.location
    return job


@router.get(
    "/capture/{capture_id}",
    response_model=CaptureJob,
    responses={404: {"description": "No capture of the caller's with this id.", **_PROBLEM}},
)
def capture_job(capture_id: str, caller: CallerDep, services: ServicesDep) -> CaptureJob:
    """Where a capture stands: each event's operation and transaction."""
    return _job(Captures(services.engine).get(caller.org_id, capture_id), None, [])


def _actor(services: Services, caller: Principal) -> str:
    accounts = Senders(services.engine).addresses(caller.org_id)
    if not accounts:
        raise Forbidden(
            "capture EPCIS events",
            f"{caller.name} has no sending account yet; the service operator assigns one",
        )
    return accounts[0]


def _document_problems(document: dict[str, Any], services: Services) -> list[str]:
    problems: list[str] = []
    if document.get("type") != "EPCISDocument":
        problems.append(f"type: must be 'EPCISDocument', not {document.get('type')!r}")
    body = document.get("epcisBody")
    if not isinstance(body, dict) or not isinstance(body.get("eventList"), list):
        problems.append("epcisBody/eventList: the document must hold a list of events")
    elif not body["eventList"]:
        problems.append("epcisBody/eventList: the document holds no events")
    if services.epcis_schema is not None:
        problems.extend(schema_problems(document, services.epcis_schema))
    return problems


def _plan(
    document: dict[str, Any], services: Services, actor: str, captures: Captures
) -> CapturePlan:
    sites = SignalStore(services.engine)

    def site_of_gln(gln: str) -> str | None:
        site = sites.site_by_gln(gln)
        return None if site is None else site.address

    view = RegistryCaptureView(services.registry, site_of_gln)
    return plan_capture(
        document,
        view,
        actor=actor,
        chain_id=services.registry.chain_id,
        already_captured=captures.capture_of,
    )


def _outbox(services: Services) -> Outbox:
    return Outbox(services.engine, services.clock)


def _job(
    recorded: CaptureRead,
    behaviour: Literal["rollback", "proceed"] | None,
    refusals: list[Refusal],
) -> CaptureJob:
    events = [
        CapturedEventOut(
            index=e.event_index,
            event_id=e.event["eventID"],
            item_id=e.item_id,
            step=e.step,
            operation_id=e.operation.id,
            status=e.operation.status,
            tx_hash=e.operation.tx_hash,
            error=e.operation.error,
        )
        for e in recorded.events
    ]
    errors = [RefusalOut(index=r.index, event_id=r.event_id, reason=r.reason) for r in refusals]
    errors += [
        RefusalOut(
            index=e.index,
            event_id=e.event_id,
            reason=f"the chain refused {e.step} of item {e.item_id}: "
            f"{(e.error or {}).get('message', 'no reason given')}",
        )
        for e in events
        if e.status is OpStatus.FAILED
    ]
    running = any(e.status in (OpStatus.QUEUED, OpStatus.SUBMITTED) for e in events)
    return CaptureJob(
        capture_id=recorded.capture_id,
        created_at=recorded.captured_at,
        capture_error_behaviour=behaviour or "rollback",
        running=running,
        success=not running and not errors,
        location=f"/v1/epcis/capture/{recorded.capture_id}",
        events=events,
        errors=errors,
    )


# ───────────── query ─────────────


@router.get(
    "/events",
    response_class=Response,
    responses={
        200: {
            "content": {JSON_LD: {}},
            "description": "An `EPCISQueryDocument` of the matching events, oldest first. "
            'A `Link: <…>; rel="next"` header (and `nextPageToken`) continue it.',
        },
        422: {"description": "A parameter is malformed.", **_PROBLEM},
    },
)
def events(
    services: ServicesDep,
    request: Request,
    *,
    match_epc: Annotated[
        list[str] | None,
        Query(
            alias="MATCH_epc",
            description="Items, as Digital Links or SGTIN URNs (repeat or comma-separate).",
        ),
    ] = None,
    event_type: Annotated[
        str | None, Query(alias="eventType", description="Only `ObjectEvent` matches.")
    ] = None,
    eq_biz_step: Annotated[
        list[str] | None, Query(alias="EQ_bizStep", description="CBV business steps.")
    ] = None,
    eq_disposition: Annotated[
        list[str] | None, Query(alias="EQ_disposition", description="CBV dispositions.")
    ] = None,
    ge_event_time: Annotated[
        IsoDateTime | None, Query(alias="GE_eventTime", description="Events at or after.")
    ] = None,
    lt_event_time: Annotated[
        IsoDateTime | None, Query(alias="LT_eventTime", description="Events before.")
    ] = None,
    per_page: Annotated[int, Query(alias="perPage", ge=1, le=1000)] = 100,
    next_page_token: Annotated[str | None, Query(alias="nextPageToken")] = None,
) -> Response:
    """Events of items the ledger knows, filtered by EPC, step, disposition and time.

    Without ``MATCH_epc``, a time window (``GE_eventTime`` or ``LT_eventTime``) is required
    and the items are those with an indexed event in it whose codes the store knows.
    """
    query = EventQuery(
        epcs=_split(match_epc),
        event_type=event_type,
        biz_steps=_split(eq_biz_step),
        dispositions=_split(eq_disposition),
        since=ge_event_time,
        before=lt_event_time,
    )
    offset = _offset(next_page_token)
    document = query_events(
        services.registry,
        services.store,
        query,
        offset=offset,
        limit=per_page,
        created_at=services.clock(),
    )
    answer = Response(json.dumps(document.body), media_type=JSON_LD)
    if document.more:
        token = _token(offset + per_page)
        document.body["epcisBody"]["queryResults"]["nextPageToken"] = token
        answer = Response(json.dumps(document.body), media_type=JSON_LD)
        following = request.url.include_query_params(nextPageToken=token)
        answer.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return answer


def _split(values: list[str] | None) -> tuple[str, ...]:
    if not values:
        return ()
    return tuple(part for value in values for part in value.split(",") if part)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: str | None) -> int:
    if token is None:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError):
        raise InvalidRecord("query", "nextPageToken is not one this service issued") from None
    if not isinstance(offset, int) or offset < 0:
        raise InvalidRecord("query", "nextPageToken is not one this service issued")
    return offset
