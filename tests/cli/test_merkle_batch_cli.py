"""`veritag batch anchor` on a managed anvil: a batch anchored with hidden claim codes, its
items shown as not yet on chain, the first ship activating one in the same transaction, and
`veritag verify` answering from the chain alone afterwards.

Reuses the workflow module's CLI runner (one anvil, one data directory per module).
"""

from __future__ import annotations

import csv
import json
import re
import stat

import pytest

from ledger.identifiers import item_id
from ledger.store.database import make_engine
from ledger.store.merkle_batches import MerkleBatches
from tests.cli.test_cli_workflow import ACCOUNTS, GTIN, PREFIX, Cli, cli  # noqa: F401 - fixture

pytestmark = [pytest.mark.anvil, pytest.mark.slow(seconds=50)]


def test_a_batch_is_anchored_and_its_item_activated_by_its_first_ship(cli: Cli) -> None:  # noqa: F811
    cli("chain", "start").ok()
    created = cli.all(*(["account", "new", n] for n in ACCOUNTS))
    address = {}
    for name, result in zip(ACCOUNTS, created, strict=True):
        match = re.search(rf"account {name}: (0x[0-9a-fA-F]{{40}})", result.ok().stdout)
        assert match, result
        address[name] = match[1]
    cli("deploy", "--as", "admin").ok()
    cli("brand", "add", "Acme", "--admin", "acme", "--prefix", PREFIX, "--as", "admin").ok()
    cli("operator", "add", "line1", "--brand", "1", "--as", "acme").ok()
    codes_file = cli.cwd / "batch-codes.csv"

    anchored = cli(
        "batch", "anchor", "--gtin", GTIN, "--count", "40", "--prefix", "M",
        "--claim-codes", str(codes_file), "--as", "line1",
    ).ok()  # fmt: skip

    assert re.search(r"anchored batch 0x[0-9a-f]{64} of 40 items", anchored.stdout)
    gas = int(re.search(r"([\d,]+) gas,", anchored.stdout)[1].replace(",", ""))  # type: ignore[index]
    assert gas < 100_000
    assert stat.S_IMODE(codes_file.stat().st_mode) == 0o600
    with codes_file.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [r["serial"] for r in rows[:2]] == ["M0", "M1"]
    assert rows[7]["item_id"] == item_id(GTIN, "M7").hex()

    not_yet = cli("item", "show", f"{GTIN}/M7", "--json")
    assert not_yet.code == 4, not_yet

    shipped = cli("item", "ship", f"{GTIN}/M7", "--to", "shop", "--as", "line1").ok()
    assert f"shipped to {address['shop']}" in shipped.stdout

    shown = cli("item", "show", f"{GTIN}/M7", "--json").json()
    assert shown["status"] == "in_transit"
    assert shown["seq"] == 2
    assert [e["event"] for e in shown["history"]] == ["BatchItemActivated", "ItemShipped"]
    assert shown["history"][0]["tx"] == shown["history"][1]["tx"]  # one transaction

    # ── an item that has not moved: genuine only with its proof, checked on chain ──
    deployment = json.loads((cli.data_dir / "deployments.json").read_text())["31337"]
    engine = make_engine(f"sqlite:///{cli.data_dir / 'veritag.sqlite'}")
    proof = MerkleBatches(engine).proof(item_id(GTIN, "M8"))
    engine.dispose()
    assert proof is not None
    proof_file = cli.cwd / "proof.json"
    proof_file.write_text(
        json.dumps(
            {
                "root": "0x" + proof.root.hex(),
                "index": proof.index,
                "claim_key": proof.claim_key,
                "siblings": ["0x" + s.hex() for s in proof.siblings],
            }
        )
    )
    link = f"https://veritag.example/01/{GTIN}/21/M8"
    chain_only = ["--rpc-url", f"http://127.0.0.1:{cli.env['VERITAG_ANVIL_PORT']}"]
    chain_only += ["--contract", deployment["address"], "--json"]
    with_proof, without = cli.all(
        ["verify", link, "--batch-proof", str(proof_file), *chain_only],
        ["verify", link, *chain_only],
    )
    assert with_proof.json()["verdict"] == "authentic"
    assert with_proof.json()["batch_root"] == "0x" + proof.root.hex()
    assert without.json()["verdict"] == "counterfeit"
