"""The queries the rest of Veritag asks of the store, each in its own short transaction.

Reads of chain-derived data (items, histories) say whether they are ``confirmed``: in a
block the indexer took as final. The store's own data (codes, documents, scans) is checked
on the way in: an item code must hash to its item id, a document is kept in its canonical
form under its hash, and a scan holds no personal data (hashes and a coarse location).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from pydantic import ValidationError
from sqlalchemy import Engine, func, insert
from sqlmodel import Session, col, select

from ledger.errors import InvalidRecord, VeritagError
from ledger.identifiers import (
    ItemId,
    gs1_company_prefix_candidates,
    parse_item_id,
    validate_gtin,
    validate_serial,
)
from ledger.identifiers import item_id as compute_item_id
from ledger.store.containers import top_container_state
from ledger.store.database import session
from ledger.store.documents import KNOWN_FIELDS, canonical_json, document_hash
from ledger.store.models import (
    Brand,
    BrandPrefix,
    CustodyEvent,
    IndexerCheckpoint,
    Item,
    ItemCode,
    ProductDocument,
    Scan,
)
from ledger.store.schemas import (
    BrandRead,
    CodeRow,
    CustodyEventRead,
    DocumentCheck,
    DocumentStatus,
    ItemRead,
    ProductDocumentIn,
    ScanStats,
    StoredDocument,
)

__all__ = ["HasDocHash", "ScanRecord", "Store"]

_CHUNK = 500
_ZERO_HASH = "0x" + "00" * 32
_HEX_HASH = re.compile(r"(?:0x)?([0-9a-f]{64})")
_COUNTRY = re.compile(r"[A-Z]{2}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class HasDocHash(Protocol):
    """Anything that carries an item's on-chain document hash (an ``ItemRead``, a verdict)."""

    @property
    def doc_hash(self) -> str | None: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _item_key(value: ItemId | str) -> str:
    return value.hex() if isinstance(value, ItemId) else parse_item_id(value).hex()


