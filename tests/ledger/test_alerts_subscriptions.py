"""ledger.store.webhooks: subscriptions are validated, private to their organisation, and
deleting one disables it while its delivery log stays."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger.alerts import AlertKind, publish
from ledger.errors import Conflict, InvalidRecord, NotFound
from ledger.store.orgs import Organisations, Role
from ledger.store.webhooks import MAX_WEBHOOKS, SECRET_PREFIX, Webhooks
from tests.ledger.test_alerts_delivery import T0, Clock, migrated_engine

URL = "https://alerts.example.com/hook"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = migrated_engine(tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture
def webhooks(engine: Engine) -> Webhooks:
    return Webhooks(engine, clock=Clock())


@pytest.fixture
def market(engine: Engine) -> int:
    return Organisations(engine).create("Market", Role.MARKETPLACE)[0].id


@pytest.fixture
def other(engine: Engine) -> int:
    return Organisations(engine).create("Other Market", Role.MARKETPLACE)[0].id


def test_create_returns_the_webhook_and_a_fresh_secret_once(
    webhooks: Webhooks, market: int
) -> None:
    webhook, secret = webhooks.create(market, URL, ["theft", AlertKind.RECALL, "theft"])
    _, another = webhooks.create(market, URL, ["recall"])

    assert (webhook.org_id, webhook.url, webhook.created_at) == (market, URL, T0)
    assert webhook.kinds == (AlertKind.RECALL, AlertKind.THEFT)
    assert webhook.disabled_at is None
    assert secret.startswith(SECRET_PREFIX)
    assert len(secret) == len(SECRET_PREFIX) + 43
    assert another != secret
    assert webhooks.list(market) == [webhook, webhooks.get(market, webhook.id + 1)]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://alerts.example.com/x", "must be an absolute http:// or https:// URL with a host"),
        ("/relative/hook", "must be an absolute http:// or https:// URL with a host"),
        ("https://", "must be an absolute http:// or https:// URL with a host"),
        ("javascript:alert(1)", "must be an absolute http:// or https:// URL with a host"),
        ("https://user:pw@example.com/", "its URL must not hold credentials"),
        ("https://example.com:port/", "is malformed: Port could not be cast to integer"),
        ("https://example.com/a b", "must have no fragment and no spaces"),
        ("https://example.com/#frag", "must have no fragment and no spaces"),
        ("https://example.com/" + "a" * 2000, "its URL is longer than 2000 characters"),
    ],
)
def test_a_url_that_cannot_receive_alerts_is_refused(
    webhooks: Webhooks, market: int, url: str, reason: str
) -> None:
    with pytest.raises(InvalidRecord) as caught:
        webhooks.create(market, url, ["recall"])
    assert caught.value.what == "webhook"
    assert reason in caught.value.reason
    assert webhooks.list(market) == []


def test_unknown_or_no_kinds_are_refused(webhooks: Webhooks, market: int) -> None:
    with pytest.raises(InvalidRecord) as caught:
        webhooks.create(market, URL, ["recall", "price_drop"])
    assert str(caught.value) == (
        "cannot record webhook: alert kind 'price_drop' is not one of recall, theft, "
        "clone_signal, listing_blocked, report"
    )
    with pytest.raises(InvalidRecord, match="at least one alert kind"):
        webhooks.create(market, URL, [])


def test_an_organisation_has_at_most_a_bounded_number_of_active_webhooks(
    webhooks: Webhooks, market: int
) -> None:
    made = [webhooks.create(market, URL, ["recall"])[0] for _ in range(MAX_WEBHOOKS)]
    with pytest.raises(Conflict) as caught:
        webhooks.create(market, URL, ["recall"])
    assert caught.value.reason == (
        f"it already has {MAX_WEBHOOKS} webhooks, the most allowed; delete one first"
    )
    webhooks.delete(market, made[0].id)
    webhooks.create(market, URL, ["recall"])


def test_a_webhook_for_an_unknown_organisation_is_not_found(webhooks: Webhooks) -> None:
    with pytest.raises(NotFound) as caught:
        webhooks.create(404, URL, ["recall"])
    assert (caught.value.what, caught.value.key) == ("organisation", "404")


def test_another_organisations_webhook_is_not_found_for_anything(
    webhooks: Webhooks, market: int, other: int
) -> None:
    webhook, _ = webhooks.create(market, URL, ["recall"])
    for attempt in (
        lambda: webhooks.get(other, webhook.id),
        lambda: webhooks.delete(other, webhook.id),
        lambda: webhooks.deliveries(other, webhook.id),
    ):
        with pytest.raises(NotFound) as caught:
            attempt()
        assert str(caught.value) == f"no webhook '{webhook.id}'"
    assert webhooks.list(other) == []
    assert webhooks.get(market, webhook.id).disabled_at is None


def test_delete_disables_the_webhook_and_keeps_its_log(
    engine: Engine, webhooks: Webhooks, market: int
) -> None:
    webhook, _ = webhooks.create(market, URL, ["recall"])
    alert = publish(engine, AlertKind.RECALL, data={}, org_ids=[market], now=T0)
    webhooks.delete(market, webhook.id)

    assert webhooks.list(market) == []
    assert webhooks.list(market, include_deleted=True)[0].disabled_at == T0
    (delivery,) = webhooks.deliveries(market, webhook.id)
    assert (delivery.alert_id, delivery.status, delivery.next_attempt_at) == (
        alert,
        "cancelled",
        None,
    )
    with pytest.raises(NotFound):
        webhooks.delete(market, webhook.id)


def test_the_log_lists_the_latest_deliveries_first_up_to_the_limit(
    engine: Engine, webhooks: Webhooks, market: int
) -> None:
    webhook, _ = webhooks.create(market, URL, ["report"])
    ids = [
        publish(engine, AlertKind.REPORT, data={"n": n}, org_ids=[market], now=T0) for n in range(5)
    ]
    log = webhooks.deliveries(market, webhook.id, limit=3)
    assert [d.alert_id for d in log] == ids[:1:-1]
    assert [(d.status, d.attempts, d.log, d.next_attempt_at) for d in log] == [
        ("pending", 0, (), T0)
    ] * 3
    for limit in (0, 501):
        with pytest.raises(InvalidRecord, match="limit must be 1 to 500"):
            webhooks.deliveries(market, webhook.id, limit=limit)
