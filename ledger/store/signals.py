"""Clone signals in the store: custody sites, detection over stored scans, stored signals.

``detect`` reads, in bulk, what :func:`ledger.detect.clone_signals` needs for each item —
its scans, its stage (status, sale and claim times from its indexed custody events) and the
known sites of the parties on its custody path — and keeps the signals it has not kept
before (one row per item, code and key). Items the index does not hold yet are skipped:
without their stage their scans cannot be judged; the next scans of them are.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from eth_utils.address import is_address, is_checksum_address, to_checksum_address
from sqlalchemy import Engine, func
from sqlalchemy import select as select_columns
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ledger.detect.clones import CloneRules, ItemStage, Place, ScanPoint, Signal, clone_signals
from ledger.errors import Conflict, IdentifierError, InvalidRecord
from ledger.identifiers import parse_item_id, validate_gln
from ledger.store.database import session
from ledger.store.market_models import ItemSignal, Site
from ledger.store.models import CustodyEvent, Item, Scan
from ledger.verify import Reason

__all__ = ["NewSignal", "SignalStore", "SiteRead", "StoredSignal", "signal_reasons"]

_CHUNK = 500
_COUNTRY = re.compile(r"[A-Z]{2}")
_NAME_LENGTH = 200
_T = TypeVar("_T")
DEFAULT_RULES = CloneRules()
_UNSTORED = 0
"""The scan id of a point that stands for a scanner's unlocated scans (ids start at 1)."""


@dataclass(frozen=True)
class NewSignal:
    """A signal ``detect`` found and stored for the first time."""

    item_id: str
    brand_id: int
    signal: Signal


@dataclass(frozen=True)
class StoredSignal:
    code: str
    message: str
    evidence: dict[str, Any]
    detected_at: datetime


def signal_reasons(signals: Sequence[StoredSignal]) -> list[Reason]:
    """One reason per signal code, in the order the codes first appeared, each with its
    latest signal's message: how scans and listing checks show an item's signals."""
    latest: dict[str, str] = {}
    for signal in signals:
        latest[signal.code] = signal.message
    return [Reason(code, message) for code, message in latest.items()]