class Store:
    """The store behind ``engine`` (migrated with ``ledger.store.database.migrate``)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.engine = engine
        self._clock = clock

    # ───────────── item codes (the store's own) ─────────────

    def record_codes(self, rows: Iterable[CodeRow | tuple[str, str, str]]) -> int:
        """Remember the GTIN and serial behind each item id; returns how many were new.

        Every row is checked first (the item id must be ``item_id(gtin, serial)``); one bad
        row and nothing is saved. Rows already recorded are skipped.
        """
        codes: dict[str, tuple[str, str]] = {}
        for number, row in enumerate(rows, start=1):
            code = (
                row
                if isinstance(row, CodeRow)
                else CodeRow(gtin=row[0], serial=row[1], item_id=row[2])
            )
            try:
                expected = compute_item_id(code.gtin, code.serial)
                given = parse_item_id(code.item_id)
            except VeritagError as exc:
                raise InvalidRecord(f"item code row {number}", str(exc)) from None
            if given != expected:
                raise InvalidRecord(
                    f"item code row {number}",
                    f"{code.gtin}/{code.serial} hashes to {expected.hex()}, not {given.hex()}",
                )
            codes[expected.hex()] = (validate_gtin(code.gtin), validate_serial(code.serial))
        now = self._clock()
        recorded = 0
        ids = sorted(codes)
        with session(self.engine) as db:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                known = set(
                    db.exec(select(ItemCode.item_id).where(col(ItemCode.item_id).in_(chunk)))
                )
                new = [
                    {"item_id": i, "gtin": codes[i][0], "serial": codes[i][1], "recorded_at": now}
                    for i in chunk
                    if i not in known
                ]
                if new:
                    db.exec(insert(ItemCode), params=new)
                recorded += len(new)
        return recorded

    def code(self, item_id: ItemId | str) -> CodeRow | None:
        """The GTIN and serial behind an item id, if recorded."""
        with session(self.engine) as db:
            row = db.get(ItemCode, _item_key(item_id))
            if row is None:
                return None
            return CodeRow(gtin=row.gtin, serial=row.serial, item_id=row.item_id)

    def batch_codes(self, batch_id: ItemId | str) -> tuple[list[CodeRow], list[str]]:
        """The codes of a batch's indexed items, in registration order, and the ids of its
        items whose GTIN and serial the store does not hold."""
        with session(self.engine) as db:
            rows = db.exec(
                select(Item.item_id, ItemCode.gtin, ItemCode.serial)
                .join(ItemCode, col(ItemCode.item_id) == col(Item.item_id), isouter=True)
                .where(Item.batch_id == _item_key(batch_id))
                .order_by(col(Item.registered_block), col(Item.item_id))
            ).all()
        found = [CodeRow(gtin=g, serial=s, item_id=i) for i, g, s in rows if g is not None]
        missing = [i for i, g, _ in rows if g is None]
        return found, missing

    # ───────────── items (derived from the chain) ─────────────

    def item_by_code(self, gtin: str, serial: str) -> ItemRead | None:
        """The indexed item a GTIN and serial name. The id is computed, so no code record is
        needed: as on chain, the code hashes to the item."""
        return self.item(compute_item_id(gtin, serial))

    def item(self, item_id: ItemId | str) -> ItemRead | None:
        """The item as indexed, or None when the store does not know it. A packed item reads
        its top container's custodian, consignee and status, as on chain."""
        with session(self.engine) as db:
            row = db.get(Item, _item_key(item_id))
            if row is None:
                return None
            confirmed = _confirmed_block(db)
            values = {**row.model_dump(), "confirmed": row.last_block <= confirmed}
            values.update(top_container_state(db, row))
            return ItemRead.model_validate(values)

    def items_held_by(self, custodian: str, *, limit: int = 100, offset: int = 0) -> list[ItemRead]:
        """Items whose custodian is ``custodian``, oldest first."""
        with session(self.engine) as db:
            rows = db.exec(
                select(Item)
                .where(Item.custodian == to_checksum_address(custodian))
                .order_by(col(Item.registered_block), col(Item.item_id))
                .offset(offset)
                .limit(limit)
            ).all()
            confirmed = _confirmed_block(db)
            return [
                ItemRead.model_validate({**r.model_dump(), "confirmed": r.last_block <= confirmed})
                for r in rows
            ]

    def history(self, item_id: ItemId | str) -> list[CustodyEventRead]:
        """The item's events in order, seq 1 first (empty when it is not indexed)."""
        with session(self.engine) as db:
            rows = db.exec(
                select(CustodyEvent)
                .where(CustodyEvent.item_id == _item_key(item_id))
                .order_by(col(CustodyEvent.seq))
            ).all()
            confirmed = _confirmed_block(db)
            return [
                CustodyEventRead.model_validate(
                    {**r.model_dump(), "confirmed": r.block_number <= confirmed}
                )
                for r in rows
            ]

    def brand(self, brand_id: int) -> BrandRead | None:
        with session(self.engine) as db:
            row = db.get(Brand, brand_id)
            if row is None:
                return None
            prefixes = db.exec(
                select(BrandPrefix.prefix)
                .where(BrandPrefix.brand_id == brand_id)
                .order_by(col(BrandPrefix.prefix))
            ).all()
            return BrandRead(
                brand_id=row.brand_id,
                admin=row.admin,
                name=row.name,
                suspended_from=row.suspended_from,
                prefixes=list(prefixes),
            )

    def brand_of_gtin(self, gtin: str) -> int | None:
        """The indexed brand that holds the GS1 company prefix of ``gtin``, if any (as
        ``Registry.brand_of_gtin`` answers on chain)."""
        candidates = list(gs1_company_prefix_candidates(gtin))
        with session(self.engine) as db:
            rows = db.exec(
                select(BrandPrefix.prefix, BrandPrefix.brand_id).where(
                    col(BrandPrefix.prefix).in_(candidates)
                )
            ).all()
        owners = dict(rows)
        return next((owners[p] for p in candidates if p in owners), None)

    def indexed_block(self) -> int | None:
        """The last block indexed (None before the first sync): what derived reads are as of."""
        with session(self.engine) as db:
            value = db.exec(select(func.max(IndexerCheckpoint.last_indexed_block))).one()
        return None if value is None else int(value)

    # ───────────── product documents (the store's own) ─────────────

    def record_document(self, document: Mapping[str, Any]) -> str:
        """Keep a product data document; returns its hash (see ``ledger.store.documents``).

        Recording the same document again changes nothing (and repairs a stored copy whose
        content no longer matches its hash).
        """
        if not isinstance(document, Mapping):
            raise InvalidRecord("product document", "it must be a JSON object")
        try:
            fields = ProductDocumentIn.model_validate(dict(document))
            text = canonical_json(document).decode("ascii")
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise InvalidRecord("product document", problems) from None
        except (TypeError, ValueError) as exc:
            raise InvalidRecord("product document", f"it is not JSON ({exc})") from None
        if fields.manufacture_date is not None and not _DATE.fullmatch(fields.manufacture_date):
            raise InvalidRecord(
                "product document",
                f"manufacture_date {fields.manufacture_date!r} is not a date as YYYY-MM-DD",
            )
        doc_hash = document_hash(document)
        values = {name: getattr(fields, name) for name in KNOWN_FIELDS}
        with session(self.engine) as db:
            row = db.get(ProductDocument, doc_hash)
            if row is None:
                db.add(
                    ProductDocument(
                        doc_hash=doc_hash, document_json=text, recorded_at=self._clock(), **values
                    )
                )
            elif row.document_json != text:
                row.document_json = text
                row.sqlmodel_update(values)
                db.add(row)
        return doc_hash

    def document(self, doc_hash: str) -> StoredDocument | None:
        """The document stored under ``doc_hash``, as stored: check it before showing it
        (:meth:`document_matches`)."""
        with session(self.engine) as db:
            row = db.get(ProductDocument, doc_hash.lower())
            if row is None:
                return None
            return StoredDocument(
                doc_hash=row.doc_hash,
                document=json.loads(row.document_json),
                recorded_at=row.recorded_at,
            )

    def product_document(self, doc_hash: str) -> dict[str, Any] | None:
        """The stored document's content, unchecked (the API compares its hash itself)."""
        stored = self.document(doc_hash)
        return None if stored is None else stored.document

    def document_matches(self, item: HasDocHash) -> DocumentCheck:
        """Whether the store holds the document the chain names for ``item``, unaltered.

        Only a ``MATCH`` carries the document; a stored copy whose content hashes to
        anything but the on-chain hash is a ``MISMATCH`` and is never handed out.
        """
        on_chain = item.doc_hash.lower() if item.doc_hash else None
        if on_chain is None or on_chain == _ZERO_HASH:
            return DocumentCheck(status=DocumentStatus.NONE, doc_hash=None)
        with session(self.engine) as db:
            row = db.get(ProductDocument, on_chain)
            text = None if row is None else row.document_json
        if text is None:
            return DocumentCheck(status=DocumentStatus.MISSING, doc_hash=on_chain)
        stored_hash = "0x" + keccak(text.encode()).hex()
        if stored_hash != on_chain:
            return DocumentCheck(
                status=DocumentStatus.MISMATCH, doc_hash=on_chain, stored_hash=stored_hash
            )
        return DocumentCheck(
            status=DocumentStatus.MATCH,
            doc_hash=on_chain,
            stored_hash=stored_hash,
            document=json.loads(text),
        )

    # ───────────── scans (the store's own) ─────────────

    def record_scan(
        self,
        *,
        item_id: ItemId | str | None,
        gtin: str,
        serial: str,
        scanned_at: datetime,
        latitude: float | None = None,
        longitude: float | None = None,
        ip_hash: str,
        ua_hash: str,
        country: str | None = None,
    ) -> None:
        """Keep one scan. Location is rounded to one decimal (about 11 km); the client's IP
        and user agent must come as hashes (64 hex digits, salted by the caller), never raw.
        """
        self.record_scans(
            [
                ScanRecord(
                    item_id=None if item_id is None else _item_key(item_id),
                    gtin=gtin,
                    serial=serial,
                    scanned_at=scanned_at,
                    latitude=latitude,
                    longitude=longitude,
                    ip_hash=ip_hash,
                    ua_hash=ua_hash,
                    country=country,
                )
            ]
        )

    def record_scans(self, scans: Sequence[ScanRecord]) -> None:
        """Keep many scans in one transaction; every one is checked first, none or all kept."""
        rows = [_scan_row(scan) for scan in scans]
        with session(self.engine) as db:
            db.add_all(rows)

    def scan_stats(self, item_id: ItemId | str) -> ScanStats:
        """How many scans the item has had, and when the first was."""
        with session(self.engine) as db:
            count, first = db.exec(
                select(func.count(), func.min(Scan.scanned_at)).where(
                    Scan.item_id == _item_key(item_id)
                )
            ).one()
        return ScanStats(int(count), first)


