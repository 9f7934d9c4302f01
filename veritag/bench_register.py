"""`veritag bench register`: items registered per second end to end, through the API on anvil.

One run: a private anvil node; a registry with one brand whose operator is a brand
organisation's sending account; the whole ASGI app (TestClient, SQLite file store) with the
outbox's submitter signing and sending. Each round posts ``items`` items to
``POST /v1/items/register`` in requests of 500 (the registry's batch size), then runs the
submitter until every operation is confirmed on chain; the time from the first request to
the last confirmation is the round's. The baseline, measured in the same run, is one item per
request for ``baseline_items`` items, the same way.
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

from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from ledger.anvil import AnvilNode
from ledger.outbox import OpStatus, Outbox, Senders, Submitter, signers_from_accounts
from ledger.settings import Settings
from ledger.store.database import make_engine, migrate
from ledger.store.orgs import Organisations, Role
from ledger.store.repository import Store
from veritag.session import Session

__all__ = ["RegisterBench", "run_register_bench"]

GTIN = "00614141123452"
PREFIX = "0614141"
REQUEST_ITEMS = 500


@dataclass(frozen=True)
class RegisterBench:
    items_per_round: int
    rounds: int
    items_per_second_median: float
    items_per_second_each: list[float]
    baseline_items: int
    baseline_single_items_per_second: float
    batch_speedup: float
    peak_rss_mb: float
    conditions: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def run_register_bench(
    items: int = 5_000, rounds: int = 3, baseline_items: int = 50
) -> RegisterBench:
    with tempfile.TemporaryDirectory(prefix="veritag-bench-register-") as tmp:
        root = Path(tmp)
        anvil = AnvilNode(root / "chain", port=_free_port())
        anvil.start()
        try:
            seconds, single_seconds = _run(root, anvil.url, items, rounds, baseline_items)
        finally:
            anvil.stop()
    rates = [items / s for s in seconds]
    single_rate = baseline_items / single_seconds
    median = statistics.median(rates)
    return RegisterBench(
        items_per_round=items,
        rounds=rounds,
        items_per_second_median=round(median, 1),
        items_per_second_each=[round(r, 1) for r in rates],
        baseline_items=baseline_items,
        baseline_single_items_per_second=round(single_rate, 1),
        batch_speedup=round(median / single_rate, 1),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        conditions=(
            f"TestClient → the FastAPI app → outbox (SQLite file) → submitter (one thread, "
            f"local signer) → anvil (automine), {REQUEST_ITEMS} items per request; "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end"
        ),
    )


def _run(
    root: Path, rpc_url: str, items: int, rounds: int, baseline_items: int
) -> tuple[list[float], float]:
    session = Session(Settings(data_dir=root / "data", rpc_url=rpc_url))
    admin, brand_admin, factory = session.chain.dev_accounts[:3]
    registry = session.deploy(admin)
    brand = registry.admit_brand(admin, brand_admin.address, "Bench", [PREFIX])
    registry.add_operator(brand_admin, brand, factory.address)
    engine = make_engine(f"sqlite:///{root / 'bench.sqlite'}")
    migrate(engine)
    org, key = Organisations(engine).create("Bench Brand", Role.BRAND, brand_id=brand)
    Senders(engine).assign(org.id, factory.address, registry.chain_id)
    submitter = Submitter(engine, registry, signers_from_accounts(engine, [factory]))
    headers = {"Authorization": f"Bearer {key}"}
    services = Services(registry, Store(engine), hash_salt=b"bench")
    outbox = Outbox(engine)
    serial = iter(range(10**9))
    with TestClient(create_app(services)) as client:

        def register(count: int, per_request: int) -> float:
            started = time.perf_counter()
            for _ in range(0, count, per_request):
                codes = [{"gtin": GTIN, "serial": f"R{next(serial)}"} for _ in range(per_request)]
                client.post(
                    "/v1/items/register",
                    json={"items": codes},
                    headers=headers | {"Idempotency-Key": f"bench-{next(serial)}"},
                ).raise_for_status()
            submitter.run_until_idle(timeout=600)
            elapsed = time.perf_counter() - started
            failed = outbox.list(org.id, OpStatus.FAILED, limit=1)
            if failed:
                raise RuntimeError(f"a registration failed: {failed[0].error}")
            return elapsed

        seconds = [register(items, REQUEST_ITEMS) for _ in range(rounds)]
        single = register(baseline_items, 1)
    engine.dispose()
    return seconds, single


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
