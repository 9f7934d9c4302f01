"""Seller risk: how far a marketplace seller's record suggests it sells fakes.

The "full view of merchants": from a seller's listings and the reports against it, four
factors, each worth points (capped per factor), summed and capped at 100:

* ``blocked_share``: the share of its checked listings the ledger blocked, once it has had
  enough checks for a share to mean something;
* ``listing_velocity``: listings in the last hour or day above what a shop normally lists
  (dumping stock before takedowns is typical of counterfeiters);
* ``never_held``: registered items it listed although none of its addresses ever held them;
* ``confirmed_reports``: reports of fakes against it that were confirmed.

A seller with no history scores 0 (``low``). A ``high`` seller is ``risky``: its borderline
listings go to review instead of being allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["RiskFactor", "RiskRules", "SellerRisk", "SellerStats", "seller_risk"]

RiskLevel = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class SellerStats:
    """A seller's record, as the store counts it."""

    listings_checked: int
    listings_blocked: int
    never_held: int
    confirmed_reports: int
    listings_last_hour: int
    listings_last_day: int


@dataclass(frozen=True)
class RiskFactor:
    """One factor of a seller's score: ``value`` is what was measured, ``points`` its weight."""

    code: str
    message: str
    value: float
    points: float


@dataclass(frozen=True)
class SellerRisk:
    score: float
    """0 to 100."""
    level: RiskLevel
    factors: tuple[RiskFactor, ...]
    """Every factor, in a fixed order, including those worth no points."""

    @property
    def risky(self) -> bool:
        return self.level == "high"


@dataclass(frozen=True)
class RiskRules:
    """Weights and thresholds of ``seller_risk``."""

    min_checks: int = 10
    """Below this many checked listings the blocked share is not scored."""
    blocked_share_full: float = 0.5
    """The share at which ``blocked_share`` reaches its full points."""
    blocked_share_points: float = 40.0
    hourly_listings: int = 20
    daily_listings: int = 200
    velocity_points: float = 25.0
    """Reached at twice a threshold; grows linearly from the threshold up to that."""
    never_held_points: float = 10.0
    never_held_max: float = 40.0
    report_points: float = 20.0
    reports_max: float = 60.0
    medium_from: float = 25.0
    high_from: float = 50.0


def seller_risk(stats: SellerStats, rules: RiskRules = RiskRules()) -> SellerRisk:
    """The seller's score, level and the factors that explain it."""
    factors = (
        _blocked_share(stats, rules),
        _velocity(stats, rules),
        _never_held(stats, rules),
        _confirmed_reports(stats, rules),
    )
    score = round(min(100.0, sum(f.points for f in factors)), 1)
    level: RiskLevel = (
        "high" if score >= rules.high_from else "medium" if score >= rules.medium_from else "low"
    )
    return SellerRisk(score, level, factors)


def _blocked_share(stats: SellerStats, rules: RiskRules) -> RiskFactor:
    checked, blocked = stats.listings_checked, stats.listings_blocked
    share = blocked / checked if checked else 0.0
    counted = f"{blocked} of {checked} listing{_s(checked)} blocked ({share:.0%})"
    if checked < rules.min_checks:
        return RiskFactor(
            "blocked_share",
            f"{counted}: too few checks to judge (scored from {rules.min_checks})",
            share,
            0.0,
        )
    points = rules.blocked_share_points * min(1.0, share / rules.blocked_share_full)
    return RiskFactor("blocked_share", counted, share, round(points, 1))


def _velocity(stats: SellerStats, rules: RiskRules) -> RiskFactor:
    hourly = stats.listings_last_hour / rules.hourly_listings
    daily = stats.listings_last_day / rules.daily_listings
    ratio = max(hourly, daily)
    points = rules.velocity_points * min(1.0, max(0.0, ratio - 1.0))
    message = (
        f"{stats.listings_last_hour} listing{_s(stats.listings_last_hour)} in the last hour "
        f"(usual up to {rules.hourly_listings}) and {stats.listings_last_day} in the last day "
        f"(usual up to {rules.daily_listings})"
    )
    return RiskFactor("listing_velocity", message, round(ratio, 3), round(points, 1))


def _never_held(stats: SellerStats, rules: RiskRules) -> RiskFactor:
    count = stats.never_held
    points = min(rules.never_held_max, count * rules.never_held_points)
    message = (
        f"{count} listed registered item{_s(count)} that none of its addresses ever held on chain"
    )
    return RiskFactor("never_held", message, float(count), points)


def _confirmed_reports(stats: SellerStats, rules: RiskRules) -> RiskFactor:
    count = stats.confirmed_reports
    points = min(rules.reports_max, count * rules.report_points)
    message = f"{count} confirmed report{_s(count)} of fakes against it"
    return RiskFactor("confirmed_reports", message, float(count), points)


def _s(count: int) -> str:
    return "" if count == 1 else "s"
