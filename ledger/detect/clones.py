"""Clone signals: what an item's scans say about copies of its code, given where it has been.

A genuine item is in one place at a time, goes where its custody path takes it until it is
sold, stays with its owner afterwards, and is scanned by few people. A copied code breaks
these. Four signals, each a reason code with its evidence:

* ``impossible_travel``: two consecutive located scans farther apart than travel at
  ``max_speed_kmh`` allows in the time between them;
* ``scan_after_claim_elsewhere``: after the consumer's claim, located scans in more than
  one place (places farther apart than ``elsewhere_km``);
* ``too_many_scans``: more distinct scanners than the stage allows (before the sale, or per
  owner after it);
* ``outside_custody_path``: a located scan before the sale farther than ``path_radius_km``
  from every known site of the custody path (consumers travel; supply chains should not).

Detection is pure and deterministic: the same scans (in any order) give the same signals in
the same order, and each signal's ``key`` names what it is about, so detecting again finds
the same keys. It runs in O(n log n) for n scans.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from ledger.detect.geo import MAX_TRAVEL_KMH, haversine_km

__all__ = [
    "CLONE_SIGNAL_CODES",
    "CloneRules",
    "ItemStage",
    "Place",
    "ScanPoint",
    "Signal",
    "clone_signals",
]

CLONE_SIGNAL_CODES = (
    "impossible_travel",
    "scan_after_claim_elsewhere",
    "too_many_scans",
    "outside_custody_path",
)
"""Every code ``clone_signals`` emits, in the order it emits them."""


@dataclass(frozen=True)
class ScanPoint:
    """One scan of the item; ``at`` without a time zone is taken as UTC."""

    scan_id: int
    at: datetime
    latitude: float | None
    longitude: float | None
    ip_hash: str


@dataclass(frozen=True)
class Place:
    """A known site of a custody path (a factory, warehouse, shop)."""

    latitude: float
    longitude: float
    name: str


@dataclass(frozen=True)
class ItemStage:
    """Where the item is in its life, from its custody events."""

    status: str
    """``active``, ``in_transit``, ``sold``, ``decommissioned`` or ``destroyed``."""
    claimed_at: datetime | None
    """The latest consumer claim, if any."""
    sold_at: datetime | None
    """The first retail sale, if any."""
    path_sites: tuple[Place, ...] = ()
    """The known sites of the parties that held or handled it."""
    owners: int = 1
    """How many owners it has had since its sale (claims and resales), at least one."""

    @property
    def sale_time(self) -> datetime | None:
        """When it left the supply chain: its first sale, or its claim if no sale came first."""
        times = [_utc(t) for t in (self.sold_at, self.claimed_at) if t is not None]
        return min(times) if times else None


@dataclass(frozen=True)
class Signal:
    """One clone signal: a reason code, what it is about (``key``), a sentence and evidence."""

    code: str
    key: str
    """Names what the signal is about (e.g. the two scans), so the same finding has one key."""
    message: str
    evidence: dict[str, Any]
    """JSON-ready: times as ISO 8601 strings, distances in km."""


@dataclass(frozen=True)
class CloneRules:
    """The thresholds of ``clone_signals``."""

    max_speed_kmh: float = MAX_TRAVEL_KMH
    min_travel_km: float = 100.0
    """Scans closer than this never count as travel: locations are coarse (0.1°, about
    11 km) and often come from IP geolocation, which can be tens of kilometres off."""
    elsewhere_km: float = 300.0
    path_radius_km: float = 500.0
    max_scanners_before_sale: int = 10
    max_scanners_per_owner: int = 5


def clone_signals(
    scans: Sequence[ScanPoint], stage: ItemStage, *, settings: CloneRules = CloneRules()
) -> list[Signal]:
    """Every clone signal the item's ``scans`` show, given its ``stage``."""
    timed = sorted(((_utc(s.at), s.scan_id, s) for s in scans), key=lambda t: (t[0], t[1]))
    ordered = [(at, s) for at, _, s in timed]
    located = [
        _Located(s.scan_id, at, s.latitude, s.longitude)
        for at, s in ordered
        if s.latitude is not None and s.longitude is not None
    ]
    return [
        *_impossible_travel(located, settings),
        *_after_claim_elsewhere(located, stage, settings),
        *_too_many_scans(ordered, stage, settings),
        *_outside_custody_path(located, stage, settings),
    ]


# ───────────── the four signals ─────────────


def _impossible_travel(located: list[_Located], rules: CloneRules) -> Iterator[Signal]:
    for first, second in pairwise(located):
        if first.latitude == second.latitude and first.longitude == second.longitude:
            continue  # the common case for a much-scanned code: save the trigonometry
        distance = first.distance_km(second.latitude, second.longitude)
        if distance < rules.min_travel_km:
            continue
        hours = (second.at - first.at).total_seconds() / 3600
        speed = distance / hours if hours > 0 else None
        if speed is not None and speed <= rules.max_speed_kmh:
            continue
        pace = "at the same moment" if speed is None else f"{_duration(hours)} later"
        fast = "" if speed is None else f" ({speed:,.0f} km/h)"
        yield Signal(
            code="impossible_travel",
            key=f"{first.scan_id}:{second.scan_id}",
            message=(
                f"Scanned near {first.where} on {_when(first.at)} and near {second.where} "
                f"{pace}: {distance:,.0f} km apart{fast}, faster than anyone travels "
                f"({rules.max_speed_kmh:,.0f} km/h)."
            ),
            evidence={
                "scans": [first.evidence(), second.evidence()],
                "distance_km": round(distance, 1),
                "hours": round(hours, 4),
                "speed_kmh": None if speed is None else round(speed, 1),
                "max_speed_kmh": rules.max_speed_kmh,
            },
        )


