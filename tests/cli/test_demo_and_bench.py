"""`veritag demo` tells the whole story; `veritag bench gas` prints its figures.

The gas targets are benchmark figures (``veritag bench gas`` marks them); no test asserts them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from ledger.chain import connect_memory
from ledger.contract_errors import Status
from ledger.identifiers import item_id
from ledger.registry import Flag
from veritag.bench import GasReport
from veritag.demo import GTIN, run_demo

GAS_KEYS = {
    "register_single",
    "register_batch100_per_item",
    "register_batch100_claim_per_item",
    "transfer_single",
    "transfer_batch100_per_item",
    "ship_receive_single",
    "claim",
    "baseline_erc721_mint_single",
    "baseline_erc721_mint_batch100_per_item",
    "baseline_erc721_transfer_single",
}


def run_veritag(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "veritag"
    if not script.is_file():
        found = shutil.which("veritag")
        if found is None:
            pytest.fail("the `veritag` console script is not installed (pip install -e .)")
        script = Path(found)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERITAG_")}
    env.update(VERITAG_DATA_DIR=str(tmp_path / "data"), COLUMNS="200")
    return subprocess.run(
        [str(script), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_demo_ends_with_w0001_claimed_by_the_consumer_and_w0002_recalled() -> None:
    chain = connect_memory()
    consumer = chain.dev_accounts[5]
    console = Console(record=True, width=200)

    registry = run_demo(console, chain)

    claimed = registry.item(item_id(GTIN, "W-0001"))
    assert claimed is not None
    assert (claimed.status, claimed.flags, claimed.seq) == (Status.ACTIVE, Flag.CLAIMED, 7)
    assert claimed.custodian == consumer.address
    assert not claimed.claimable  # a claim works once
    assert [e.name for e in registry.history(item_id(GTIN, "W-0001"))] == [
        "BatchItemRegistered",
        "ItemShipped",
        "ItemReceived",
        "ItemShipped",
        "ItemReceived",
        "RetailSaleRecorded",
        "ItemClaimed",
    ]
    recalled = registry.item(item_id(GTIN, "W-0002"))
    assert recalled is not None
    assert recalled.recalled
    assert recalled.custodian == chain.dev_accounts[4].address  # the shop kept it
    forged = registry.item(item_id(GTIN, "W-0003"))
    assert forged is not None
    assert (forged.status, forged.claimed) == (Status.SOLD, False)


def test_demo_prints_both_refusals_with_the_contract_error_names() -> None:
    console = Console(record=True, width=200)

    run_demo(console, connect_memory())

    text = console.export_text()
    assert "refused: RecalledItem: item 0x" in text
    assert "refused: InvalidClaimSignature: the claim of item 0x" in text
    assert text.count("refused:") == 2


def test_veritag_demo_runs_to_the_end(tmp_path: Path) -> None:
    done = run_veritag(tmp_path, "demo")

    assert done.returncode == 0, done.stderr
    assert "RecalledItem" in done.stdout
    assert "InvalidClaimSignature" in done.stdout
    assert "W-0001 now" in done.stdout
    assert not (tmp_path / "data").exists()  # the demo keeps nothing


@pytest.mark.slow
def test_bench_gas_json_prints_one_object_of_positive_gas_figures(tmp_path: Path) -> None:
    done = run_veritag(tmp_path, "bench", "gas", "--json")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # one JSON document and nothing else
    assert isinstance(report, dict)
    assert set(report) == GAS_KEYS
    for key, value in report.items():
        assert type(value) is int, key
        assert value > 0, key


def test_bench_json_keys_are_the_report_fields_except_the_evm_name() -> None:
    fields = set(GasReport.__dataclass_fields__)

    assert fields - {"evm"} == GAS_KEYS


@pytest.mark.slow(seconds=50)
def test_bench_listings_json_reports_rates_and_the_single_listing_baseline(
    tmp_path: Path,
) -> None:
    done = run_veritag(tmp_path, "bench", "listings", "--rounds", "1", "--json")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["batch_size"] == 1000
    assert report["rounds"] == 1
    assert report["decisions"] == {"allow": 1000}
    assert len(report["checks_per_second_each"]) == 1
    assert report["checks_per_second_median"] == report["checks_per_second_each"][0] > 0
    assert report["baseline_single_checks_per_second"] > 0
    assert report["batch_speedup"] == pytest.approx(
        report["checks_per_second_median"] / report["baseline_single_checks_per_second"], rel=0.01
    )


@pytest.mark.slow
@pytest.mark.anvil
def test_bench_ingest_json_indexes_every_event_and_reports_the_get_logs_baseline(
    tmp_path: Path,
) -> None:
    done = run_veritag(tmp_path, "bench", "ingest", "--items", "500", "--rounds", "1", "--json")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["items"], report["events"], report["rounds"]) == (500, 1500, 1)
    assert report["events_per_second_median"] == report["events_per_second_each"][0] > 0
    assert report["baseline_get_logs_events_per_second"] > 0
    assert report["target_events_per_second"] == 5000
    assert report["peak_rss_mb"] > 0


@pytest.mark.slow
@pytest.mark.anvil
def test_bench_register_json_confirms_every_item_and_reports_the_single_item_baseline(
    tmp_path: Path,
) -> None:
    done = run_veritag(tmp_path, "bench", "register", "--items", "500", "--rounds", "1", "--json")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["items_per_round"], report["rounds"], report["baseline_items"]) == (500, 1, 50)
    assert report["items_per_second_median"] == report["items_per_second_each"][0] > 0
    assert report["batch_speedup"] == pytest.approx(
        report["items_per_second_median"] / report["baseline_single_items_per_second"], rel=0.01
    )


@pytest.mark.anvil
def test_bench_merkle_json_prints_exactly_the_issue_s_figures(tmp_path: Path) -> None:
    done = run_veritag(tmp_path, "bench", "merkle", "--big", "2000", "--json")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert sorted(report) == [
        "peak_rss_mb_1000000",
        "per_item_gas_100",
        "per_item_gas_10000",
        "per_item_gas_1000000",
        "seconds_1000000",
    ]
    assert report["per_item_gas_10000"] <= 10
    assert report["per_item_gas_100"] == pytest.approx(100 * report["per_item_gas_10000"], rel=0.01)
    assert report["seconds_1000000"] > 0
    assert report["peak_rss_mb_1000000"] > 50


@pytest.mark.slow
def test_bench_all_runs_each_benchmark_in_a_child_and_reports_its_peak_memory(
    tmp_path: Path,
) -> None:
    done = run_veritag(tmp_path, "bench", "all", "--only", "gas", "--json")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    gas = report["benchmarks"]["gas"]
    assert gas["peak_rss_mb"] > 50
    assert gas["seconds"] > 0
    assert report["summary"]["gas_ratio_to_erc721"]["transfer_single"] == round(
        gas["transfer_single"] / gas["baseline_erc721_transfer_single"], 3
    )
    assert report["summary"]["peak_rss_mb"] == {"gas": gas["peak_rss_mb"]}
    assert "not_measured" not in report  # Merkle batches are measured now


def test_bench_all_refuses_an_unknown_benchmark(tmp_path: Path) -> None:
    done = run_veritag(tmp_path, "bench", "all", "--only", "speed")

    assert done.returncode == 1
    assert done.stderr == (
        "error: no benchmark speed; choose from gas, scan, listings, ingest, register, merkle\n"
    )
