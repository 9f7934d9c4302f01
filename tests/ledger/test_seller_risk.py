"""ledger.detect.seller_risk: each factor, its points and message, the levels, and that more
evidence against a seller never lowers its score."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.detect import RiskFactor, RiskRules, SellerStats, seller_risk

NEW = SellerStats(
    listings_checked=0,
    listings_blocked=0,
    never_held=0,
    confirmed_reports=0,
    listings_last_hour=0,
    listings_last_day=0,
)


def factor(stats: SellerStats, code: str) -> RiskFactor:
    return next(f for f in seller_risk(stats).factors if f.code == code)


def test_a_new_seller_is_low_risk_with_every_factor_explained_at_zero() -> None:
    risk = seller_risk(NEW)

    assert (risk.score, risk.level, risk.risky) == (0.0, "low", False)
    assert risk.factors == (
        RiskFactor(
            "blocked_share",
            "0 of 0 listings blocked (0%): too few checks to judge (scored from 10)",
            0.0,
            0.0,
        ),
        RiskFactor(
            "listing_velocity",
            "0 listings in the last hour (usual up to 20) and 0 in the last day (usual up to 200)",
            0.0,
            0.0,
        ),
        RiskFactor(
            "never_held",
            "0 listed registered items that none of its addresses ever held on chain",
            0.0,
            0.0,
        ),
        RiskFactor("confirmed_reports", "0 confirmed reports of fakes against it", 0.0, 0.0),
    )


def test_blocked_share_counts_once_there_are_enough_checks() -> None:
    blocked = factor(
        dataclasses.replace(NEW, listings_checked=40, listings_blocked=12), "blocked_share"
    )

    assert blocked == RiskFactor("blocked_share", "12 of 40 listings blocked (30%)", 0.3, 24.0)


def test_blocked_share_of_few_checks_is_not_scored() -> None:
    blocked = factor(
        dataclasses.replace(NEW, listings_checked=5, listings_blocked=5), "blocked_share"
    )

    assert blocked.points == 0.0
    assert blocked.value == 1.0
    assert blocked.message == (
        "5 of 5 listings blocked (100%): too few checks to judge (scored from 10)"
    )


def test_blocked_share_points_stop_at_half_blocked() -> None:
    half = dataclasses.replace(NEW, listings_checked=20, listings_blocked=10)
    all_blocked = dataclasses.replace(NEW, listings_checked=20, listings_blocked=20)

    assert factor(half, "blocked_share").points == 40.0
    assert factor(all_blocked, "blocked_share").points == 40.0


@pytest.mark.parametrize(
    ("hour", "day", "points"),
    [(20, 200, 0.0), (30, 30, 12.5), (40, 40, 25.0), (100, 100, 25.0), (0, 300, 12.5)],
)
def test_listing_velocity_grows_from_the_threshold_to_twice_it(
    hour: int, day: int, points: float
) -> None:
    stats = dataclasses.replace(NEW, listings_last_hour=hour, listings_last_day=day)

    assert factor(stats, "listing_velocity").points == points


def test_listing_velocity_message_says_the_numbers() -> None:
    stats = dataclasses.replace(NEW, listings_last_hour=1, listings_last_day=250)

    assert factor(stats, "listing_velocity").message == (
        "1 listing in the last hour (usual up to 20) and 250 in the last day (usual up to 200)"
    )


def test_items_never_held_cost_ten_points_each_up_to_forty() -> None:
    three = factor(dataclasses.replace(NEW, never_held=3), "never_held")
    many = factor(dataclasses.replace(NEW, never_held=9), "never_held")

    assert three == RiskFactor(
        "never_held",
        "3 listed registered items that none of its addresses ever held on chain",
        3.0,
        30.0,
    )
    assert many.points == 40.0


@pytest.mark.parametrize(
    ("reports", "score", "level"), [(1, 20.0, "low"), (2, 40.0, "medium"), (3, 60.0, "high")]
)
def test_confirmed_reports_move_the_level(reports: int, score: float, level: str) -> None:
    risk = seller_risk(dataclasses.replace(NEW, confirmed_reports=reports))

    assert (risk.score, risk.level, risk.risky) == (score, level, level == "high")
    assert factor(dataclasses.replace(NEW, confirmed_reports=1), "confirmed_reports").message == (
        "1 confirmed report of fakes against it"
    )


def test_the_score_is_capped_at_100() -> None:
    worst = SellerStats(
        listings_checked=100,
        listings_blocked=100,
        never_held=50,
        confirmed_reports=10,
        listings_last_hour=500,
        listings_last_day=5000,
    )

    risk = seller_risk(worst)

    assert (risk.score, risk.level) == (100.0, "high")
    assert sum(f.points for f in risk.factors) == 165.0


def test_rules_set_the_levels() -> None:
    stats = dataclasses.replace(NEW, confirmed_reports=1)

    assert seller_risk(stats, RiskRules(high_from=20.0)).risky


counts = st.integers(0, 10_000)


@st.composite
def seller_stats(draw: st.DrawFn) -> SellerStats:
    checked = draw(counts)
    return SellerStats(
        listings_checked=checked,
        listings_blocked=draw(st.integers(0, checked)),
        never_held=draw(counts),
        confirmed_reports=draw(counts),
        listings_last_hour=draw(counts),
        listings_last_day=draw(counts),
    )


@given(
    seller_stats(),
    st.sampled_from(["never_held", "confirmed_reports", "listings_last_hour", "listings_last_day"]),
    st.integers(1, 1000),
)
def test_more_evidence_never_lowers_the_score(stats: SellerStats, field: str, more: int) -> None:
    worse = dataclasses.replace(stats, **{field: getattr(stats, field) + more})
    risk = seller_risk(stats)

    assert 0.0 <= risk.score <= 100.0
    assert seller_risk(worse).score >= risk.score
    expected = "high" if risk.score >= 50 else "medium" if risk.score >= 25 else "low"
    assert risk.level == expected