@dataclass(frozen=True)
class ScanRecord:
    """One scan as a client reported it (hashes only; see ``Store.record_scan``)."""

    item_id: str | None
    gtin: str
    serial: str
    scanned_at: datetime
    ip_hash: str
    ua_hash: str
    latitude: float | None = None
    longitude: float | None = None
    country: str | None = None


def _scan_row(scan: ScanRecord) -> Scan:
    if scan.scanned_at.utcoffset() is None:
        raise InvalidRecord("scan", "scanned_at must carry a time zone")
    country = scan.country
    if country is not None and not _COUNTRY.fullmatch(country.upper()):
        raise InvalidRecord("scan", f"country {country!r} is not an ISO 3166-1 alpha-2 code")
    return Scan(
        item_id=None if scan.item_id is None else _item_key(scan.item_id),
        gtin=validate_gtin(scan.gtin),
        serial=validate_serial(scan.serial),
        scanned_at=scan.scanned_at,
        latitude=_coarse(scan.latitude, 90, "latitude"),
        longitude=_coarse(scan.longitude, 180, "longitude"),
        country=None if country is None else country.upper(),
        ip_hash=_digest(scan.ip_hash, "ip_hash"),
        ua_hash=_digest(scan.ua_hash, "ua_hash"),
    )


def _confirmed_block(db: Session) -> int:
    value = db.exec(select(func.max(IndexerCheckpoint.confirmed_block))).one()
    return -1 if value is None else int(value)


def _coarse(value: float | None, limit: int, name: str) -> float | None:
    if value is None:
        return None
    if not -limit <= value <= limit:
        raise InvalidRecord("scan", f"{name} {value} is outside ±{limit}")
    return round(value, 1)


def _digest(value: str, name: str) -> str:
    match = _HEX_HASH.fullmatch(value.lower())
    if match is None:
        raise InvalidRecord(
            "scan",
            f"{name} must be a hash (64 hex digits, e.g. salted SHA-256), never the raw value",
        )
    return match[1]
