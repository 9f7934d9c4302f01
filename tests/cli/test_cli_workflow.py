"""The README's CLI story, run through the installed `veritag` script on a managed anvil.

One anvil per module, on a free port, with its state in a temporary data directory. Every
step is a separate process, as for a user, so everything that carries over between steps
(keystore, deployment, the chain) goes through the data directory. Independent steps run
side by side to keep the module quick: each call pays ~1-2 s of Python start-up.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from ledger.anvil import AnvilNode, find_anvil
from ledger.errors import ChainError
from ledger.identifiers import item_id

pytestmark = [pytest.mark.anvil, pytest.mark.slow(seconds=60)]

GTIN = "00614141123452"
PREFIX = "0614141"
ACCOUNTS = ("admin", "acme", "line1", "shop")


def veritag_script() -> Path:
    """The console script of the environment running the tests (else the one on PATH)."""
    beside = Path(sys.executable).parent / "veritag"
    if beside.is_file():
        return beside
    found = shutil.which("veritag")
    if found is None:
        pytest.fail("the `veritag` console script is not installed (pip install -e .)")
    return Path(found)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def ok(self) -> Result:
        assert self.code == 0, self
        return self

    def json(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.ok().stdout)
        return payload


@dataclass(frozen=True)
class Cli:
    """Runs `veritag ARGS…` in a fixed environment; several at once with ``all``."""

    env: dict[str, str]
    cwd: Path
    data_dir: Path

    def __call__(self, *args: str) -> Result:
        (result,) = self.all(args)
        return result

    def all(self, *commands: Sequence[str]) -> list[Result]:
        """Run independent commands side by side; results in the order given."""
        processes = [
            subprocess.Popen(
                [str(veritag_script()), *command],
                env=self.env,
                cwd=self.cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for command in commands
        ]
        results = []
        for command, process in zip(commands, processes, strict=True):
            stdout, stderr = process.communicate(timeout=120)
            results.append(Result(tuple(command), process.returncode, stdout, stderr))
        return results


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """A CLI bound to a fresh data directory and anvil port; the node is always stopped."""
    try:
        anvil = find_anvil()
    except ChainError as exc:
        pytest.skip(f"anvil binary missing (run `npm ci`): {exc}")
    root = tmp_path_factory.mktemp("workflow")
    data_dir, port = root / "data", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERITAG_")}
    env.update(
        VERITAG_DATA_DIR=str(data_dir),
        VERITAG_PASSPHRASE="test",
        VERITAG_KEYSTORE_ITERATIONS="1000",
        VERITAG_ANVIL_PORT=str(port),
        VERITAG_ANVIL=str(anvil),
        COLUMNS="200",
    )
    try:
        yield Cli(env, root, data_dir)
    finally:
        # What `veritag chain stop` does, in-process: it works even when the CLI is broken.
        AnvilNode(data_dir, port=port, anvil_path=anvil).stop()


def write_csv(path: Path, rows: Sequence[str]) -> Path:
    path.write_text("gtin,serial\n" + "".join(f"{row}\n" for row in rows))
    return path


def history_names(shown: dict[str, Any]) -> list[str]:
    return [event["event"] for event in shown["history"]]


def test_cli_runs_the_item_lifecycle_on_a_local_chain_that_survives_a_restart(cli: Cli) -> None:
    a1 = f"{GTIN}/A1"
    port = cli.env["VERITAG_ANVIL_PORT"]

    # ── chain, accounts, registry, brand, operator ──
    started, *created = cli.all(["chain", "start"], *(["account", "new", n] for n in ACCOUNTS))
    assert f"anvil runs at http://127.0.0.1:{port}" in started.ok().stdout
    address = {}
    for name, result in zip(ACCOUNTS, created, strict=True):
        match = re.search(rf"account {name}: (0x[0-9a-fA-F]{{40}})", result.ok().stdout)
        assert match, result
        address[name] = match[1]
    deployed, listed = cli.all(["deploy", "--as", "admin"], ["account", "list"])
    assert re.search(r"registry deployed at 0x[0-9a-fA-F]{40} on chain 31337", deployed.ok().stdout)
    assert f"admin {address['admin']}" in deployed.stdout
    listing = dict(line.split() for line in listed.ok().stdout.splitlines())
    assert listing == address

    brand = cli("brand", "add", "Acme", "--admin", "acme", "--prefix", PREFIX, "--as", "admin")
    assert f"brand 1 'Acme' admitted ({PREFIX})" in brand.ok().stdout
    operator = cli("operator", "add", "line1", "--brand", "1", "--as", "acme").ok()
    assert f"{address['line1']} is an operator of brand 1" in operator.stdout

    # ── registration: one item with a hidden claim code, then a CSV of three ──
    codes_file = cli.cwd / "codes.csv"
    single = cli("item", "register", a1, "--as", "line1", "--claim-codes", str(codes_file)).ok()
    assert f"registered {a1} as {item_id(GTIN, 'A1').hex()}" in single.stdout
    assert stat.S_IMODE(codes_file.stat().st_mode) == 0o600
    with codes_file.open(newline="") as file:
        (code_row,) = list(csv.DictReader(file))
    assert (code_row["gtin"], code_row["serial"]) == (GTIN, "A1")
    assert code_row["item_id"] == item_id(GTIN, "A1").hex()

    # A file with one bad row registers nothing, not even its good rows (checked below).
    items = write_csv(cli.cwd / "items.csv", [f"{GTIN},C1", f"{GTIN},C2", f"{GTIN},C3"])
    bad = write_csv(cli.cwd / "bad.csv", [f"{GTIN},B1", "00614141123453,B2"])
    batch, refused = cli.all(
        ["item", "register", "--csv", str(items), "--as", "line1"],
        ["item", "register", "--csv", str(bad), "--as", "line1"],
    )
    assert "registered 3 items" in batch.ok().stdout
    assert refused.code == 1, refused
    assert "line 3, gtin: check digit is 3, expected 2" in refused.stderr
    assert "nothing was registered" in refused.stderr

    # ── custody: ship to the shop, the shop receives ──
    unregistered, shipped = cli.all(
        ["item", "show", f"{GTIN}/B1", "--json"],
        ["item", "ship", a1, "--to", "shop", "--as", "line1"],
    )
    assert unregistered.code == 4, unregistered
    assert "not registered" in unregistered.stderr
    assert f"shipped to {address['shop']}" in shipped.ok().stdout
    cli("item", "receive", a1, "--as", "shop").ok()

    received = cli("item", "show", a1, "--json").json()
    assert received["status"] == "active"
    assert received["flags"] == []
    assert received["custodian"] == address["shop"]
    assert received["consignee"] is None
    assert received["seq"] == 3
    assert history_names(received) == ["ItemRegistered", "ItemShipped", "ItemReceived"]
    assert [event["seq"] for event in received["history"]] == [1, 2, 3]

    # ── retail sale and the consumer's claim with the hidden code ──
    cli("item", "sell", a1, "--as", "shop").ok()
    owner = Account.create().address
    claimed = cli(
        "item", "claim", a1, "--code", code_row["claim_code"], "--owner", owner, "--as", "shop"
    )
    assert f"claimed for {owner}" in claimed.ok().stdout

    shown, wrong_hands = cli.all(
        ["item", "show", a1, "--json"],
        ["item", "transfer", f"{GTIN}/C1", "--to", "shop", "--as", "shop"],
    )
    after_claim = shown.json()
    assert after_claim["status"] == "active"
    assert after_claim["flags"] == ["claimed"]
    assert after_claim["custodian"] == owner
    assert after_claim["seq"] == 5
    assert history_names(after_claim)[-2:] == ["RetailSaleRecorded", "ItemClaimed"]
    # C1 is still the factory line's: the shop may not hand it on.
    assert wrong_hands.code == 1, wrong_hands
    assert wrong_hands.stderr.startswith("error: NotCustodian: item 0x"), wrong_hands
    assert f"is held by {address['line1'][:6]}" in wrong_hands.stderr

    # ── the chain's state outlives a stop and a start ──
    assert "anvil stopped" in cli("chain", "stop").ok().stdout
    cli("chain", "start").ok()
    persisted, batch_item = cli.all(
        ["item", "show", a1, "--json"], ["item", "show", f"{GTIN}/C3", "--json"]
    )
    assert persisted.json() == after_claim
    c3 = batch_item.json()
    assert (c3["status"], c3["custodian"], c3["seq"]) == ("active", address["line1"], 1)
    assert history_names(c3) == ["BatchItemRegistered"]


def test_cli_packs_a_pallet_ships_it_and_unpacks_it(cli: Cli) -> None:
    """Runs after the lifecycle above, on its chain: C2 and C3 are still the line's."""
    pallet = "006141410000000012"  # extension 0, prefix 0614141, reference 1, check digit 2
    c2, c3 = f"{GTIN}/C2", f"{GTIN}/C3"

    packed = cli("container", "pack", pallet, c2, c3, "--as", "line1")
    assert f"packed 2 into SSCC {pallet}" in packed.ok().stdout
    cli("container", "ship", pallet, "--to", "shop", "--as", "line1").ok()
    cli("container", "receive", pallet, "--as", "shop").ok()

    inside, shown, listed = cli.all(
        ["item", "show", c2, "--json"], ["container", "show", pallet], ["account", "list"]
    )
    address = dict(line.split() for line in listed.ok().stdout.splitlines())
    assert inside.json()["custodian"] == address["shop"]  # the pallet's, as it travelled
    assert inside.json()["container"] is not None
    assert "active, held by" in shown.ok().stdout
    assert "ItemShipped" in shown.stdout

    refused = cli("item", "ship", c2, "--to", "line1", "--as", "shop")
    assert refused.code == 1, refused
    assert refused.stderr.startswith("error: PackedItem: item 0x"), refused

    unpacked = cli("container", "unpack", pallet, c2, "--as", "shop")
    assert f"unpacked 1 out of SSCC {pallet}" in unpacked.ok().stdout
    cli("item", "ship", c2, "--to", "line1", "--as", "shop").ok()
