"""ledger.store: engines and migrations, item codes, product documents, scans, item reads.

Every test that touches a database runs on SQLite (a file per test) and on PostgreSQL (one
schema per module in the `test` database, emptied before each test, dropped afterwards;
skipped when the server cannot be reached). ``tests/ledger/test_indexer.py`` reuses the
database helpers defined here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import SQLModel, select

from ledger.errors import ConfigError, InvalidGTIN, InvalidRecord, StoreError, VeritagError
from ledger.identifiers import item_id
from ledger.settings import Settings
from ledger.store import (
    CodeRow,
    DocumentStatus,
    ItemRead,
    ScanStats,
    Store,
    canonical_json,
    current_revision,
    default_url,
    document_hash,
    make_engine,
    migrate,
    session,
)
from ledger.store.database import head_revision
from ledger.store.models import (
    CustodyEvent,
    IndexerCheckpoint,
    Item,
    ItemCode,
    ProductDocument,
)

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
"""The machine's PostgreSQL (trust auth); each test module works in a schema of its own."""

GTIN = "00614141123452"
ITEM = item_id(GTIN, "A1")
IP_HASH = "ab" * 32
UA_HASH = "cd" * 32
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DOCUMENT = {
    "name": "Montre Éclat",
    "model": "EC-42",
    "image_url": "https://example.com/ec42.png",
    "lot": "L-7",
    "manufacture_date": "2026-02-14",
    "factory": "Besançon",
    "materials": ["steel", "sapphire"],
}


# ───────────── databases (also used by test_indexer) ─────────────


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A new, empty schema in the `test` database; yields a URL that works inside it."""
    name = f"veritag_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {str(exc.orig).strip()}")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{name}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
        admin.dispose()


def sqlite_engine(directory: Path) -> Engine:
    engine = make_engine(f"sqlite:///{directory / 'store.sqlite'}")
    migrate(engine)
    return engine


def empty_tables(engine: Engine) -> None:
    """Delete every row of the store's tables, children first (quicker than TRUNCATE)."""
    with engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())


@contextmanager
def migrated_postgres() -> Iterator[str]:
    with postgres_schema() as url:
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield url


@contextmanager
def store_engine(kind: str, tmp_path: Path, postgres_url: str | None) -> Iterator[Engine]:
    """A migrated, empty store of ``kind`` (``sqlite`` or ``postgresql``)."""
    if kind == "sqlite":
        engine = sqlite_engine(tmp_path)
    else:
        assert postgres_url is not None
        engine = make_engine(postgres_url)
        empty_tables(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine, clock=lambda: T0)


# ───────────── engines and migrations ─────────────


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migrations_produce_exactly_the_models_schema(kind: str, tmp_path: Path) -> None:
    with (
        postgres_schema() if kind == "postgresql" else _nothing(f"sqlite:///{tmp_path}/m.sqlite")
    ) as url:
        engine = make_engine(url)
        try:
            assert current_revision(engine) is None

            migrate(engine)

            assert current_revision(engine) == head_revision()
            with engine.connect() as connection:
                diffs = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
            assert diffs == []
        finally:
            engine.dispose()


def test_schema_comparison_notices_a_missing_index(tmp_path: Path) -> None:
    # The check above is only worth something if it sees drift.
    engine = sqlite_engine(tmp_path)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_item_custodian")
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()

    assert [(d[0], d[1].name) for d in diffs] == [("add_index", "ix_item_custodian")]


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path)
    migrate(engine)

    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_sqlite_store_uses_wal_and_enforces_foreign_keys(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "nested" / "dir")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(IntegrityError), session(engine) as db:  # an event of no item
        db.add(_event_row("0x" + "11" * 32, 1))
    engine.dispose()


def test_default_url_is_the_sqlite_file_in_the_data_directory(tmp_path: Path) -> None:
    assert default_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/veritag.sqlite"


