"""The simulation's figures: headline metrics, the breakdown by attack, a table and JSON.

``counterfeit_blocked_before_first_sale`` counts counterfeit listings whose first check
said ``block``: a listing blocked at its first check never goes live, so it cannot sell.
``insider_fake`` listings are reported on their own: the seller holds the genuine item, so
no first check can tell its fake from the real thing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from veritag.simulate.attacks import COUNTERFEIT_KINDS, Kind
from veritag.simulate.run import CheckResult, Simulation

__all__ = ["TARGETS", "SimulationReport", "build_report", "render"]

TARGETS = {"block_rate": 0.99, "false_block_rate": 0.005, "checks_per_second": 5000.0}
"""Targets of the default mix: at least, at most, at least."""

INSIDER_NOTE = (
    "An authorised shop that lists a fake under the code of a genuine item it still holds "
    "passes the first check: on the ledger it is the holder. It is caught later: the fake's "
    "buyer scans it far from the item's custody path, the genuine item sells and is claimed, "
    "the buyer's scan then shows another owner and the buyer reports it, and the "
    "marketplace's re-check of the still-live listing blocks it because the shop no longer "
    "holds the item."
)


@dataclass(frozen=True)
class KindFigures:
    listings: int
    block: int
    review: int
    allow: int
    problems: int
    reasons: dict[str, int]

    @property
    def block_rate(self) -> float:
        return self.block / self.listings if self.listings else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "listings": self.listings,
            "blocked": self.block,
            "review": self.review,
            "allowed": self.allow,
            "problems": self.problems,
            "block_rate": round(self.block_rate, 4),
            "reasons": self.reasons,
        }


@dataclass(frozen=True)
class SimulationReport:
    parameters: dict[str, int | str]
    by_kind: dict[Kind, KindFigures]
    checks: int
    check_batches: int
    check_seconds: float
    insider: dict[str, Any]
    scans: dict[str, dict[str, int]]
    seller_risk: dict[str, dict[str, int]]
    market: dict[str, Any]
    durations: dict[str, float]

    @property
    def counterfeit(self) -> KindFigures:
        return _sum([self.by_kind[k] for k in COUNTERFEIT_KINDS])

    @property
    def genuine(self) -> KindFigures:
        return self.by_kind[Kind.GENUINE]

    @property
    def false_block_rate(self) -> float:
        return self.genuine.block_rate

    @property
    def checks_per_second(self) -> float:
        return self.checks / self.check_seconds if self.check_seconds else 0.0

    def targets_met(self) -> dict[str, bool]:
        return {
            "block_rate": self.counterfeit.block_rate >= TARGETS["block_rate"],
            "false_block_rate": self.false_block_rate <= TARGETS["false_block_rate"],
            "checks_per_second": self.checks_per_second >= TARGETS["checks_per_second"],
        }

    def as_json(self) -> dict[str, Any]:
        counterfeit, genuine = self.counterfeit, self.genuine
        return {
            "counterfeit_listings": counterfeit.listings,
            "counterfeit_blocked_before_first_sale": counterfeit.block,
            "counterfeit_review": counterfeit.review,
            "counterfeit_allowed": counterfeit.allow,
            "counterfeit_problems": counterfeit.problems,
            "block_rate": round(counterfeit.block_rate, 4),
            "genuine_listings": genuine.listings,
            "genuine_blocked": genuine.block,
            "genuine_review": genuine.review,
            "genuine_allowed": genuine.allow,
            "genuine_problems": genuine.problems,
            "false_block_rate": round(self.false_block_rate, 4),
            "checks": self.checks,
            "check_batches": self.check_batches,
            "checks_per_second": round(self.checks_per_second, 1),
            "targets": {
                name: {"target": TARGETS[name], "met": met}
                for name, met in self.targets_met().items()
            },
            "by_attack": {k.value: self.by_kind[k].as_json() for k in COUNTERFEIT_KINDS},
            "genuine": genuine.as_json(),
            "insider_fake": self.insider,
            "scans": self.scans,
            "seller_risk": self.seller_risk,
            "market": self.market,
            "parameters": self.parameters,
            "durations": {k: round(v, 3) for k, v in self.durations.items()},
        }


def build_report(sim: Simulation) -> SimulationReport:
    by_kind = {
        kind: _figures(
            [sim.first_checks[x.listing_id] for x in sim.plan.listings if x.kind is kind]
        )
        for kind in Kind
    }
    insider = by_kind[Kind.INSIDER_FAKE]
    market = sim.market
    return SimulationReport(
        parameters={
            "brands": sim.params.brands,
            "items_per_brand": sim.params.items_per_brand,
            "seed": sim.params.seed,
            "batch_size": sim.params.batch_size,
            "marketplace_sales": sim.params.marketplace_sales,
            "scans_per_group": sim.params.scans_per_group,
            "chain": sim.params.chain,
        },
        by_kind=by_kind,
        checks=len(sim.first_checks),
        check_batches=sim.check_batches,
        check_seconds=sim.check_seconds,
        insider={
            "counted_in_block_rate": False,
            "listings": insider.listings,
            "blocked_at_first_check": insider.block,
            "review_at_first_check": insider.review,
            "allowed_at_first_check": insider.allow,
            "caught_later": {
                "recheck_after_real_sale": dict(sorted(sim.insider_rechecks.items())),
                "recheck_reasons": dict(sorted(sim.insider_recheck_reasons.items())),
                "fake_buyer_scans_before_real_sale": _counts(
                    sim.scans.get("fake: insider, bought online", Counter())
                ),
                "fake_buyer_scans_after_real_sale": _counts(
                    sim.scans.get("fake: insider, after the real sale", Counter())
                ),
                "consumer_reports": sim.insider_reports,
                "rogue_shop_risk": _counts(sim.seller_risk.get("rogue shops", Counter())),
            },
            "note": INSIDER_NOTE,
        },
        scans={who: _counts(verdicts) for who, verdicts in sorted(sim.scans.items())},
        seller_risk={who: _counts(levels) for who, levels in sorted(sim.seller_risk.items())},
        market={
            "items": len(market.items),
            "items_by_fate": _counts(Counter(i.fate.value for i in market.items)),
            "transactions": market.transactions,
            "sellers": len(sim.plan.sellers),
            "listings": len(sim.plan.listings),
        },
        durations=dict(sim.timings) | {"check_requests_seconds": sim.check_seconds},
    )


def _figures(results: list[CheckResult]) -> KindFigures:
    decisions = Counter(r.decision for r in results)
    reasons = Counter(code for r in results for code in r.reasons)
    return KindFigures(
        listings=len(results),
        block=decisions["block"],
        review=decisions["review"],
        allow=decisions["allow"],
        problems=decisions[None],
        reasons=_counts(reasons),
    )


def _sum(figures: list[KindFigures]) -> KindFigures:
    reasons: Counter[str] = Counter()
    for f in figures:
        reasons.update(f.reasons)
    return KindFigures(
        listings=sum(f.listings for f in figures),
        block=sum(f.block for f in figures),
        review=sum(f.review for f in figures),
        allow=sum(f.allow for f in figures),
        problems=sum(f.problems for f in figures),
        reasons=_counts(reasons),
    )


def _counts(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items()))


def render(report: SimulationReport, console: Console) -> None:
    met = report.targets_met()
    table = Table(title="listings checked before they go live, by ground truth")
    for column in ("ground truth", "listings", "blocked", "review", "allowed", "block rate"):
        table.add_column(column, justify="left" if column == "ground truth" else "right")
    for kind in COUNTERFEIT_KINDS:
        _row(table, kind.value, report.by_kind[kind])
    table.add_section()
    _row(table, "all counterfeit", report.counterfeit, mark=met["block_rate"])
    _row(table, "genuine", report.genuine)
    table.add_section()
    _row(table, "insider fake (not counted)", report.by_kind[Kind.INSIDER_FAKE])
    counterfeit, genuine = report.counterfeit, report.genuine
    headline = Text.assemble(
        f"counterfeit listings blocked before the first sale: {counterfeit.block:,} of "
        f"{counterfeit.listings:,} (block rate {counterfeit.block_rate:.2%}, target ≥ 99%) ",
        _mark(met["block_rate"]),
        f"\ngenuine listings blocked: {genuine.block:,} of {genuine.listings:,} "
        f"(false block rate {report.false_block_rate:.2%}, target ≤ 0.5%) ",
        _mark(met["false_block_rate"]),
        f"\nlisting checks: {report.checks:,} in {report.check_batches} batches of ≤ "
        f"{int(report.parameters['batch_size']):,}, {report.checks_per_second:,.0f} per second "
        "(target ≥ 5,000) ",
        _mark(met["checks_per_second"]),
    )
    console.print(Group(table, headline))
    later = report.insider["caught_later"]
    console.print(
        Text(
            f"\ninsider fakes: {report.insider['listings']} listed, "
            f"{report.insider['allowed_at_first_check']} allowed at first check. Caught later: "
            f"re-check after the real sale {later['recheck_after_real_sale']}, fake buyers' "
            f"scans after it {later['fake_buyer_scans_after_real_sale']}, "
            f"{later['consumer_reports']} consumer reports, rogue shops' risk "
            f"{later['rogue_shop_risk']}."
        )
    )
    console.print(Text(INSIDER_NOTE, style="dim"))
    scans = Table(title="consumers' scans after the day, by who scanned")
    scans.add_column("who")
    scans.add_column("verdicts")
    for who, verdicts in report.scans.items():
        scans.add_row(who, ", ".join(f"{v} {n}" for v, n in verdicts.items()))
    console.print(scans)
    durations = ", ".join(
        f"{k.removesuffix('_seconds')} {v:.1f} s" for k, v in report.durations.items()
    )
    console.print(
        f"{report.market['items']:,} items, {report.market['transactions']:,} transactions, "
        f"{report.market['sellers']} sellers, seed {report.parameters['seed']}, chain "
        f"{report.parameters['chain']}; {durations}"
    )


def _row(table: Table, name: str, figures: KindFigures, *, mark: bool | None = None) -> None:
    rate = f"{figures.block_rate:.2%}" if figures.listings else "—"
    table.add_row(
        name,
        f"{figures.listings:,}",
        f"{figures.block:,}",
        f"{figures.review:,}",
        f"{figures.allow:,}",
        Text.assemble(rate, " ", _mark(mark)) if mark is not None else rate,
    )


def _mark(met: bool | None) -> Text:
    return Text("✔", style="green") if met else Text("✘", style="red")