@dataclass(frozen=True)
class SiteRead:
    address: str
    name: str
    latitude: float
    longitude: float
    country: str | None
    recorded_at: datetime
    gln: str | None = None

    @property
    def place(self) -> Place:
        return Place(self.latitude, self.longitude, self.name)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SignalStore:
    """Sites and clone signals in the store behind ``engine`` (already migrated)."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = _utc_now,
        rules: CloneRules = DEFAULT_RULES,
    ) -> None:
        self.engine = engine
        self.rules = rules
        self._clock = clock

    # ───────────── sites ─────────────

    def set_site(
        self,
        address: str,
        name: str,
        latitude: float,
        longitude: float,
        country: str | None = None,
        *,
        gln: str | None = None,
    ) -> SiteRead:
        """Record (or move) where the party with ``address`` is; InvalidRecord if malformed.

        ``gln`` is the site's GS1 Global Location Number, how EPCIS events name the site;
        another site's GLN is a Conflict.
        """
        key = _address(address)
        location = None if gln is None else _gln(gln)
        label = name.strip()
        if not label or len(label) > _NAME_LENGTH:
            raise InvalidRecord("site", f"the name must be 1 to {_NAME_LENGTH} characters")
        _degrees(latitude, 90, "latitude")
        _degrees(longitude, 180, "longitude")
        code = None if country is None else country.upper()
        if code is not None and not _COUNTRY.fullmatch(code):
            raise InvalidRecord("site", f"country {country!r} is not an ISO 3166-1 alpha-2 code")
        with session(self.engine) as db:
            row = db.get(Site, key) or Site(
                address=key, name=label, latitude=0.0, longitude=0.0, recorded_at=self._clock()
            )
            row.name, row.latitude, row.longitude = label, float(latitude), float(longitude)
            row.country, row.recorded_at = code, self._clock()
            if location is not None:
                holder = db.exec(select(Site).where(Site.gln == location)).first()
                if holder is not None and holder.address != key:
                    raise Conflict(f"GLN {location}", f"it is already the site of {holder.address}")
            row.gln = location
            db.add(row)
            return _site_read(row)

    def site(self, address: str) -> SiteRead | None:
        with session(self.engine) as db:
            row = db.get(Site, _address(address))
            return None if row is None else _site_read(row)

    def site_by_gln(self, gln: str) -> SiteRead | None:
        """The site with GS1 Global Location Number ``gln`` (13 digits)."""
        with session(self.engine) as db:
            row = db.exec(select(Site).where(Site.gln == gln)).first()
            return None if row is None else _site_read(row)

    def sites(self, addresses: Iterable[str]) -> dict[str, Place]:
        """The known sites among ``addresses``, by checksummed address."""
        with session(self.engine) as db:
            return _places(db, {_address(a) for a in addresses})

    # ───────────── signals ─────────────

    def detect(self, item_ids: Iterable[str]) -> list[NewSignal]:
        """Run clone detection on the items' stored scans; store and return the new signals."""
        keys = sorted({_item_key(i) for i in item_ids})
        found: list[NewSignal] = []
        for chunk in _chunks(keys):
            try:
                found.extend(self._detect(chunk))
            except IntegrityError:
                # Another process stored some of the same signals first: read them and retry.
                found.extend(self._detect(chunk))
        return found

    def signals_for(self, item_ids: Iterable[str]) -> dict[str, list[StoredSignal]]:
        """Each item's stored signals, oldest first (an empty list for an item with none)."""
        keys = sorted({_item_key(i) for i in item_ids})
        found: dict[str, list[StoredSignal]] = {key: [] for key in keys}
        with session(self.engine) as db:
            for chunk in _chunks(keys):
                rows = db.exec(
                    select(ItemSignal)
                    .where(col(ItemSignal.item_id).in_(chunk))
                    .order_by(col(ItemSignal.detected_at), col(ItemSignal.id))
                ).all()
                for row in rows:
                    found[row.item_id].append(
                        StoredSignal(
                            code=row.code,
                            message=row.message,
                            evidence=json.loads(row.evidence_json),
                            detected_at=_utc(row.detected_at),
                        )
                    )
        return found

    def _detect(self, chunk: Sequence[str]) -> list[NewSignal]:
        with session(self.engine) as db:
            items = db.exec(
                select(Item.item_id, Item.brand_id, Item.status, Item.operator).where(
                    col(Item.item_id).in_(chunk)
                )
            ).all()
            if not items:
                return []
            ids = [item_id for item_id, *_ in items]
            events = _events(db, ids)
            scans = _scans(db, ids)
            addresses = {operator for *_, operator in items}
            addresses.update(a for rows in events.values() for e in rows for a in e[2:5] if a)
            places = _places(db, addresses)
            stored = set(
                db.exec(
                    select(ItemSignal.item_id, ItemSignal.code, ItemSignal.key).where(
                        col(ItemSignal.item_id).in_(ids)
                    )
                ).all()
            )
            now = self._clock()
            found: list[NewSignal] = []
            for item_id, brand_id, status, operator in items:
                stage = _stage(status, operator, events.get(item_id, []), places)
                for signal in clone_signals(scans.get(item_id, []), stage, settings=self.rules):
                    if (item_id, signal.code, signal.key) in stored:
                        continue
                    db.add(
                        ItemSignal(
                            item_id=item_id,
                            code=signal.code,
                            key=signal.key,
                            message=signal.message,
                            evidence_json=json.dumps(signal.evidence, sort_keys=True),
                            detected_at=now,
                        )
                    )
                    found.append(NewSignal(item_id, brand_id, signal))
            return found


# ───────────── reading in bulk ─────────────

_Event = tuple[str, int, str | None, str | None, str | None]
"""name, timestamp, from, to, by."""


def _events(db: Session, ids: Sequence[str]) -> dict[str, list[_Event]]:
    query = (
        select_columns(
            col(CustodyEvent.item_id),
            col(CustodyEvent.name),
            col(CustodyEvent.timestamp),
            col(CustodyEvent.from_address),
            col(CustodyEvent.to_address),
            col(CustodyEvent.by_address),
        )
        .where(col(CustodyEvent.item_id).in_(ids))
        .order_by(col(CustodyEvent.item_id), col(CustodyEvent.seq))
    )
    events: dict[str, list[_Event]] = defaultdict(list)
    for item_id, name, timestamp, from_, to, by in db.connection().execute(query):
        events[item_id].append((name, timestamp, from_, to, by))
    return events


