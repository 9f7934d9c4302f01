"""``/v1/webhooks``: an organisation subscribes URLs to alerts and reads their delivery log.

Any organisation's key may manage its own webhooks; another organisation's are answered as
not found, so their existence does not leak.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.auth import CallerDep
from api.routes import RowId
from api.services import ServicesDep
from ledger.alerts.publish import AlertKind
from ledger.alerts.signing import SIGNATURE_HEADER
from ledger.store.webhooks import DeliveryRead, WebhookRead, Webhooks

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

_KINDS = ", ".join(f"`{k.value}`" for k in AlertKind)


class WebhookCreate(BaseModel):
    url: str = Field(
        description="Where alerts are POSTed: an absolute http(s) URL, no credentials in it.",
        examples=["https://alerts.example.com/veritag"],
    )
    kinds: list[str] = Field(
        description=f"The alert kinds to receive, at least one of {_KINDS}.",
        examples=[["recall", "theft", "listing_blocked"]],
    )


class WebhookPublic(BaseModel):
    id: int = Field(description="The webhook's id.")
    url: str = Field(description="Where alerts are POSTed.")
    kinds: list[AlertKind] = Field(description="The alert kinds it receives.")
    created_at: datetime
    deleted_at: datetime | None = Field(
        description="When it was deleted (it then receives nothing); null while active."
    )


class WebhookCreated(WebhookPublic):
    secret: str = Field(
        description=f"The key of the HMAC-SHA256 in each delivery's `{SIGNATURE_HEADER}` "
        "header (`t=<unix time>,v1=<hex HMAC of '<t>.' + body>`). Shown only this once."
    )


class AttemptPublic(BaseModel):
    attempted_at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status, if it answered.")
    error: str | None = Field(
        description="Why the attempt failed without a usable answer (refused, timed out, "
        "redirected)."
    )
    duration_ms: int = Field(description="How long the attempt took.")


class DeliveryPublic(BaseModel):
    id: int
    alert_id: str = Field(description="The alert's id, also sent as `Veritag-Alert-Id`.")
    kind: AlertKind
    status: str = Field(
        description="`pending`, `delivered`, `failed` (gave up after the last retry) or "
        "`cancelled` (the webhook was deleted)."
    )
    attempts: int = Field(description="Attempts made so far.")
    next_attempt_at: datetime | None = Field(description="When the next try is due, if any.")
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="The JSON body that is POSTed.")
    log: list[AttemptPublic] = Field(description="Every attempt, oldest first.")


def _webhooks(services: ServicesDep) -> Webhooks:
    return Webhooks(
        services.engine,
        clock=services.clock,
        allow_private_destinations=services.webhook_private_destinations,
    )


def _public(webhook: WebhookRead) -> WebhookPublic:
    return WebhookPublic(
        id=webhook.id,
        url=webhook.url,
        kinds=list(webhook.kinds),
        created_at=webhook.created_at,
        deleted_at=webhook.disabled_at,
    )


def _delivery(delivery: DeliveryRead) -> DeliveryPublic:
    return DeliveryPublic(
        id=delivery.id,
        alert_id=delivery.alert_id,
        kind=delivery.kind,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
        payload=delivery.payload,
        log=[
            AttemptPublic(
                attempted_at=a.attempted_at,
                status_code=a.status_code,
                error=a.error,
                duration_ms=a.duration_ms,
            )
            for a in delivery.log
        ],
    )


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    summary="Subscribe a URL to alerts",
    description="Answers with the signing secret, which is not shown again.",
)
def create_webhook(
    body: WebhookCreate, caller: CallerDep, services: ServicesDep, response: Response
) -> WebhookCreated:
    webhook, secret = _webhooks(services).create(caller.org_id, body.url, body.kinds)
    response.headers["Location"] = f"/v1/webhooks/{webhook.id}"
    return WebhookCreated(**_public(webhook).model_dump(), secret=secret)


@router.get("", response_model=list[WebhookPublic], summary="The caller's active webhooks")
def list_webhooks(caller: CallerDep, services: ServicesDep) -> list[WebhookPublic]:
    return [_public(w) for w in _webhooks(services).list(caller.org_id)]


@router.get("/{webhook_id}", response_model=WebhookPublic, summary="One of the caller's webhooks")
def get_webhook(webhook_id: RowId, caller: CallerDep, services: ServicesDep) -> WebhookPublic:
    return _public(_webhooks(services).get(caller.org_id, webhook_id))


@router.delete(
    "/{webhook_id}",
    status_code=204,
    summary="Delete a webhook",
    description="It receives nothing more; its pending deliveries are cancelled and its "
    "delivery log stays readable.",
)
def delete_webhook(webhook_id: RowId, caller: CallerDep, services: ServicesDep) -> Response:
    _webhooks(services).delete(caller.org_id, webhook_id)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=list[DeliveryPublic],
    summary="The webhook's delivery log",
    description="Its latest deliveries, newest first, each with every attempt at it.",
)
def list_deliveries(
    webhook_id: RowId,
    caller: CallerDep,
    services: ServicesDep,
    limit: Annotated[int, Query(description="How many deliveries, 1 to 500.")] = 50,
) -> list[DeliveryPublic]:
    deliveries = _webhooks(services).deliveries(caller.org_id, webhook_id, limit)
    return [_delivery(d) for d in deliveries]
