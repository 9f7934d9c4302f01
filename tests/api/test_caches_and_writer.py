"""The scan path's caches and its write-behind: answers name their block, scans are kept."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from api.scan_writer import ScanWriter
from api.verdict_cache import VerdictCache
from ledger.chain import Chain
from ledger.errors import StoreUnavailable
from ledger.registry import Registry
from ledger.store.models import Scan
from ledger.store.repository import ScanRecord, Store
from veritag.demo_seed import DEMO_GTIN


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_cached_answer_is_reused_only_at_the_same_head_block(
    api_chain: Chain, api_registry: Registry, demo_urls: dict[str, str]
) -> None:
    clock = FakeClock()
    cache = VerdictCache(api_registry, head_ttl=0.5, monotonic=clock)
    first = cache.verdict(DEMO_GTIN, "DEMO-SHOP")
    assert cache.verdict(DEMO_GTIN, "DEMO-SHOP") is first
    assert first.proof.block == api_registry.w3.eth.block_number

    api_chain.mine()
    assert cache.verdict(DEMO_GTIN, "DEMO-SHOP") is first  # head read less than 0.5 s ago
    clock.now += 1
    fresh = cache.verdict(DEMO_GTIN, "DEMO-SHOP")
    assert fresh is not first
    assert fresh.proof.block == first.proof.block + 1


def test_the_cache_forgets_the_least_recently_used_answers(
    api_registry: Registry, demo_urls: dict[str, str]
) -> None:
    cache = VerdictCache(api_registry, max_entries=2)
    a = cache.verdict(DEMO_GTIN, "DEMO-SHOP")
    cache.verdict(DEMO_GTIN, "DEMO-STOLEN")
    cache.verdict(DEMO_GTIN, "DEMO-SHOP")
    cache.verdict(DEMO_GTIN, "DEMO-RECALLED")  # evicts DEMO-STOLEN, the least recent
    assert cache.verdict(DEMO_GTIN, "DEMO-SHOP") is a
    assert len(cache._entries) == 2


def _scan(serial: str) -> ScanRecord:
    return ScanRecord(
        item_id=None,
        gtin=DEMO_GTIN,
        serial=serial,
        scanned_at=datetime.now(UTC),
        ip_hash="a" * 64,
        ua_hash="b" * 64,
    )


def _stored(store: Store, serial: str) -> int:
    with Session(store.engine) as db:
        return len(db.exec(select(Scan).where(Scan.serial == serial)).all())


def test_queued_scans_are_stored_by_flush_and_on_stop(store: Store) -> None:
    writer = ScanWriter(store, interval=60)  # the thread would wait a minute: flush must do it
    writer.start()
    writer.submit(_scan("W-1"))
    writer.submit(_scan("W-2"))
    assert _stored(store, "W-1") == 0
    assert writer.flush() == 2
    assert (_stored(store, "W-1"), _stored(store, "W-2")) == (1, 1)
    writer.submit(_scan("W-3"))
    writer.stop()
    assert _stored(store, "W-3") == 1
    assert writer.flush() == 0


def test_a_writer_that_was_never_started_writes_at_once(store: Store) -> None:
    writer = ScanWriter(store)
    writer.submit(_scan("W-4"))
    assert _stored(store, "W-4") == 1


@contextmanager
def _scan_table_gone(store: Store) -> Iterator[None]:
    """The store refuses every scan write until the block ends (a real SQL failure)."""
    with store.engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE scan RENAME TO scan_away")
    try:
        yield
    finally:
        with store.engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE scan_away RENAME TO scan")


def test_scans_a_failed_write_could_not_store_are_stored_by_the_next_flush(
    store: Store,
) -> None:
    writer = ScanWriter(store, interval=60)
    writer.start()
    writer.submit(_scan("W-5"))
    writer.submit(_scan("W-6"))
    with _scan_table_gone(store), pytest.raises(StoreUnavailable, match="no such table: scan"):
        writer.flush()
    writer.submit(_scan("W-7"))
    assert writer.flush() == 3
    assert [_stored(store, s) for s in ("W-5", "W-6", "W-7")] == [1, 1, 1]
    writer.stop()


def test_a_writer_keeps_at_most_max_retained_unstored_scans_the_newest(store: Store) -> None:
    writer = ScanWriter(store, interval=60, max_retained=1)
    writer.start()
    writer.submit(_scan("W-8"))
    writer.submit(_scan("W-9"))
    with _scan_table_gone(store), pytest.raises(StoreUnavailable):
        writer.flush()
    assert writer.flush() == 1
    assert (_stored(store, "W-8"), _stored(store, "W-9")) == (0, 1)
    writer.stop()
