"""Counterfeit detection, pure (no database, no web): clone signals and seller risk."""

from ledger.detect.clones import (
    CLONE_SIGNAL_CODES,
    CloneRules,
    ItemStage,
    Place,
    ScanPoint,
    Signal,
    clone_signals,
)
from ledger.detect.geo import EARTH_RADIUS_KM, MAX_TRAVEL_KMH, haversine_km
from ledger.detect.seller_risk import RiskFactor, RiskRules, SellerRisk, SellerStats, seller_risk

__all__ = [
    "CLONE_SIGNAL_CODES",
    "EARTH_RADIUS_KM",
    "MAX_TRAVEL_KMH",
    "CloneRules",
    "ItemStage",
    "Place",
    "RiskFactor",
    "RiskRules",
    "ScanPoint",
    "SellerRisk",
    "SellerStats",
    "Signal",
    "clone_signals",
    "haversine_km",
    "seller_risk",
]
