"""ledger.alerts.publish: who receives an alert, which webhooks, exactly once per alert id."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event
from sqlmodel import col, select

from ledger.alerts import AlertKind, AlertSpec, publish, publish_many
from ledger.errors import InvalidRecord
from ledger.store.database import session
from ledger.store.market_models import WebhookDelivery
from ledger.store.orgs import Organisations, Role
from ledger.store.webhooks import Webhooks
from tests.ledger.test_alerts_delivery import T0

URL = "https://alerts.example.com/hook"


def org(engine: Engine, name: str, role: Role, brand_id: int | None = None) -> int:
    return Organisations(engine).create(name, role, brand_id=brand_id)[0].id


def hook(engine: Engine, org_id: int, kinds: list[AlertKind] | None = None) -> int:
    return Webhooks(engine).create(org_id, URL, kinds or list(AlertKind))[0].id


def queued(engine: Engine) -> list[tuple[int, str, str]]:
    """(webhook id, alert id, kind) of every delivery, in insertion order."""
    with session(engine) as db:
        rows = db.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))).all()
    return [(d.webhook_id, d.alert_id, d.kind) for d in rows]


def test_only_the_kinds_a_webhook_subscribed_to_are_queued_for_it(engine: Engine) -> None:
    market = org(engine, "Market", Role.MARKETPLACE)
    recalls = hook(engine, market, [AlertKind.RECALL])
    listings = hook(engine, market, [AlertKind.LISTING_BLOCKED, AlertKind.THEFT])
    recall = publish(engine, AlertKind.RECALL, data={}, org_ids=[market])
    theft = publish(engine, AlertKind.THEFT, data={}, org_ids=[market])
    publish(engine, AlertKind.CLONE_SIGNAL, data={}, org_ids=[market])

    assert queued(engine) == [(recalls, recall, "recall"), (listings, theft, "theft")]


def test_brand_alerts_go_to_the_brands_organisations_and_the_named_ones_only(
    engine: Engine,
) -> None:
    acme_a = hook(engine, org(engine, "Acme HQ", Role.BRAND, brand_id=1))
    acme_b = hook(engine, org(engine, "Acme Security", Role.BRAND, brand_id=1))
    hook(engine, org(engine, "Other Brand", Role.BRAND, brand_id=2))
    listing_market = hook(engine, market := org(engine, "Market One", Role.MARKETPLACE))
    hook(engine, org(engine, "Market Two", Role.MARKETPLACE))
    hook(engine, org(engine, "Retailer", Role.CUSTODIAN))

    alert = publish(engine, AlertKind.LISTING_BLOCKED, data={}, brand_id=1, org_ids=[market])

    assert sorted(queued(engine)) == sorted(
        (w, alert, "listing_blocked") for w in (acme_a, acme_b, listing_market)
    )


def test_an_organisation_named_twice_gets_one_delivery_per_webhook(engine: Engine) -> None:
    brand_org = org(engine, "Acme", Role.BRAND, brand_id=1)
    webhook = hook(engine, brand_org)
    alert = publish(engine, AlertKind.REPORT, data={}, brand_id=1, org_ids=[brand_org, brand_org])
    assert queued(engine) == [(webhook, alert, "report")]


def test_deleted_webhooks_and_unknown_recipients_get_nothing(engine: Engine) -> None:
    market = org(engine, "Market", Role.MARKETPLACE)
    Webhooks(engine).delete(market, hook(engine, market))
    publish(engine, AlertKind.RECALL, data={}, brand_id=7, org_ids=[market, 999])
    assert queued(engine) == []


def test_publishing_again_with_the_same_alert_id_is_a_no_op(engine: Engine) -> None:
    market = org(engine, "Market", Role.MARKETPLACE)
    webhook = hook(engine, market)
    first = publish(engine, AlertKind.THEFT, data={"n": 1}, org_ids=[market], alert_id="tx-1")
    again = publish(engine, AlertKind.THEFT, data={"n": 2}, org_ids=[market], alert_id="tx-1")
    in_one_batch = publish_many(
        engine, [AlertSpec(AlertKind.THEFT, {}, org_ids=(market,), alert_id="tx-2")] * 2
    )

    assert (first, again, in_one_batch) == ("tx-1", "tx-1", ["tx-2", "tx-2"])
    assert queued(engine) == [(webhook, "tx-1", "theft"), (webhook, "tx-2", "theft")]
    (delivery, _) = Webhooks(engine).deliveries(market, webhook)[::-1]
    assert delivery.payload["data"] == {"n": 1}  # the first one stands


def test_the_payload_is_id_kind_creation_time_and_data(engine: Engine) -> None:
    market = org(engine, "Market", Role.MARKETPLACE)
    hook(engine, market)
    data = {"item_id": "0x" + "ab" * 32, "gtin": "00614141123452", "serial": "S/1 é"}
    alert = publish(engine, AlertKind.RECALL, data=data, org_ids=[market], now=T0)

    with session(engine) as db:
        delivery = db.exec(select(WebhookDelivery)).one()
    assert json.loads(delivery.payload) == {
        "id": alert,
        "kind": "recall",
        "created_at": "2026-03-01T12:00:00+00:00",
        "data": data,
    }
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert len(alert) == 32
    assert int(alert, 16) >= 0


def test_alert_ids_default_to_fresh_random_ones(engine: Engine) -> None:
    ids = {publish(engine, AlertKind.REPORT, data={}) for _ in range(50)}
    assert len(ids) == 50


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": {"at": object()}}, "its data is not JSON"),
        ({"data": {"x": float("nan")}}, "its data is not JSON"),
        ({"data": {}, "alert_id": ""}, "its id must be 1 to 64 printable characters"),
        ({"data": {}, "alert_id": "x" * 65}, "its id must be 1 to 64 printable characters"),
        ({"data": {}, "alert_id": "a\nb"}, "its id must be 1 to 64 printable characters"),
    ],
)
def test_bad_alerts_are_refused_and_nothing_of_the_batch_is_queued(
    engine: Engine, kwargs: dict[str, Any], message: str
) -> None:
    market = org(engine, "Market", Role.MARKETPLACE)
    hook(engine, market)
    good = AlertSpec(AlertKind.RECALL, {}, org_ids=(market,))
    bad = AlertSpec(
        AlertKind.RECALL, kwargs["data"], org_ids=(market,), alert_id=kwargs.get("alert_id")
    )
    with pytest.raises(InvalidRecord, match=message):
        publish_many(engine, [good, bad])
    assert queued(engine) == []


def test_an_unknown_kind_is_refused(engine: Engine) -> None:
    with pytest.raises(InvalidRecord) as caught:
        publish(engine, "price_drop", data={})  # type: ignore[arg-type]
    assert str(caught.value) == "cannot record alert: 'price_drop' is not an alert kind"


def test_a_thousand_alerts_are_published_with_one_webhook_query_and_bulk_inserts(
    engine: Engine,
) -> None:
    brand_hooks = [hook(engine, org(engine, f"Acme {n}", Role.BRAND, brand_id=1)) for n in range(2)]
    market = org(engine, "Market", Role.MARKETPLACE)
    market_hook = hook(engine, market)
    alerts = [
        AlertSpec(AlertKind.LISTING_BLOCKED, {"listing": n}, brand_id=1, org_ids=(market,))
        for n in range(1000)
    ]
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split(maxsplit=1)[0].upper())

    event.listen(engine, "before_cursor_execute", count)
    try:
        ids = publish_many(engine, alerts)
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert len(set(ids)) == 1000
    assert statements.count("SELECT") == 2  # the brands' organisations, their webhooks
    assert statements.count("INSERT") <= 6
    rows = queued(engine)
    assert len(rows) == 3000
    assert {w for w, _, _ in rows} == {*brand_hooks, market_hook}


@settings(
    max_examples=40,
    deadline=None,  # each example makes several database round trips; timing is not tested
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    subscriptions=st.lists(
        st.sets(st.sampled_from(list(AlertKind)), min_size=1), min_size=1, max_size=4
    ),
    kinds=st.lists(st.sampled_from(list(AlertKind)), max_size=8),
)
def test_each_webhook_gets_exactly_the_alerts_of_its_kinds_once(
    engine: Engine, subscriptions: list[set[AlertKind]], kinds: list[AlertKind]
) -> None:
    # One store for every example: each gets its own organisation and alert ids.
    market = org(engine, f"Market {uuid.uuid4().hex}", Role.MARKETPLACE)
    hooks = {hook(engine, market, sorted(s)): s for s in subscriptions}
    specs = [
        AlertSpec(k, {}, org_ids=(market,), alert_id=f"{market}-{n}") for n, k in enumerate(kinds)
    ]
    publish_many(engine, specs)
    publish_many(engine, specs)
    expected = {
        (w, f"{market}-{n}", k.value)
        for n, k in enumerate(kinds)
        for w, subscribed in hooks.items()
        if k in subscribed
    }
    rows = [row for row in queued(engine) if row[0] in hooks]
    assert len(rows) == len(expected)
    assert set(rows) == expected
