"""`veritag bench merkle`: Merkle batch registration — gas per item, and a million items' time.

One run: a private anvil node with a registry, one brand and its operator. Batches of 100
and 10,000 items are prepared and anchored in this process, and their per-item gas read
from the anchoring receipts. The big batch (1,000,000 items) runs in a child process, so
its peak resident memory (``wait4``) is its own: it generates the serials, computes item
ids, leaves and tree, stores the leaves and levels in a fresh SQLite file, anchors the root
on anvil and indexes the anchoring — ``seconds_1000000`` is that whole span. Its items have
no claim keys: deriving a claim key (a secp256k1 key from the hidden code) costs far more
than everything else per item; the human report gives the measured rate.

The activation figures (human report only) come from the 10,000-item batch: one item
activated alone, one activated and shipped in one multicall, against a plain registration
and a plain ship.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MerkleBench", "run_merkle_bench"]

GTIN = "00614141123452"
PREFIX = "0614141"
BIG = 1_000_000


@dataclass(frozen=True)
class MerkleBench:
    per_item_gas: dict[int, float]
    seconds_big: float
    peak_rss_mb_big: float
    big: int
    extras: dict[str, Any]

    def as_dict(self) -> dict[str, float]:
        """The figures the issue asks for, under its names (for the real sizes)."""
        return {
            "per_item_gas_100": self.per_item_gas[100],
            "per_item_gas_10000": self.per_item_gas[10_000],
            "per_item_gas_1000000": self.per_item_gas[self.big],
            "seconds_1000000": self.seconds_big,
            "peak_rss_mb_1000000": self.peak_rss_mb_big,
        }


def run_merkle_bench(big: int = BIG) -> MerkleBench:
    """``big`` replaces 1,000,000 for a quick smoke run; the names of the figures stay."""
    from ledger.anvil import AnvilNode  # noqa: PLC0415 - the child process needs none of it

    with tempfile.TemporaryDirectory(prefix="veritag-bench-merkle-") as tmp:
        root = Path(tmp)
        anvil = AnvilNode(root / "chain", port=_free_port())
        anvil.start()
        try:
            return _run(root, anvil.url, big)
        finally:
            anvil.stop()


def _run(root: Path, rpc_url: str, big: int) -> MerkleBench:
    from ledger.settings import Settings  # noqa: PLC0415
    from veritag.session import Session  # noqa: PLC0415

    session = Session(Settings(data_dir=root / "data", rpc_url=rpc_url))
    admin, brand_admin, factory, shop = session.chain.dev_accounts[:4]
    registry = session.deploy(admin)
    brand = registry.admit_brand(admin, brand_admin.address, "Bench", [PREFIX])
    registry.add_operator(brand_admin, brand, factory.address)
    per_item: dict[int, float] = {}
    extras: dict[str, Any] = {}
    for size in (100, 10_000):
        ids, tree = _prepare(size, f"G{size}-")
        gas = registry.anchor_batch(factory, tree.root, size).gas_used
        per_item[size] = round(gas / size, 4)
        if size == 10_000:
            extras = _activation_gas(registry, factory, shop.address, ids, tree)
    extras["claim_keys_per_second"] = _claim_key_rate()
    child = _big_batch_in_child(root, rpc_url, registry.address, registry.deploy_block, big)
    per_item[big] = round(child["gas_used"] / big, 4)
    extras["big_breakdown_seconds"] = child["steps"]
    return MerkleBench(per_item, child["seconds"], child["peak_rss_mb"], big, extras)


def _prepare(size: int, prefix: str) -> tuple[list[bytes], Any]:
    from ledger.batches import item_ids_for, prepare  # noqa: PLC0415

    ids = item_ids_for(GTIN, [f"{prefix}{n}" for n in range(size)])
    return ids, prepare(ids)


def _activation_gas(
    registry: Any, operator: Any, shop: str, ids: list[bytes], tree: Any
) -> dict[str, Any]:
    from ledger.identifiers import ItemId, item_id  # noqa: PLC0415
    from ledger.merkle import BatchProof  # noqa: PLC0415

    def proof(index: int) -> BatchProof:
        return BatchProof(tree.root, index, None, tuple(tree.proof(index)))

    alone = registry.activate_batch_item(operator, ItemId(ids[1]), proof(1)).gas_used
    both_call = registry.multicall_call(
        [
            registry.activate_call(ItemId(ids[2]), proof(2)),
            registry.contract.functions.ship(ids[2], shop),
        ]
    )
    both = registry._send(operator, both_call).gas_used
    plain = item_id(GTIN, "PLAIN-1")
    register = registry.register(operator, plain).gas_used
    ship = registry.ship(operator, plain, shop).gas_used
    return {
        "activate_gas": alone,
        "activate_and_ship_gas": both,
        "register_gas": register,
        "ship_gas": ship,
        "proof_length_10000": len(tree.proof(2)),
    }


def _claim_key_rate(sample: int = 500) -> float:
    from ledger.claims import claim_key, generate_claim_code  # noqa: PLC0415
    from ledger.identifiers import item_id  # noqa: PLC0415

    pairs = [(item_id(GTIN, f"K{n}"), generate_claim_code()) for n in range(sample)]
    started = time.perf_counter()
    for ident, code in pairs:
        claim_key(ident, code)
    return round(sample / (time.perf_counter() - started), 1)


def _big_batch_in_child(
    root: Path, rpc_url: str, contract: str, deploy_block: int, big: int
) -> dict[str, Any]:
    """Run :func:`_big_batch` in a child process; its report with its own peak RSS."""
    arguments = json.dumps(
        {
            "root": str(root),
            "rpc_url": rpc_url,
            "contract": contract,
            "deploy_block": deploy_block,
            "big": big,
        }
    )
    command = [sys.executable, "-m", "veritag.bench_merkle", arguments]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"the big batch failed: {stderr.decode(errors='replace')[-2000:]}")
    report: dict[str, Any] = json.loads(stdout)
    report["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    return report


def _big_batch(root: Path, rpc_url: str, contract: str, deploy_block: int, big: int) -> None:
    """The child: prepare, store, anchor and index one batch of ``big`` items; print JSON."""
    from ledger.batches import item_ids_for, prepare  # noqa: PLC0415
    from ledger.chain import connect_rpc  # noqa: PLC0415
    from ledger.indexer import Indexer  # noqa: PLC0415
    from ledger.registry import Registry  # noqa: PLC0415
    from ledger.store.database import make_engine, migrate  # noqa: PLC0415
    from ledger.store.merkle_batches import MerkleBatches  # noqa: PLC0415

    chain = connect_rpc(rpc_url)
    registry = Registry(chain.w3, contract, deploy_block=deploy_block)
    factory = chain.dev_accounts[2]
    engine = make_engine(f"sqlite:///{root / 'merkle.sqlite'}")
    migrate(engine)  # the store exists before a batch is registered: not timed
    steps: dict[str, float] = {}
    started = last = time.perf_counter()

    def step(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        steps[name] = round(now - last, 2)
        last = now

    serials = [f"B{n}" for n in range(big)]
    ids = item_ids_for(GTIN, serials)
    step("item_ids")
    tree = prepare(ids)
    step("leaves_and_tree")
    del serials
    batches = MerkleBatches(engine)
    batches.save(tree, ids, operator=factory.address)
    step("store_leaves_and_levels")
    anchored = registry.anchor_batch(factory, tree.root, len(tree))
    step("anchor")
    Indexer(registry, engine).sync()
    step("index")
    seconds = round(time.perf_counter() - started, 2)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "gas_used": anchored.gas_used,
                "steps": steps,
                "rss_mb_after": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    _args = json.loads(sys.argv[1])
    _big_batch(
        Path(_args["root"]),
        _args["rpc_url"],
        _args["contract"],
        int(_args["deploy_block"]),
        int(_args["big"]),
    )