def _after_claim_elsewhere(
    located: list[_Located], stage: ItemStage, rules: CloneRules
) -> Iterator[Signal]:
    if stage.claimed_at is None:
        return
    claimed_at = _utc(stage.claimed_at)
    places: list[_Cluster] = []
    for scan in located:
        if scan.at < claimed_at:
            continue
        # Each place is led by its first scan; leaders are pairwise farther apart than
        # elsewhere_km, so there are few of them whatever the number of scans.
        home = next((p for p in places if p.leader.distance_to(scan) <= rules.elsewhere_km), None)
        if home is None:
            places.append(_Cluster(scan))
        else:
            home.add(scan)
    if len(places) < 2:
        return
    names = sorted(p.leader.where for p in places)
    described = ", ".join(
        f"near {p.leader.where} ({p.count} scan{'s' if p.count > 1 else ''} from {_when(p.first)})"
        for p in places
    )
    yield Signal(
        code="scan_after_claim_elsewhere",
        key=hashlib.sha256("|".join(names).encode()).hexdigest(),
        message=(
            f"After its owner claimed it on {_when(claimed_at)}, it was scanned in "
            f"{len(places)} places more than {rules.elsewhere_km:,.0f} km apart: {described}."
        ),
        evidence={
            "claimed_at": _iso(claimed_at),
            "elsewhere_km": rules.elsewhere_km,
            "places": [p.evidence() for p in places],
        },
    )


def _too_many_scans(
    ordered: list[tuple[datetime, ScanPoint]], stage: ItemStage, rules: CloneRules
) -> Iterator[Signal]:
    sale_time = stage.sale_time
    before = {s.ip_hash for at, s in ordered if sale_time is None or at < sale_time}
    after = {s.ip_hash for at, s in ordered if sale_time is not None and at >= sale_time}
    owners = max(1, stage.owners)
    periods = [
        ("before_sale", "before its sale", len(before), rules.max_scanners_before_sale),
        (
            "after_sale",
            f"since its sale ({owners} owner{'s' if owners > 1 else ''})",
            len(after),
            rules.max_scanners_per_owner * owners,
        ),
    ]
    for period, words, count, limit in periods:
        if count > limit:
            yield Signal(
                code="too_many_scans",
                key=period,
                message=(
                    f"Scanned by {count} different scanners {words}, where at most {limit} "
                    "are expected: copies of its code are likely in circulation."
                ),
                evidence={"count": count, "limit": limit, "stage": period, "status": stage.status},
            )


def _outside_custody_path(
    located: list[_Located], stage: ItemStage, rules: CloneRules
) -> Iterator[Signal]:
    if not stage.path_sites:
        return
    sale_time = stage.sale_time
    seen: dict[str, _Located] = {}
    counts: dict[str, int] = {}
    for scan in located:
        if sale_time is not None and scan.at >= sale_time:
            break  # time-ordered: every later scan is after the sale too
        seen.setdefault(scan.where, scan)
        counts[scan.where] = counts.get(scan.where, 0) + 1
    for where, scan in seen.items():
        site, distance = min(
            ((p, scan.distance_km(p.latitude, p.longitude)) for p in stage.path_sites),
            key=lambda pair: (pair[1], pair[0].name),
        )
        if distance <= rules.path_radius_km:
            continue
        yield Signal(
            code="outside_custody_path",
            key=where,
            message=(
                f"Scanned near {where} on {_when(scan.at)}, before any sale, "
                f"{distance:,.0f} km from the nearest site of its custody path ({site.name}): "
                f"more than the {rules.path_radius_km:,.0f} km its supply chain accounts for."
            ),
            evidence={
                "scan": scan.evidence(),
                "scans_there": counts[where],
                "nearest_site": {
                    "name": site.name,
                    "latitude": site.latitude,
                    "longitude": site.longitude,
                },
                "distance_km": round(distance, 1),
                "path_radius_km": rules.path_radius_km,
            },
        )


# ───────────── helpers ─────────────


@dataclass(frozen=True)
class _Located:
    scan_id: int
    at: datetime
    latitude: float
    longitude: float

    @property
    def where(self) -> str:
        return f"{self.latitude:.1f}, {self.longitude:.1f}"

    def distance_km(self, latitude: float, longitude: float) -> float:
        return haversine_km(self.latitude, self.longitude, latitude, longitude)

    def distance_to(self, other: _Located) -> float:
        return self.distance_km(other.latitude, other.longitude)

    def evidence(self) -> dict[str, Any]:
        return {
            "scan_id": self.scan_id,
            "at": _iso(self.at),
            "latitude": self.latitude,
            "longitude": self.longitude,
        }


class _Cluster:
    """Scans in one place: within ``elsewhere_km`` of the place's first scan."""

    def __init__(self, leader: _Located) -> None:
        self.leader = leader
        self.first = leader.at
        self.last = leader.at
        self.count = 1

    def add(self, scan: _Located) -> None:
        self.last = scan.at
        self.count += 1

    def evidence(self) -> dict[str, Any]:
        return {
            "latitude": self.leader.latitude,
            "longitude": self.leader.longitude,
            "first_scan_at": _iso(self.first),
            "last_scan_at": _iso(self.last),
            "scans": self.count,
        }


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is UTC:
        return moment
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(hours: float) -> str:
    seconds = round(hours * 3600)
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    if seconds < 2 * 3600:
        return f"{seconds // 60} minutes"
    return f"{hours:,.1f} hours"
