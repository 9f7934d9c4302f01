"""Reports of suspected fakes: filing (checked field by field), who sees them, resolving.

The brands and their GS1 prefixes come from indexing the session's registry into the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from ledger.errors import Conflict, Forbidden, InvalidRecord, NotFound
from ledger.identifiers import check_digit, item_id
from ledger.indexer import Indexer
from ledger.registry import Registry
from ledger.store.database import session
from ledger.store.market_models import WebhookDelivery
from ledger.store.orgs import Organisations, Role
from ledger.store.reports import ReportIn, ReportKind, ReportRead, Reports, ReportStatus
from ledger.store.sellers import SellerCounts, Sellers
from ledger.store.webhooks import Webhooks
from tests.conftest import GTIN
from tests.ledger.test_store import store_engine

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OTHER_BRAND_GTIN = "00950600012345"[:13] + str(check_digit("00950600012345"[:13]))
"""A GTIN under brand 2's prefix (0950600)."""
UNKNOWN_GTIN = "0401234500001" + str(check_digit("0401234500001"))
"""A valid GTIN under a prefix no brand registered."""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path, deployed: Registry) -> Iterator[Engine]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with store_engine(request.param, tmp_path, url) as made:
        Indexer(deployed, made).sync()
        yield made


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def reports(engine: Engine, clock: Clock) -> Reports:
    return Reports(engine, clock=clock)


@pytest.fixture
def markets(engine: Engine) -> tuple[int, int]:
    """Two marketplaces; the first has seller S-1 (with one checked listing), the second S-2."""
    organisations = Organisations(engine)
    first = organisations.create("Market One", Role.MARKETPLACE)[0].id
    second = organisations.create("Market Two", Role.MARKETPLACE)[0].id
    sellers = Sellers(engine, clock=lambda: T0)
    sellers.add_counts(first, {"S-1": SellerCounts(1, 0, 0)})
    sellers.add_counts(second, {"S-2": SellerCounts(1, 0, 0)})
    return first, second


def consumer_report(**changes: object) -> ReportIn:
    fields: dict[str, object] = {"gtin": GTIN, "serial": "A1", "kind": "suspected_fake"}
    fields.update(changes)
    return ReportIn(**fields)  # type: ignore[arg-type]


# ───────────── filing ─────────────


def test_a_consumers_report_is_recorded_for_the_brand_of_the_gtin(reports: Reports) -> None:
    filed = reports.file(
        consumer_report(
            message="  Bought at a street market.  ", latitude=48.8566, longitude=2.3522
        )
    )

    assert filed == ReportRead(
        id=filed.id,
        item_id=item_id(GTIN, "A1").hex(),
        gtin=GTIN,
        serial="A1",
        brand_id=1,
        kind=ReportKind.SUSPECTED_FAKE,
        message="Bought at a street market.",
        latitude=48.9,
        longitude=2.4,
        reporter_org_id=None,
        listing_id=None,
        seller_id=None,
        status=ReportStatus.OPEN,
        created_at=T0,
        resolved_at=None,
        resolved_by_org_id=None,
    )
    assert reports.get(filed.id) == filed


def test_a_short_gtin_is_kept_in_its_14_digit_form(reports: Reports) -> None:
    assert reports.file(consumer_report(gtin=GTIN[1:])).gtin == GTIN


def test_a_report_under_an_unregistered_prefix_has_no_brand(reports: Reports) -> None:
    assert reports.file(consumer_report(gtin=UNKNOWN_GTIN)).brand_id is None


def test_a_marketplace_reports_its_own_listing_and_seller(
    reports: Reports, markets: tuple[int, int]
) -> None:
    first, _second = markets

    filed = reports.file(
        consumer_report(kind="listing", reporter_org_id=first, listing_id="L-1", seller_id="S-1")
    )

    assert (filed.reporter_org_id, filed.listing_id, filed.seller_id, filed.kind) == (
        first,
        "L-1",
        "S-1",
        ReportKind.LISTING,
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"gtin": "123"}, "invalid GTIN '123': must be 8, 12, 13 or 14 digits, got 3"),
        (
            {"serial": "A 1"},
            "invalid serial 'A 1': contains ' ' at position 2, outside GS1 character set 82",
        ),
        (
            {"kind": "fake"},
            "kind 'fake' is not one of suspected_fake, counterfeit_purchase, listing, other",
        ),
        (
            {"message": "x" * 2001},
            "its message has 2001 characters, at most 2000 are allowed",
        ),
        ({"latitude": 10.0}, "a place needs both latitude and longitude, or neither"),
        ({"latitude": 91.0, "longitude": 0.0}, "latitude 91.0 is not between -90 and 90"),
        ({"latitude": 0.0, "longitude": float("nan")}, "longitude nan is not between -180 and 180"),
        (
            {"seller_id": "S-1"},
            "only a marketplace, with its API key, names a listing or seller",
        ),
        (
            {"reporter_org_id": 1, "listing_id": "L\t1"},
            "listing id 'L\\t1' is not 1 to 128 printable characters",
        ),
    ],
)
def test_a_malformed_report_is_refused_saying_which_field(
    reports: Reports, changes: dict[str, object], reason: str
) -> None:
    with pytest.raises(InvalidRecord) as caught:
        reports.file(consumer_report(**changes))

    assert (caught.value.what, caught.value.reason) == ("report", reason)
    assert reports.all() == []


def test_a_marketplace_cannot_report_another_marketplaces_seller(
    reports: Reports, markets: tuple[int, int]
) -> None:
    first, _second = markets

    with pytest.raises(NotFound) as caught:
        reports.file(consumer_report(reporter_org_id=first, seller_id="S-2"))

    assert str(caught.value) == "no seller 'S-2'"
    assert reports.all() == []