def test_make_engine_reads_a_plain_postgresql_url_as_psycopg() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:5432/test")

    assert engine.dialect.driver == "psycopg"
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/veritag", "unsupported database 'mysql'"),
        ("not a url", "is not a database URL"),
    ],
)
def test_make_engine_refuses_what_the_store_does_not_run_on(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_engine(url)


def test_settings_read_the_database_url_and_confirmations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERITAG_DATABASE_URL", POSTGRES_URL)
    monkeypatch.setenv("VERITAG_CONFIRMATIONS", "12")

    settings = Settings()

    assert (settings.database_url, settings.confirmations) == (POSTGRES_URL, 12)


def test_store_errors_are_veritag_errors_with_a_status() -> None:
    error = InvalidRecord("scan", "bad")

    assert isinstance(error, StoreError)
    assert isinstance(error, VeritagError)
    assert isinstance(error, ValueError)
    assert error.status == 422


# ───────────── item codes ─────────────


def test_record_codes_keeps_the_code_behind_each_item_id(store: Store) -> None:
    other = item_id(GTIN, "A2")

    recorded = store.record_codes(
        [(GTIN, "A1", ITEM.hex()), CodeRow(gtin=GTIN, serial="A2", item_id=other.hex())]
    )

    assert recorded == 2
    assert store.code(ITEM) == CodeRow(gtin=GTIN, serial="A1", item_id=ITEM.hex())
    assert store.code(other.hex().upper().replace("0X", "0x")) == CodeRow(
        gtin=GTIN, serial="A2", item_id=other.hex()
    )
    assert store.code(item_id(GTIN, "nope")) is None


def test_record_codes_normalises_a_short_gtin_to_fourteen_digits(store: Store) -> None:
    store.record_codes([("614141123452", "A1", ITEM.hex())])

    assert store.code(ITEM) == CodeRow(gtin=GTIN, serial="A1", item_id=ITEM.hex())


def test_record_codes_twice_records_nothing_new(store: Store) -> None:
    store.record_codes([(GTIN, "A1", ITEM.hex())])

    assert store.record_codes([(GTIN, "A1", ITEM.hex())]) == 0


def test_record_codes_refuses_a_row_whose_item_id_is_not_its_hash_and_saves_none(
    store: Store, engine: Engine
) -> None:
    wrong = item_id(GTIN, "B1").hex()

    with pytest.raises(InvalidRecord) as caught:
        store.record_codes([(GTIN, "A1", ITEM.hex()), (GTIN, "A2", wrong)])

    assert caught.value.what == "item code row 2"
    assert caught.value.reason == (f"{GTIN}/A2 hashes to {item_id(GTIN, 'A2').hex()}, not {wrong}")
    assert _count(engine, ItemCode) == 0


def test_record_codes_refuses_an_invalid_gtin(store: Store) -> None:
    with pytest.raises(InvalidRecord, match=r"item code row 1: invalid GTIN '00614141123453'"):
        store.record_codes([("00614141123453", "A1", ITEM.hex())])


def test_a_gtin_and_serial_name_one_item_id_only(engine: Engine) -> None:
    with session(engine) as db:
        db.add(ItemCode(item_id=ITEM.hex(), gtin=GTIN, serial="A1", recorded_at=T0))
    with pytest.raises(IntegrityError), session(engine) as db:
        db.add(ItemCode(item_id="0x" + "22" * 32, gtin=GTIN, serial="A1", recorded_at=T0))


# ───────────── items and histories ─────────────


def test_item_and_history_read_what_the_indexer_stored_and_say_what_is_final(
    store: Store, engine: Engine
) -> None:
    _store_item(engine, ITEM.hex(), events=3, confirmed_block=11)

    item = store.item(ITEM)
    history = store.history(ITEM.hex())

    assert isinstance(item, ItemRead)
    assert (item.seq, item.status, item.last_block, item.confirmed) == (3, "active", 12, False)
    assert [(e.seq, e.block_number, e.confirmed) for e in history] == [
        (1, 10, True),
        (2, 11, True),
        (3, 12, False),
    ]
    assert store.item_by_code(GTIN, "A1") == item
    assert store.items_held_by(item.custodian.lower()) == [item]
    assert store.items_held_by("0x" + "cc" * 20) == []


def test_item_of_an_unindexed_id_is_none_and_its_history_empty(store: Store) -> None:
    assert store.item(ITEM) is None
    assert store.item_by_code(GTIN, "A1") is None
    assert store.history(ITEM) == []


def test_item_by_code_refuses_an_invalid_gtin(store: Store) -> None:
    with pytest.raises(InvalidGTIN):
        store.item_by_code("00614141123453", "A1")


# ───────────── product documents ─────────────


def test_canonical_json_sorts_keys_drops_whitespace_and_escapes_non_ascii() -> None:
    document = {"b": 1, "a": {"y": "é", "x": [1, 2]}}

    assert canonical_json(document) == b'{"a":{"x":[1,2],"y":"\\u00e9"},"b":1}'
    assert document_hash(document) == "0x" + keccak(canonical_json(document)).hex()


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        canonical_json({"weight": float("nan")})


def test_record_document_returns_its_hash_and_keeps_it_canonical(
    store: Store, engine: Engine
) -> None:
    doc_hash = store.record_document(DOCUMENT)

    assert doc_hash == document_hash(DOCUMENT)
    stored = store.document(doc_hash)
    assert stored is not None
    assert (stored.document, stored.recorded_at) == (DOCUMENT, T0)
    with session(engine) as db:
        row = db.get(ProductDocument, doc_hash)
        assert row is not None
        assert row.document_json.encode() == canonical_json(DOCUMENT)
        assert (row.name, row.model, row.manufacture_date, row.factory) == (
            "Montre Éclat",
            "EC-42",
            "2026-02-14",
            "Besançon",
        )


def test_record_document_twice_keeps_one_copy(store: Store, engine: Engine) -> None:
    first = store.record_document(DOCUMENT)

    assert store.record_document(dict(reversed(DOCUMENT.items()))) == first
    assert _count(engine, ProductDocument) == 1


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (["not", "an", "object"], "it must be a JSON object"),
        ({"name": 42}, "name: Input should be a valid string"),
        ({"manufacture_date": "14/02/2026"}, "manufacture_date '14/02/2026' is not a date"),
        ({"weight": float("inf")}, "it is not JSON"),
        ({"when": datetime(2026, 1, 1)}, "it is not JSON"),
    ],
)
def test_record_document_refuses_what_is_not_a_product_document(
    store: Store, document: Any, reason: str
) -> None:
    with pytest.raises(InvalidRecord) as caught:
        store.record_document(document)

    assert caught.value.what == "product document"
    assert caught.value.reason.startswith(reason)


