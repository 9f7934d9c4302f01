"""Publishing an alert: one ``WebhookDelivery`` per subscribed webhook of every recipient.

Recipients are the organisations speaking for the alert's brand plus any organisation named
(the marketplace whose listing was blocked, marketplaces listing the item). Publishing only
queues deliveries; :class:`ledger.alerts.delivery.DeliveryWorker` sends them.

An alert id names one alert across every webhook it goes to. The pair (webhook, alert id)
is unique and a second insert of it is skipped, so a caller that derives the id from what
it alerts on (a chain event, a listing decision) can publish again without sending twice.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from ledger.errors import InvalidRecord
from ledger.store.database import session
from ledger.store.market_models import Organisation, Webhook, WebhookDelivery

__all__ = [
    "ALERT_ID_LENGTH",
    "AlertKind",
    "AlertSpec",
    "parse_kinds",
    "publish",
    "publish_in",
    "publish_many",
]

ALERT_ID_LENGTH = 64
_ROWS_PER_INSERT = 500
"""Rows per INSERT statement: 8 columns each stays far below SQLite's bound-parameter limit."""
_IDS_PER_QUERY = 900


class AlertKind(enum.StrEnum):
    """What an alert is about; webhooks subscribe to kinds."""

    RECALL = "recall"
    THEFT = "theft"
    CLONE_SIGNAL = "clone_signal"
    LISTING_BLOCKED = "listing_blocked"
    REPORT = "report"


_KIND_NAMES = frozenset(k.value for k in AlertKind)


def parse_kinds(values: Iterable[str]) -> tuple[AlertKind, ...]:
    """Alert kinds from their names, deduplicated, in declaration order; InvalidRecord for
    an unknown one or none at all."""
    chosen: set[AlertKind] = set()
    for value in values:
        try:
            chosen.add(AlertKind(value))
        except ValueError:
            known = ", ".join(k.value for k in AlertKind)
            raise InvalidRecord("webhook", f"alert kind {value!r} is not one of {known}") from None
    if not chosen:
        raise InvalidRecord("webhook", "it must subscribe to at least one alert kind")
    return tuple(k for k in AlertKind if k in chosen)


@dataclass(frozen=True)
class AlertSpec:
    """One alert to publish with :func:`publish_many`."""

    kind: AlertKind
    data: Mapping[str, Any]
    brand_id: int | None = None
    """The brand whose organisations receive it."""
    org_ids: tuple[int, ...] = field(default=())
    """Further organisations that receive it."""
    alert_id: str | None = None
    """Deterministic ids make publishing idempotent; default: a random one."""


def publish(
    engine: Engine,
    kind: AlertKind,
    *,
    data: dict[str, Any],
    brand_id: int | None = None,
    org_ids: Iterable[int] = (),
    alert_id: str | None = None,
    now: datetime | None = None,
) -> str:
    """Queue one alert for every subscribed webhook of its recipients; returns its id."""
    spec = AlertSpec(kind, data, brand_id, tuple(org_ids), alert_id)
    return publish_many(engine, [spec], now=now)[0]


def publish_many(
    engine: Engine, alerts: Sequence[AlertSpec], *, now: datetime | None = None
) -> list[str]:
    """Queue many alerts in one transaction; returns their ids in order."""
    with session(engine) as db:
        return publish_in(db, alerts, now=now)


def publish_in(
    db: Session, alerts: Sequence[AlertSpec], *, now: datetime | None = None
) -> list[str]:
    """:func:`publish_many` inside the caller's transaction (to commit with other writes)."""
    created = (now or datetime.now(UTC)).astimezone(UTC)
    prepared = [_prepare(spec, created) for spec in alerts]
    brand_orgs = _brand_orgs(db, {s.brand_id for s in alerts if s.brand_id is not None})
    recipients = [
        {*brand_orgs.get(spec.brand_id, ()), *spec.org_ids}
        if spec.brand_id is not None
        else set(spec.org_ids)
        for spec in alerts
    ]
    webhooks = _active_webhooks(db, set().union(*recipients) if recipients else set())
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for (alert_id, kind, payload), orgs in zip(prepared, recipients, strict=True):
        for org_id in orgs:
            for webhook_id, kinds in webhooks.get(org_id, ()):
                if kind in kinds:
                    rows[webhook_id, alert_id] = {
                        "webhook_id": webhook_id,
                        "alert_id": alert_id,
                        "kind": kind.value,
                        "payload": payload,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": created,
                        "created_at": created,
                    }
    _insert_new(db, list(rows.values()))
    return [alert_id for alert_id, _, _ in prepared]


def _prepare(spec: AlertSpec, created: datetime) -> tuple[str, AlertKind, str]:
    try:
        kind = AlertKind(spec.kind)
    except ValueError:
        raise InvalidRecord("alert", f"{spec.kind!r} is not an alert kind") from None
    alert_id = spec.alert_id if spec.alert_id is not None else uuid.uuid4().hex
    if not alert_id or len(alert_id) > ALERT_ID_LENGTH or not alert_id.isprintable():
        raise InvalidRecord(
            f"alert {alert_id!r}", f"its id must be 1 to {ALERT_ID_LENGTH} printable characters"
        )
    body = {
        "id": alert_id,
        "kind": kind.value,
        "created_at": created.isoformat(),
        "data": spec.data,
    }
    try:
        payload = json.dumps(body, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"alert {alert_id}", f"its data is not JSON: {exc}") from None
    return alert_id, kind, payload


def _brand_orgs(db: Session, brand_ids: set[int]) -> dict[int, list[int]]:
    orgs: dict[int, list[int]] = {}
    ids = sorted(brand_ids)
    for start in range(0, len(ids), _IDS_PER_QUERY):
        rows = db.exec(
            select(Organisation.brand_id, Organisation.id).where(
                Organisation.role == "brand",
                col(Organisation.brand_id).in_(ids[start : start + _IDS_PER_QUERY]),
            )
        )
        for brand_id, org_id in rows:
            if brand_id is not None and org_id is not None:
                orgs.setdefault(brand_id, []).append(org_id)
    return orgs


def _active_webhooks(
    db: Session, org_ids: set[int]
) -> dict[int, list[tuple[int, frozenset[AlertKind]]]]:
    hooks: dict[int, list[tuple[int, frozenset[AlertKind]]]] = {}
    ids = sorted(org_ids)
    for start in range(0, len(ids), _IDS_PER_QUERY):
        rows = db.exec(
            select(Webhook.org_id, Webhook.id, Webhook.events).where(
                col(Webhook.org_id).in_(ids[start : start + _IDS_PER_QUERY]),
                col(Webhook.disabled_at).is_(None),
            )
        )
        for org_id, webhook_id, events in rows:
            assert webhook_id is not None
            kinds = frozenset(AlertKind(e) for e in events.split(",") if e in _KIND_NAMES)
            hooks.setdefault(org_id, []).append((webhook_id, kinds))
    return hooks


def _insert_new(db: Session, rows: list[dict[str, Any]]) -> None:
    """Insert deliveries, skipping any (webhook, alert) already queued (by anyone)."""
    if not rows:
        return
    dialect = db.get_bind().dialect.name
    table = WebhookDelivery.__table__  # type: ignore[attr-defined]
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        if dialect == "postgresql":
            statement: Any = postgresql.insert(table).on_conflict_do_nothing(
                index_elements=["webhook_id", "alert_id"]
            )
        else:
            statement = sqlite.insert(table).on_conflict_do_nothing(
                index_elements=["webhook_id", "alert_id"]
            )
        db.exec(statement, params=chunk)