def _scans(db: Session, ids: Sequence[str]) -> dict[str, list[ScanPoint]]:
    """Each item's located scans, and for its scans without a location one point per scanner
    at the first and one at the last of them: such scans matter only through who made them
    and when (``too_many_scans``), and a much-scanned code has many of them."""
    located = select_columns(
        col(Scan.id),
        col(Scan.item_id),
        col(Scan.scanned_at),
        col(Scan.latitude),
        col(Scan.longitude),
        col(Scan.ip_hash),
    ).where(col(Scan.item_id).in_(ids), col(Scan.latitude).is_not(None))
    scanners = (
        select_columns(
            col(Scan.item_id),
            col(Scan.ip_hash),
            func.min(Scan.scanned_at),
            func.max(Scan.scanned_at),
        )
        .where(col(Scan.item_id).in_(ids), col(Scan.latitude).is_(None))
        .group_by(col(Scan.item_id), col(Scan.ip_hash))
    )
    scans: dict[str, list[ScanPoint]] = defaultdict(list)
    connection = db.connection()
    for scan_id, item_id, at, latitude, longitude, ip_hash in connection.execute(located):
        if scan_id is not None and item_id is not None:  # always: stored rows, of these items
            scans[item_id].append(ScanPoint(scan_id, _utc(at), latitude, longitude, ip_hash))
    for item_id, ip_hash, first, last in connection.execute(scanners):
        if item_id is not None:
            points = scans[item_id]
            points.append(ScanPoint(_UNSTORED, _utc(first), None, None, ip_hash))
            points.append(ScanPoint(_UNSTORED, _utc(last), None, None, ip_hash))
    return scans


def _places(db: Session, addresses: set[str]) -> dict[str, Place]:
    places: dict[str, Place] = {}
    for chunk in _chunks(sorted(addresses)):
        for row in db.exec(select(Site).where(col(Site.address).in_(chunk))).all():
            places[row.address] = Place(row.latitude, row.longitude, row.name)
    return places


def _stage(status: str, operator: str, events: list[_Event], places: dict[str, Place]) -> ItemStage:
    claims = [t for name, t, *_ in events if name == "ItemClaimed"]
    sales = [t for name, t, *_ in events if name == "RetailSaleRecorded"]
    sale_time = min([*claims, *sales], default=None)
    # Owners since the sale: each claim, and each transfer after it (a resale).
    resales = [
        t
        for name, t, *_ in events
        if name == "CustodyTransferred" and sale_time is not None and t > sale_time
    ]
    path = {operator} | {a for event in events for a in event[2:] if a}
    return ItemStage(
        status=status,
        claimed_at=_from_chain(max(claims)) if claims else None,
        sold_at=_from_chain(min(sales)) if sales else None,
        path_sites=tuple(places[a] for a in sorted(path) if a in places),
        owners=max(1, len(claims) + len(resales)),
    )


# ───────────── helpers ─────────────


def _site_read(row: Site) -> SiteRead:
    return SiteRead(
        address=row.address,
        name=row.name,
        latitude=row.latitude,
        longitude=row.longitude,
        country=row.country,
        recorded_at=_utc(row.recorded_at),
        gln=row.gln,
    )


def _gln(value: str) -> str:
    try:
        return validate_gln(value)
    except IdentifierError as exc:
        raise InvalidRecord("site", str(exc)) from None


def _address(value: str) -> str:
    digits = value[2:] if isinstance(value, str) else ""
    one_case = digits.islower() or digits.isupper()
    if not is_address(value) or not (one_case or is_checksum_address(value)):
        raise InvalidRecord(
            "site",
            f"{value!r} is not a ledger address (0x and 40 hex digits, correctly checksummed "
            "when mixed-case)",
        )
    return to_checksum_address(value)


def _degrees(value: float, limit: int, name: str) -> None:
    if not math.isfinite(value) or not -limit <= value <= limit:
        raise InvalidRecord("site", f"{name} {value} is outside ±{limit}°")


def _item_key(value: str) -> str:
    return parse_item_id(value.lower() if value.startswith("0x") else value).hex()


def _from_chain(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; the store writes UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _chunks(values: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
