"""Organisations' webhooks and their delivery logs.

A webhook's secret (``whsec_`` + 43 random characters) is shown once, when it is made;
deliveries are signed with it (:mod:`ledger.alerts.signing`). Deleting a webhook disables
it and cancels its pending deliveries; its delivery log stays readable. An organisation
only ever sees its own webhooks: another's is answered as not found.
"""

from __future__ import annotations

import builtins
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ledger.alerts.destinations import check_recorded_host
from ledger.alerts.publish import AlertKind, parse_kinds
from ledger.errors import Conflict, InvalidRecord, NotFound
from ledger.store.database import session
from ledger.store.market_models import Webhook, WebhookAttempt, WebhookDelivery

__all__ = [
    "MAX_WEBHOOKS",
    "SECRET_PREFIX",
    "AttemptRead",
    "DeliveryRead",
    "WebhookRead",
    "Webhooks",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the public prefix, not a secret
MAX_WEBHOOKS = 20
"""Active webhooks one organisation may have."""
MAX_URL_LENGTH = 2000
MAX_DELIVERIES = 500
"""Most deliveries one request for the log may ask for."""


@dataclass(frozen=True)
class WebhookRead:
    id: int
    org_id: int
    url: str
    kinds: tuple[AlertKind, ...]
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True)
class AttemptRead:
    """One try at a delivery: the receiver's status, or why there was none."""

    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True)
class DeliveryRead:
    id: int
    alert_id: str
    kind: AlertKind
    status: str
    """``pending``, ``delivered``, ``failed`` (gave up) or ``cancelled`` (webhook deleted)."""
    attempts: int
    next_attempt_at: datetime | None
    """When the next try is due; None once delivered, failed or cancelled."""
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]
    log: tuple[AttemptRead, ...]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    # SQLite gives back naive datetimes (everything the store writes is UTC); PostgreSQL
    # gives them in the session's time zone.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Webhooks:
    """The webhooks in the store behind ``engine``. A URL whose host is a loopback, private
    or other non-public address is refused unless ``allow_private_destinations``."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = _utc_now,
        allow_private_destinations: bool = False,
    ) -> None:
        self.engine = engine
        self._clock = clock
        self.allow_private_destinations = allow_private_destinations

    def create(
        self, org_id: int, url: str, kinds: Iterable[AlertKind | str]
    ) -> tuple[WebhookRead, str]:
        """A new webhook and its signing secret (returned in clear, this once)."""
        url = _check_url(url)
        if not self.allow_private_destinations:
            check_recorded_host(url, str(urlsplit(url).hostname))
        chosen = parse_kinds(kinds)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        try:
            with session(self.engine) as db:
                active = db.exec(
                    select(func.count())
                    .select_from(Webhook)
                    .where(Webhook.org_id == org_id, col(Webhook.disabled_at).is_(None))
                ).one()
                if active >= MAX_WEBHOOKS:
                    raise Conflict(
                        f"organisation {org_id}",
                        f"it already has {MAX_WEBHOOKS} webhooks, the most allowed; "
                        "delete one first",
                    )
                webhook = Webhook(
                    org_id=org_id,
                    url=url,
                    secret=secret,
                    events=",".join(k.value for k in chosen),
                    created_at=self._clock(),
                )
                db.add(webhook)
                db.flush()
        except IntegrityError:
            raise NotFound("organisation", str(org_id)) from None
        return _read(webhook), secret

    def list(self, org_id: int, *, include_deleted: bool = False) -> builtins.list[WebhookRead]:
        """The organisation's webhooks, oldest first."""
        query = select(Webhook).where(Webhook.org_id == org_id)
        if not include_deleted:
            query = query.where(col(Webhook.disabled_at).is_(None))
        with session(self.engine) as db:
            return [_read(w) for w in db.exec(query.order_by(col(Webhook.id)))]

    def get(self, org_id: int, webhook_id: int) -> WebhookRead:
        """One of the organisation's webhooks (deleted ones too); NotFound otherwise."""
        with session(self.engine) as db:
            return _read(_owned(db, org_id, webhook_id))

    def delete(self, org_id: int, webhook_id: int) -> None:
        """Disable the webhook and cancel its pending deliveries."""
        with session(self.engine) as db:
            webhook = _owned(db, org_id, webhook_id)
            if webhook.disabled_at is not None:
                raise NotFound("webhook", str(webhook_id))
            webhook.disabled_at = self._clock()
            db.add(webhook)
            db.exec(
                update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.webhook_id) == webhook_id,
                    col(WebhookDelivery.status) == "pending",
                )
                .values(status="cancelled")
            )

    def deliveries(
        self, org_id: int, webhook_id: int, limit: int = 50
    ) -> builtins.list[DeliveryRead]:
        """The webhook's latest deliveries, newest first, each with every attempt at it."""
        if not 1 <= limit <= MAX_DELIVERIES:
            raise InvalidRecord("delivery log request", f"limit must be 1 to {MAX_DELIVERIES}")
        with session(self.engine) as db:
            _owned(db, org_id, webhook_id)
            deliveries = db.exec(
                select(WebhookDelivery)
                .where(WebhookDelivery.webhook_id == webhook_id)
                .order_by(col(WebhookDelivery.id).desc())
                .limit(limit)
            ).all()
            attempts = db.exec(
                select(WebhookAttempt)
                .where(col(WebhookAttempt.delivery_id).in_([d.id for d in deliveries]))
                .order_by(col(WebhookAttempt.id))
            ).all()
        log: dict[int, builtins.list[AttemptRead]] = {}
        for a in attempts:
            log.setdefault(a.delivery_id, []).append(
                AttemptRead(_utc(a.attempted_at), a.status_code, a.error, a.duration_ms)
            )
        return [_delivery(d, tuple(log.get(d.id or 0, ()))) for d in deliveries]


def _owned(db: Session, org_id: int, webhook_id: int) -> Webhook:
    webhook = db.get(Webhook, webhook_id)
    if webhook is None or webhook.org_id != org_id:
        raise NotFound("webhook", str(webhook_id))
    return webhook


def _check_url(url: str) -> str:
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise InvalidRecord("webhook", f"its URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise InvalidRecord("webhook", f"URL {url!r} is malformed: {exc}") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidRecord(
            "webhook", f"URL {url!r} must be an absolute http:// or https:// URL with a host"
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidRecord(
            "webhook", "its URL must not hold credentials; deliveries are signed instead"
        )
    if parts.fragment or any(c.isspace() for c in url):
        raise InvalidRecord("webhook", f"URL {url!r} must have no fragment and no spaces")
    return url


def _read(webhook: Webhook) -> WebhookRead:
    assert webhook.id is not None
    return WebhookRead(
        id=webhook.id,
        org_id=webhook.org_id,
        url=webhook.url,
        kinds=parse_kinds(webhook.events.split(",")),
        created_at=_utc(webhook.created_at),
        disabled_at=None if webhook.disabled_at is None else _utc(webhook.disabled_at),
    )


def _delivery(row: WebhookDelivery, log: tuple[AttemptRead, ...]) -> DeliveryRead:
    assert row.id is not None
    payload: dict[str, Any] = json.loads(row.payload)
    return DeliveryRead(
        id=row.id,
        alert_id=row.alert_id,
        kind=AlertKind(row.kind),
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=_utc(row.next_attempt_at) if row.status == "pending" else None,
        created_at=_utc(row.created_at),
        delivered_at=None if row.delivered_at is None else _utc(row.delivered_at),
        payload=payload,
        log=log,
    )
