"""ledger.detect: the four clone signals, their boundaries and evidence, and the properties
that make repeated detection safe (deterministic, independent of input order)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.detect import (
    CLONE_SIGNAL_CODES,
    CloneRules,
    ItemStage,
    Place,
    ScanPoint,
    Signal,
    clone_signals,
    haversine_km,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PARIS = (48.9, 2.4)
SYDNEY = (-33.9, 151.2)
REIMS = (49.3, 4.0)  # 125 km from Paris
SHENZHEN = (22.5, 114.1)
BIEL = Place(47.1, 7.2, "Acme factory, Biel")
PARIS_SHOP = Place(48.9, 2.4, "Retailer, Paris")
IN_SHOP = ItemStage(status="active", claimed_at=None, sold_at=None)
SCANNER = "ab" * 32


def scan(
    scan_id: int,
    at: datetime,
    where: tuple[float, float] | None = None,
    ip_hash: str = SCANNER,
) -> ScanPoint:
    latitude, longitude = where if where else (None, None)
    return ScanPoint(scan_id, at, latitude, longitude, ip_hash)


def claimed(at: datetime, *, sold_at: datetime | None = None) -> ItemStage:
    return ItemStage(status="active", claimed_at=at, sold_at=sold_at or at)


def codes(signals: list[Signal]) -> list[str]:
    return [s.code for s in signals]


# ───────────── impossible travel ─────────────


def test_paris_then_sydney_a_minute_later_is_impossible_travel_with_its_evidence() -> None:
    signals = clone_signals(
        [scan(1, T0, PARIS), scan(2, T0 + timedelta(minutes=1), SYDNEY)], IN_SHOP
    )

    assert len(signals) == 1
    signal = signals[0]
    assert signal.code == "impossible_travel"
    assert signal.key == "1:2"
    assert signal.evidence == {
        "scans": [
            {"scan_id": 1, "at": "2026-03-01T12:00:00Z", "latitude": 48.9, "longitude": 2.4},
            {"scan_id": 2, "at": "2026-03-01T12:01:00Z", "latitude": -33.9, "longitude": 151.2},
        ],
        "distance_km": 16957.2,
        "hours": 0.0167,
        "speed_kmh": 1017432.9,
        "max_speed_kmh": 900.0,
    }
    assert signal.message == (
        "Scanned near 48.9, 2.4 on 2026-03-01 12:00:00 UTC and near -33.9, 151.2 60 seconds "
        "later: 16,957 km apart (1,017,433 km/h), faster than anyone travels (900 km/h)."
    )


@pytest.mark.parametrize(("speed", "flagged"), [(899.9, False), (900.1, True)])
def test_travel_is_impossible_only_above_900_km_h(speed: float, flagged: bool) -> None:
    distance = haversine_km(0, 0, 0, 9)  # about 1,000 km
    gap = timedelta(hours=distance / speed)

    signals = clone_signals([scan(1, T0, (0, 0)), scan(2, T0 + gap, (0, 9))], IN_SHOP)

    assert codes(signals) == (["impossible_travel"] if flagged else [])
    if flagged:
        assert signals[0].evidence["speed_kmh"] == pytest.approx(900.1, abs=0.05)


def test_scans_without_location_are_skipped_and_the_located_ones_still_compared() -> None:
    scans = [
        scan(1, T0, PARIS),
        scan(2, T0 + timedelta(seconds=30)),
        scan(3, T0 + timedelta(minutes=1), SYDNEY),
    ]

    signals = clone_signals(scans, IN_SHOP)

    assert [(s.code, s.key) for s in signals] == [("impossible_travel", "1:3")]


def test_scans_without_any_location_give_no_travel_signal() -> None:
    scans = [scan(i, T0 + timedelta(seconds=i)) for i in range(1, 6)]

    assert clone_signals(scans, IN_SHOP) == []


def test_nearby_scans_seconds_apart_are_not_travel_because_locations_are_coarse() -> None:
    # 11 km in 5 seconds would be 8,000 km/h; it is the rounding of two scans in one city.
    scans = [scan(1, T0, (48.9, 2.3)), scan(2, T0 + timedelta(seconds=5), (48.8, 2.4))]

    assert clone_signals(scans, IN_SHOP) == []


def test_two_places_at_the_same_moment_are_impossible_travel_without_a_speed() -> None:
    signals = clone_signals([scan(1, T0, PARIS), scan(2, T0, SYDNEY)], IN_SHOP)

    assert codes(signals) == ["impossible_travel"]
    assert signals[0].evidence["hours"] == 0.0
    assert signals[0].evidence["speed_kmh"] is None
    assert "at the same moment: 16,957 km apart, faster than anyone travels" in signals[0].message


def test_only_consecutive_located_scans_are_compared() -> None:
    later = T0 + timedelta(days=30)  # a month: Paris to Sydney is an ordinary trip
    scans = [
        scan(1, T0, PARIS),
        scan(2, later, SYDNEY),
        scan(3, later + timedelta(minutes=1), PARIS),
    ]

    assert [(s.code, s.key) for s in clone_signals(scans, IN_SHOP)] == [
        ("impossible_travel", "2:3")
    ]


# ───────────── scans after the claim, elsewhere ─────────────


def test_scans_after_the_claim_in_two_far_places_are_flagged_with_both_places() -> None:
    week = timedelta(days=7)
    scans = [scan(1, T0 + week, PARIS), scan(2, T0 + 2 * week, SYDNEY)]

    signals = clone_signals(scans, claimed(T0))

    assert codes(signals) == ["scan_after_claim_elsewhere"]
    assert signals[0].evidence == {
        "claimed_at": "2026-03-01T12:00:00Z",
        "elsewhere_km": 300.0,
        "places": [
            {
                "latitude": 48.9,
                "longitude": 2.4,
                "first_scan_at": "2026-03-08T12:00:00Z",
                "last_scan_at": "2026-03-08T12:00:00Z",
                "scans": 1,
            },
            {
                "latitude": -33.9,
                "longitude": 151.2,
                "first_scan_at": "2026-03-15T12:00:00Z",
                "last_scan_at": "2026-03-15T12:00:00Z",
                "scans": 1,
            },
        ],
    }
    assert signals[0].message == (
        "After its owner claimed it on 2026-03-01 12:00:00 UTC, it was scanned in 2 places "
        "more than 300 km apart: near 48.9, 2.4 (1 scan from 2026-03-08 12:00:00 UTC), near "
        "-33.9, 151.2 (1 scan from 2026-03-15 12:00:00 UTC)."
    )


def test_the_claim_signal_keeps_its_key_for_more_scans_in_the_same_places() -> None:
    week = timedelta(days=7)
    first = [scan(1, T0 + week, PARIS), scan(2, T0 + 2 * week, SYDNEY)]
    more = [*first, scan(3, T0 + 3 * week, PARIS), scan(4, T0 + 4 * week, SYDNEY)]
    third_place = [*more, scan(5, T0 + 5 * week, SHENZHEN)]

    keys = [clone_signals(s, claimed(T0))[0].key for s in (first, more, third_place)]

    assert keys[0] == keys[1]
    assert keys[2] != keys[0]


def test_owner_scans_within_elsewhere_km_are_one_place() -> None:
    scans = [scan(1, T0 + timedelta(days=1), PARIS), scan(2, T0 + timedelta(days=2), REIMS)]

    assert clone_signals(scans, claimed(T0)) == []


@pytest.mark.parametrize(
    ("sydney_at", "flagged"),
    [(T0 - timedelta(seconds=1), False), (T0, True), (T0 + timedelta(seconds=1), True)],
)
def test_the_claim_boundary_counts_scans_from_the_claim_time_on(
    sydney_at: datetime, flagged: bool
) -> None:
    scans = [scan(1, sydney_at, SYDNEY), scan(2, T0 + timedelta(days=7), PARIS)]
    stage = ItemStage(status="active", claimed_at=T0, sold_at=T0 - timedelta(days=1))

    assert ("scan_after_claim_elsewhere" in codes(clone_signals(scans, stage))) is flagged


def test_without_a_claim_far_scans_are_not_claim_signals() -> None:
    scans = [scan(1, T0, PARIS), scan(2, T0 + timedelta(days=7), SYDNEY)]

    assert clone_signals(scans, IN_SHOP) == []


# ───────────── too many scans ─────────────


def scanners(count: int, start: datetime, first_id: int = 1) -> list[ScanPoint]:
    return [
        scan(first_id + i, start + timedelta(minutes=i), ip_hash=f"{i:064x}") for i in range(count)
    ]


def test_eleven_scanners_before_the_sale_are_too_many() -> None:
    signals = clone_signals(scanners(11, T0), IN_SHOP)

    assert [(s.code, s.key) for s in signals] == [("too_many_scans", "before_sale")]
    assert signals[0].evidence == {
        "count": 11,
        "limit": 10,
        "stage": "before_sale",
        "status": "active",
    }
    assert signals[0].message == (
        "Scanned by 11 different scanners before its sale, where at most 10 are expected: "
        "copies of its code are likely in circulation."
    )


def test_ten_scanners_and_many_repeat_scans_by_one_are_not_too_many() -> None:
    repeats = [scan(100 + i, T0 + timedelta(hours=i)) for i in range(50)]

    assert clone_signals([*scanners(9, T0), *repeats], IN_SHOP) == []


def test_after_the_sale_the_limit_is_per_owner() -> None:
    sold = T0 - timedelta(days=1)
    stage = ItemStage(status="active", claimed_at=sold, sold_at=sold)
    two_owners = ItemStage(status="active", claimed_at=sold, sold_at=sold, owners=2)

    signals = clone_signals(scanners(6, T0), stage)

    assert [(s.code, s.key) for s in signals] == [("too_many_scans", "after_sale")]
    assert signals[0].evidence == {
        "count": 6,
        "limit": 5,
        "stage": "after_sale",
        "status": "active",
    }
    assert clone_signals(scanners(6, T0), two_owners) == []


# ───────────── outside the custody path ─────────────


def test_a_scan_before_the_sale_far_from_every_site_of_the_path_is_flagged() -> None:
    stage = ItemStage(status="in_transit", claimed_at=None, sold_at=None, path_sites=(BIEL,))

    signals = clone_signals(
        [scan(1, T0, SHENZHEN), scan(2, T0 + timedelta(days=1), SHENZHEN)], stage
    )

    assert [(s.code, s.key) for s in signals] == [("outside_custody_path", "22.5, 114.1")]
    assert signals[0].evidence == {
        "scan": {"scan_id": 1, "at": "2026-03-01T12:00:00Z", "latitude": 22.5, "longitude": 114.1},
        "scans_there": 2,
        "nearest_site": {"name": "Acme factory, Biel", "latitude": 47.1, "longitude": 7.2},
        "distance_km": 9385.3,
        "path_radius_km": 500.0,
    }
    assert signals[0].message == (
        "Scanned near 22.5, 114.1 on 2026-03-01 12:00:00 UTC, before any sale, 9,385 km from "
        "the nearest site of its custody path (Acme factory, Biel): more than the 500 km its "
        "supply chain accounts for."
    )


def test_the_nearest_site_is_the_one_reported_and_within_the_radius_is_fine() -> None:
    stage = ItemStage(status="active", claimed_at=None, sold_at=None, path_sites=(BIEL, PARIS_SHOP))
    near_paris = scan(1, T0, REIMS)
    london = scan(2, T0 + timedelta(days=3), (51.5, -0.1))  # 339 km from Paris

    assert clone_signals([near_paris, london], stage) == []
    far = clone_signals([scan(3, T0, (40.4, -3.7))], stage)  # Madrid
    assert far[0].evidence["nearest_site"]["name"] == "Retailer, Paris"


def test_scans_after_the_sale_may_be_anywhere() -> None:
    stage = ItemStage(status="sold", claimed_at=None, sold_at=T0, path_sites=(BIEL,))

    assert clone_signals([scan(1, T0, SHENZHEN)], stage) == []
    assert codes(clone_signals([scan(1, T0 - timedelta(seconds=1), SHENZHEN)], stage)) == [
        "outside_custody_path"
    ]


def test_without_known_sites_the_path_is_not_judged() -> None:
    assert clone_signals([scan(1, T0, SHENZHEN)], IN_SHOP) == []


# ───────────── together ─────────────


def test_signals_come_in_code_order_and_naive_times_are_utc() -> None:
    stage = ItemStage(
        status="active",
        claimed_at=T0 + timedelta(days=10),
        sold_at=T0 + timedelta(days=9),
        path_sites=(BIEL,),
    )
    naive = [
        scan(1, T0.replace(tzinfo=None), SHENZHEN),
        scan(2, (T0 + timedelta(minutes=1)).replace(tzinfo=None), PARIS),
        scan(3, (T0 + timedelta(days=11)).replace(tzinfo=None), PARIS),
        scan(4, (T0 + timedelta(days=12)).replace(tzinfo=None), SYDNEY),
        *scanners(11, T0 + timedelta(days=1), first_id=10),
    ]
    aware = [
        ScanPoint(s.scan_id, s.at.replace(tzinfo=UTC), s.latitude, s.longitude, s.ip_hash)
        for s in naive
    ]

    signals = clone_signals(naive, stage)

    assert codes(signals) == [
        "impossible_travel",
        "scan_after_claim_elsewhere",
        "too_many_scans",
        "outside_custody_path",
    ]
    assert tuple(dict.fromkeys(codes(signals))) == CLONE_SIGNAL_CODES
    assert signals == clone_signals(aware, stage)


def test_rules_are_settings() -> None:
    scans = [scan(1, T0, PARIS), scan(2, T0 + timedelta(minutes=30), REIMS)]  # 250 km/h

    assert clone_signals(scans, IN_SHOP) == []
    strict = CloneRules(max_speed_kmh=200.0)
    assert codes(clone_signals(scans, IN_SHOP, settings=strict)) == ["impossible_travel"]


# ───────────── properties ─────────────

latitudes = st.floats(-90, 90, allow_nan=False)
longitudes = st.floats(-180, 180, allow_nan=False)


@given(latitudes, longitudes, latitudes, longitudes)
def test_haversine_is_symmetric_non_negative_and_at_most_half_the_earth(
    lat1: float, lon1: float, lat2: float, lon2: float
) -> None:
    distance = haversine_km(lat1, lon1, lat2, lon2)

    assert distance == haversine_km(lat2, lon2, lat1, lon1)
    assert 0 <= distance <= math.pi * 6371.0088 + 1e-6
    assert haversine_km(lat1, lon1, lat1, lon1) == 0


def test_haversine_matches_a_known_distance() -> None:
    assert haversine_km(51.5074, -0.1278, 48.8566, 2.3522) == pytest.approx(343.6, abs=1.0)


places = st.sampled_from([PARIS, SYDNEY, REIMS, SHENZHEN, (40.4, -3.7), None])


@st.composite
def scan_lists(draw: st.DrawFn) -> list[ScanPoint]:
    count = draw(st.integers(0, 25))
    ids = draw(st.lists(st.integers(1, 10_000), min_size=count, max_size=count, unique=True))
    return [
        scan(
            scan_id,
            T0 + timedelta(minutes=draw(st.integers(0, 60 * 24 * 20))),
            draw(places),
            ip_hash=f"{draw(st.integers(0, 14)):064x}",
        )
        for scan_id in ids
    ]


stages = st.builds(
    ItemStage,
    status=st.sampled_from(["active", "in_transit", "sold"]),
    claimed_at=st.none() | st.just(T0 + timedelta(days=10)),
    sold_at=st.none() | st.just(T0 + timedelta(days=9)),
    path_sites=st.sampled_from([(), (BIEL,), (BIEL, PARIS_SHOP)]),
)


@given(scan_lists(), stages, st.randoms(use_true_random=False))
def test_signals_are_deterministic_and_independent_of_input_order(
    scans: list[ScanPoint], stage: ItemStage, rng: Random
) -> None:
    shuffled = list(scans)
    rng.shuffle(shuffled)

    signals = clone_signals(scans, stage)

    assert signals == clone_signals(shuffled, stage)
    assert signals == clone_signals(list(reversed(scans)), stage)
    keys = [(s.code, s.key) for s in signals]
    assert len(keys) == len(set(keys))
    assert all(s.code in CLONE_SIGNAL_CODES and s.message.endswith(".") for s in signals)