@pytest.mark.parametrize("on_chain", [None, "0x" + "00" * 32])
def test_document_check_of_an_item_without_document_is_none(
    store: Store, on_chain: str | None
) -> None:
    check = store.document_matches(_Chain(on_chain))

    assert (check.status, check.document) == (DocumentStatus.NONE, None)


def test_document_check_of_a_stored_document_is_a_match_that_carries_it(store: Store) -> None:
    doc_hash = store.record_document(DOCUMENT)

    check = store.document_matches(_Chain(doc_hash.upper().replace("0X", "0x")))

    assert check.status is DocumentStatus.MATCH
    assert check.genuine
    assert check.document == DOCUMENT


def test_document_check_of_a_document_the_store_lacks_is_missing(store: Store) -> None:
    check = store.document_matches(_Chain(document_hash(DOCUMENT)))

    assert (check.status, check.document) == (DocumentStatus.MISSING, None)


def test_a_stored_document_altered_after_the_fact_is_reported_never_shown(
    store: Store, engine: Engine
) -> None:
    doc_hash = store.record_document(DOCUMENT)
    forged = {**DOCUMENT, "factory": "somewhere else"}
    _tamper(engine, doc_hash, forged)

    check = store.document_matches(_Chain(doc_hash))

    assert check.status is DocumentStatus.MISMATCH
    assert not check.genuine
    assert check.document is None
    assert (check.doc_hash, check.stored_hash) == (doc_hash, document_hash(forged))
    # Recording the genuine document again repairs the copy.
    store.record_document(DOCUMENT)
    assert store.document_matches(_Chain(doc_hash)).status is DocumentStatus.MATCH


def test_product_document_hands_the_stored_content_to_a_caller_that_checks_it(
    store: Store, engine: Engine
) -> None:
    doc_hash = store.record_document(DOCUMENT)
    _tamper(engine, doc_hash, {"name": "fake"})

    content = store.product_document(doc_hash)

    assert content == {"name": "fake"}
    assert content is not None
    assert document_hash(content) != doc_hash
    assert store.product_document(document_hash({"other": 1})) is None


# ───────────── scans ─────────────


