"""`veritag bench all`: every benchmark in one run and one process tree, with peak memory.

Each benchmark runs as its own child process (``python -m veritag bench NAME --json``), one
after the other, so that one's memory or garbage does not weigh on the next; the child's peak
resident memory comes from ``wait4`` (its own, not its anvil's). Gas ratios are against the
OpenZeppelin ERC-721 measured in the same gas run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["BENCHES", "run_all"]

BENCHES: dict[str, tuple[str, ...]] = {
    "gas": ("gas",),
    "scan": ("scan", "--seconds", "5"),
    "listings": ("listings", "--rounds", "5"),
    "ingest": ("ingest", "--items", "10000", "--rounds", "3"),
    "register": ("register", "--items", "5000", "--rounds", "3"),
    "merkle": ("merkle",),
}
"""Name → arguments of ``veritag bench``; ``--json`` is added."""

_GAS_PAIRS = {
    "register_single": "baseline_erc721_mint_single",
    "register_batch100_per_item": "baseline_erc721_mint_batch100_per_item",
    "transfer_single": "baseline_erc721_transfer_single",
    "transfer_batch100_per_item": "baseline_erc721_transfer_single",
}


def run_all(names: Sequence[str] = tuple(BENCHES)) -> dict[str, Any]:
    """Each named benchmark's report, its wall time and its peak memory, and a summary."""
    results: dict[str, Any] = {}
    for name in names:
        results[name] = _child(BENCHES[name])
    return {
        "summary": _summary(results),
        "benchmarks": results,
        "conditions": (
            f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, load average "
            f"{os.getloadavg()[0]:.2f} at the end; each benchmark a child process in turn"
        ),
    }


def _child(arguments: Sequence[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "veritag", "bench", *arguments, "--json"]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err)
        # wait4, not wait(): it also answers the child's own peak memory.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    seconds = round(time.perf_counter() - started, 1)
    if process.returncode != 0:
        return {"error": stderr.decode(errors="replace")[-2000:], "seconds": seconds}
    report: dict[str, Any] = json.loads(stdout)
    report["seconds"] = seconds
    report["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    return report


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    gas = results.get("gas", {})
    if "error" not in gas and gas:
        summary["gas_ratio_to_erc721"] = {
            ours: round(gas[ours] / gas[baseline], 3)
            for ours, baseline in _GAS_PAIRS.items()
            if ours in gas and baseline in gas
        }
    picks = {
        "scan": ("scan_trivial_ratio_c50", "ratio_c50"),
        "listings": ("listing_checks_per_second", "checks_per_second_median"),
        "ingest": ("indexer_events_per_second", "events_per_second_median"),
        "register": ("registrations_per_second", "items_per_second_median"),
        "merkle": ("merkle_per_item_gas_10000", "per_item_gas_10000"),
    }
    for name, (label, key) in picks.items():
        if key in results.get(name, {}):
            summary[label] = results[name][key]
    summary["peak_rss_mb"] = {name: report.get("peak_rss_mb") for name, report in results.items()}
    return summary
