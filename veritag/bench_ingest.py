"""`veritag bench ingest`: how fast the indexer takes a registry's events in from anvil.

One run: a private anvil node; a registry with one brand; ``items`` items registered in
batches of 500 (one ``BatchItemRegistered`` per item) and then shipped and received in
batches (two more events per item), so the chain holds three item events per item. Then a
fresh SQLite store indexes the whole chain from block 0 with ``Indexer.sync()``, timed; this is
repeated ``rounds`` times on fresh stores and the median reported. The baseline, measured in
the same run, is the bare ``eth_getLogs`` reads of the same blocks (what ingest costs before
any decoding and writing).
"""

from __future__ import annotations

import os
import resource
import socket
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import func, select

from ledger.anvil import AnvilNode
from ledger.identifiers import item_id
from ledger.indexer import Indexer
from ledger.registry import Registry
from ledger.settings import Settings
from ledger.store.database import make_engine, migrate, session
from ledger.store.models import CustodyEvent
from veritag.session import Session

__all__ = ["IngestBench", "run_ingest_bench"]

GTIN = "00614141123452"
PREFIX = "0614141"
BATCH = 500


@dataclass(frozen=True)
class IngestBench:
    items: int
    events: int
    blocks: int
    rounds: int
    events_per_second_median: float
    events_per_second_each: list[float]
    seconds_median: float
    baseline_get_logs_events_per_second: float
    target_events_per_second: int
    peak_rss_mb: float
    conditions: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def run_ingest_bench(items: int = 10_000, rounds: int = 3) -> IngestBench:
    with tempfile.TemporaryDirectory(prefix="veritag-bench-ingest-") as tmp:
        root = Path(tmp)
        anvil = AnvilNode(root / "chain", port=_free_port())
        anvil.start()
        try:
            registry = _seed(root / "data", anvil.url, items)
            head = registry.w3.eth.block_number
            baseline = _get_logs_rate(registry, head)
            seconds: list[float] = []
            events = 0
            for round_ in range(rounds):
                engine = make_engine(f"sqlite:///{root / f'ingest-{round_}.sqlite'}")
                migrate(engine)
                indexer = Indexer(registry, engine)
                started = time.perf_counter()
                indexer.sync()
                seconds.append(time.perf_counter() - started)
                events = _indexed_events(engine)
                engine.dispose()
        finally:
            anvil.stop()
    rates = [events / s for s in seconds]
    return IngestBench(
        items=items,
        events=events,
        blocks=head + 1,
        rounds=rounds,
        events_per_second_median=round(statistics.median(rates), 1),
        events_per_second_each=[round(r, 1) for r in rates],
        seconds_median=round(statistics.median(seconds), 3),
        baseline_get_logs_events_per_second=round(baseline, 1),
        target_events_per_second=5_000,
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        conditions=(
            f"anvil (private, automine) and the indexer in one Python process, SQLite file "
            f"store, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end"
        ),
    )


def _seed(data_dir: Path, rpc_url: str, items: int) -> Registry:
    session = Session(Settings(data_dir=data_dir, rpc_url=rpc_url))
    admin, brand_admin, factory, distributor = session.chain.dev_accounts[:4]
    registry = session.deploy(admin)
    brand = registry.admit_brand(admin, brand_admin.address, "Bench", [PREFIX])
    registry.add_operator(brand_admin, brand, factory.address)
    ids = [item_id(GTIN, f"I{n}") for n in range(items)]
    for start in range(0, items, BATCH):
        chunk = ids[start : start + BATCH]
        registry.register_batch(factory, chunk)
        registry.ship_batch(factory, chunk, distributor.address)
        registry.receive_batch(distributor, chunk)
    return registry


def _get_logs_rate(registry: Registry, head: int) -> float:
    started = time.perf_counter()
    logs = registry.w3.eth.get_logs({"address": registry.address, "fromBlock": 0, "toBlock": head})
    return len(logs) / (time.perf_counter() - started)


def _indexed_events(engine: Engine) -> int:
    with session(engine) as db:
        return int(db.exec(select(func.count()).select_from(CustodyEvent)).one())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