def test_record_scan_keeps_hashes_and_a_coarse_location(store: Store, engine: Engine) -> None:
    store.record_scan(
        item_id=ITEM,
        gtin="614141123452",
        serial="A1",
        scanned_at=T0,
        latitude=48.85837,
        longitude=-2.29448,
        ip_hash="0x" + IP_HASH.upper(),
        ua_hash=UA_HASH,
        country="fr",
    )

    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT item_id, gtin, latitude, longitude, country, ip_hash, ua_hash FROM scan")
        ).one()
    assert tuple(row) == (ITEM.hex(), GTIN, 48.9, -2.3, "FR", IP_HASH, UA_HASH)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ip_hash": "203.0.113.7"}, "ip_hash must be a hash"),
        ({"ua_hash": "Mozilla/5.0"}, "ua_hash must be a hash"),
        ({"scanned_at": datetime(2026, 3, 1, 12)}, "scanned_at must carry a time zone"),
        ({"latitude": 91.0}, "latitude 91.0 is outside ±90"),
        ({"longitude": -180.5}, "longitude -180.5 is outside ±180"),
        ({"country": "France"}, "country 'France' is not an ISO 3166-1 alpha-2 code"),
    ],
)
def test_record_scan_refuses_personal_or_malformed_data(
    store: Store, engine: Engine, change: dict[str, Any], reason: str
) -> None:
    scan: dict[str, Any] = {
        "item_id": ITEM,
        "gtin": GTIN,
        "serial": "A1",
        "scanned_at": T0,
        "ip_hash": IP_HASH,
        "ua_hash": UA_HASH,
    }

    with pytest.raises(InvalidRecord) as caught:
        store.record_scan(**{**scan, **change})

    assert caught.value.reason.startswith(reason)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM scan")).scalar() == 0


def test_scan_stats_count_the_item_s_scans_and_the_first_in_utc(store: Store) -> None:
    paris = timezone(timedelta(hours=1))
    for when, item in [
        (T0 + timedelta(days=2), ITEM),
        (datetime(2026, 3, 1, 9, 30, tzinfo=paris), ITEM),  # 08:30 UTC, the earliest
        (T0 - timedelta(days=30), None),  # an unregistered code: not this item's
        (T0 - timedelta(days=40), item_id(GTIN, "A2")),
    ]:
        store.record_scan(
            item_id=item,
            gtin=GTIN,
            serial="A1",
            scanned_at=when,
            ip_hash=IP_HASH,
            ua_hash=UA_HASH,
        )

    stats = store.scan_stats(ITEM.hex())

    assert stats == ScanStats(2, datetime(2026, 3, 1, 8, 30, tzinfo=UTC))
    assert stats.first_seen is not None
    assert stats.first_seen.utcoffset() == timedelta(0)
    count, first_seen = stats  # unpacks as the API's (count, first_seen)
    assert (count, first_seen) == (stats.scans, stats.first_seen)
    assert store.scan_stats(item_id(GTIN, "never")) == ScanStats(0, None)


# ───────────── helpers ─────────────


class _Chain:
    """Stands for anything carrying an on-chain document hash."""

    def __init__(self, doc_hash: str | None) -> None:
        self.doc_hash = doc_hash


@contextmanager
def _nothing(value: str) -> Iterator[str]:
    yield value


def _count(engine: Engine, table: type[SQLModel]) -> int:
    with session(engine) as db:
        return len(db.exec(select(table)).all())


def _tamper(engine: Engine, doc_hash: str, content: dict[str, Any]) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE product_document SET document_json = :j WHERE doc_hash = :h"),
            {"j": canonical_json(content).decode(), "h": doc_hash},
        )


def _event_row(item: str, seq: int, block: int = 10) -> CustodyEvent:
    return CustodyEvent(
        item_id=item,
        seq=seq,
        name="ItemRegistered" if seq == 1 else "RecallLifted",
        by_address="0x" + "aa" * 20,
        block_number=block,
        block_hash="0x" + f"{block:064x}",
        tx_hash="0x" + f"{block * 100 + seq:064x}",
        log_index=0,
        timestamp=1_700_000_000 + block,
    )


def _store_item(engine: Engine, item: str, *, events: int, confirmed_block: int) -> None:
    custodian = to_checksum_address("0x" + "bb" * 20)
    with session(engine) as db:
        db.add(
            Item(
                item_id=item,
                brand_id=1,
                operator=custodian,
                custodian=custodian,
                status="active",
                seq=events,
                registered_at=1_700_000_010,
                registered_block=10,
                last_block=9 + events,
            )
        )
        db.flush()
        for seq in range(1, events + 1):
            db.add(_event_row(item, seq, block=9 + seq))
        db.add(
            IndexerCheckpoint(
                chain_id=1,
                contract="0x" + "cc" * 20,
                last_indexed_block=9 + events,
                last_block_hash="0x" + "ee" * 32,
                confirmed_block=confirmed_block,
            )
        )