# ───────────── who sees what ─────────────


def test_a_brand_sees_reports_about_its_items_newest_first(
    reports: Reports, markets: tuple[int, int], clock: Clock
) -> None:
    first, _second = markets
    older = reports.file(consumer_report(serial="A1"))
    clock.now = T0 + timedelta(minutes=1)
    other_brand = reports.file(consumer_report(gtin=OTHER_BRAND_GTIN))
    newer = reports.file(consumer_report(serial="A2", reporter_org_id=first))

    assert [r.id for r in reports.for_brand(1)] == [newer.id, older.id]
    assert [r.id for r in reports.for_brand(2)] == [other_brand.id]
    assert [r.id for r in reports.for_reporter(first)] == [newer.id]
    assert [r.id for r in reports.all()] == [newer.id, other_brand.id, older.id]
    assert [r.id for r in reports.for_brand(1, limit=1, offset=1)] == [older.id]


def test_reports_can_be_listed_by_status(reports: Reports) -> None:
    open_one = reports.file(consumer_report(serial="A1"))
    dismissed = reports.file(consumer_report(serial="A2"))
    reports.resolve(dismissed.id, 1, "dismissed", by_org_id=9)

    assert [r.id for r in reports.for_brand(1, "open")] == [open_one.id]
    assert [r.id for r in reports.for_brand(1, ReportStatus.DISMISSED)] == [dismissed.id]
    with pytest.raises(InvalidRecord) as caught:
        reports.for_brand(1, "closed")
    assert caught.value.reason == "status 'closed' is not one of open, confirmed, dismissed"


# ───────────── resolving ─────────────


def test_the_brand_confirms_a_report_once(reports: Reports, clock: Clock) -> None:
    filed = reports.file(consumer_report())
    clock.now = T0 + timedelta(hours=2)

    resolved = reports.resolve(filed.id, 1, "confirmed", by_org_id=5)

    assert (resolved.status, resolved.resolved_at, resolved.resolved_by_org_id) == (
        ReportStatus.CONFIRMED,
        T0 + timedelta(hours=2),
        5,
    )
    with pytest.raises(Conflict) as caught:
        reports.resolve(filed.id, 1, "dismissed", by_org_id=5)
    assert str(caught.value) == f"report {filed.id}: it was already confirmed by organisation 5"
    assert reports.get(filed.id) == resolved


def test_another_brand_may_not_resolve_a_report(reports: Reports) -> None:
    filed = reports.file(consumer_report())
    unbranded = reports.file(consumer_report(gtin=UNKNOWN_GTIN))

    with pytest.raises(Forbidden) as caught:
        reports.resolve(filed.id, 2, "dismissed", by_org_id=6)
    with pytest.raises(Forbidden) as caught_unbranded:
        reports.resolve(unbranded.id, 2, "dismissed", by_org_id=6)

    assert str(caught.value) == (
        f"not allowed to resolve report {filed.id}: it is about an item of brand 1, "
        "and only its brand resolves it"
    )
    assert caught_unbranded.value.reason == (
        "it is about an item of no registered brand, and only its brand resolves it"
    )
    assert reports.get(filed.id).status is ReportStatus.OPEN


def test_resolving_an_unknown_report_or_to_open_is_refused(reports: Reports) -> None:
    filed = reports.file(consumer_report())

    with pytest.raises(NotFound) as missing:
        reports.resolve(filed.id + 100, 1, "confirmed", by_org_id=5)
    with pytest.raises(InvalidRecord) as reopen:
        reports.resolve(filed.id, 1, "open", by_org_id=5)

    assert str(missing.value) == f"no report '{filed.id + 100}'"
    assert reopen.value.reason == "a report is resolved as confirmed or dismissed"


def test_confirming_a_marketplace_report_counts_against_its_seller(
    reports: Reports, markets: tuple[int, int], engine: Engine
) -> None:
    first, _second = markets
    sellers = Sellers(engine)
    confirmed = reports.file(consumer_report(serial="A1", reporter_org_id=first, seller_id="S-1"))
    dismissed = reports.file(consumer_report(serial="A2", reporter_org_id=first, seller_id="S-1"))

    reports.resolve(confirmed.id, 1, "confirmed", by_org_id=5)
    reports.resolve(dismissed.id, 1, "dismissed", by_org_id=5)

    assert sellers.get(first, "S-1").confirmed_reports == 1


def test_a_report_is_queued_as_an_alert_to_the_items_brand(
    reports: Reports, engine: Engine
) -> None:
    brand_org, _ = Organisations(engine).create("Brand One", Role.BRAND, brand_id=1)
    other_org, _ = Organisations(engine).create("Brand Two", Role.BRAND, brand_id=2)
    hook, _ = Webhooks(engine).create(brand_org.id, "https://brand.example/hook", ["report"])
    Webhooks(engine).create(other_org.id, "https://other.example/hook", ["report"])

    filed = reports.file(consumer_report(message="Logo is crooked"))

    with session(engine) as db:
        deliveries = db.exec(select(WebhookDelivery)).all()
    assert [(d.webhook_id, d.kind, d.alert_id) for d in deliveries] == [
        (hook.id, "report", f"report-{filed.id}")
    ]
    data = json.loads(deliveries[0].payload)["data"]
    assert (data["report_id"], data["reporter"], data["message"]) == (
        filed.id,
        "consumer",
        "Logo is crooked",
    )
