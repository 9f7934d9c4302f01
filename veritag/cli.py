"""The `veritag` command line. The only place that wires ``ledger`` (and later ``api``) together."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ledger.claims import claim_key, generate_claim_code, sign_claim
from ledger.errors import ConfigError, VeritagError
from ledger.identifiers import ItemId, item_id, parse_item_id, validate_gtin, validate_serial
from ledger.item_file import read_item_file
from ledger.registry import Registry
from ledger.store.documents import document_hash
from ledger.transactions import TxResult
from veritag.codes_file import write_claim_codes
from veritag.commands import (
    admin,
    batch,
    containers,
    epcis,
    index,
    labels,
    org,
    serve,
    simulate,
    verify,
)
from veritag.commands.options import (
    AsOpt,
    ChainOpt,
    DataDir,
    RpcOpt,
    chain_session,
    report_tx,
)
from veritag.render import history_table, item_summary
from veritag.session import Session

__all__ = ["app", "main"]

app = typer.Typer(
    name="veritag",
    help="Veritag: provenance ledger for supply-chain authenticity.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
chain_app = typer.Typer(help="Run the managed local chain (anvil) in the background.")
account_app = typer.Typer(help="Keystore accounts (encrypted keys in the data directory).")
brand_app = typer.Typer(help="Brands and their GS1 company prefixes (registry admin).")
operator_app = typer.Typer(help="Operator accounts that register items for a brand.")
item_app = typer.Typer(help="Register items, move them, change their status, show them.")
bench_app = typer.Typer(help="Benchmarks that print their figures.")
for sub, name in [
    (chain_app, "chain"),
    (account_app, "account"),
    (brand_app, "brand"),
    (operator_app, "operator"),
    (item_app, "item"),
    (bench_app, "bench"),
]:
    app.add_typer(sub, name=name)

console = Console()
# Errors and refusals go to stderr unwrapped: piped, Rich would break lines at 80 columns.
err_console = Console(stderr=True, soft_wrap=True, highlight=False)

# ───────────── shared options ─────────────

ItemArg = Annotated[
    str, typer.Argument(help="GTIN/SERIAL (e.g. 00614141123452/A1) or a 0x item id.")
]


def parse_item(text: str) -> ItemId:
    """``GTIN/SERIAL`` or a ``0x`` item id. A GTIN has no '/', so the first '/' splits."""
    if text.startswith("0x"):
        return parse_item_id(text)
    gtin, sep, serial = text.partition("/")
    if not sep:
        raise ConfigError(f"item {text!r} must be GTIN/SERIAL (e.g. 00614141123452/A1) or 0x…")
    return item_id(gtin, serial)


# ───────────── compile and deploy ─────────────


@app.command("compile")
def compile_cmd() -> None:
    """Compile contracts/ and rewrite the artifacts shipped in ledger/artifacts/."""
    from ledger.compiler import compile_and_write  # noqa: PLC0415 - needs node, only here

    names = compile_and_write()
    console.print(f"[green]✔[/green] wrote artifacts: {', '.join(names)}")


@app.command()
def deploy(
    as_: AsOpt = "admin",
    chain: ChainOpt = None,
    rpc_url: RpcOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Deploy a new registry whose admin is the signing account; remember its address."""
    session = chain_session(chain, rpc_url, data_dir)
    registry = session.deploy(session.signer(as_))
    console.print(
        f"[green]✔[/green] registry deployed at {registry.address} on chain "
        f"{registry.chain_id} (block {registry.deploy_block}); admin {registry.admin()}"
    )


# ───────────── chain ─────────────


@chain_app.command("start")
def chain_start(data_dir: DataDir = None) -> None:
    """Start anvil in the background with its state kept in the data directory."""
    status = chain_session(data_dir=data_dir).anvil.start()
    console.print(f"[green]✔[/green] anvil runs at {status.url} (pid {status.pid})")


@chain_app.command("stop")
def chain_stop(data_dir: DataDir = None) -> None:
    """Stop the background anvil; its state is saved for the next start."""
    stopped = chain_session(data_dir=data_dir).anvil.stop()
    console.print("[green]✔[/green] anvil stopped" if stopped else "anvil was not running")


@chain_app.command("status")
def chain_status(data_dir: DataDir = None) -> None:
    """Whether the background anvil runs, where, and at which block."""
    status = chain_session(data_dir=data_dir).anvil.status()
    if status.running:
        console.print(
            f"running at {status.url} (pid {status.pid}), chain id {status.chain_id}, "
            f"block {status.block_number}"
        )
    else:
        console.print(f"not running ({status.url})")
        raise typer.Exit(3)


# ───────────── accounts ─────────────


@account_app.command("new")
def account_new(name: str, data_dir: DataDir = None) -> None:
    """Create an encrypted account NAME (passphrase from VERITAG_PASSPHRASE or a prompt)."""
    address = chain_session(data_dir=data_dir).create_account(name)
    console.print(f"[green]✔[/green] account {name}: {address}")


@account_app.command("list")
def account_list(data_dir: DataDir = None) -> None:
    """Names and addresses of the keystore's accounts."""
    for name, address in chain_session(data_dir=data_dir).keystore.list().items():
        console.print(f"{name:20} {address}")


# ───────────── brands and operators ─────────────


@brand_app.command("add")
def brand_add(
    name: str,
    admin: Annotated[str, typer.Option(help="Brand admin: account name or address.")],
    prefix: Annotated[list[str], typer.Option(help="GS1 company prefix (repeatable).")],
    as_: AsOpt = "admin",
    chain: ChainOpt = None,
    rpc_url: RpcOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Admit brand NAME with its GS1 company prefixes (registry admin only)."""
    session = chain_session(chain, rpc_url, data_dir)
    brand_id = session.registry().admit_brand(
        session.signer(as_), session.resolve(admin), name, prefix
    )
    console.print(
        f"[green]✔[/green] brand {brand_id} '{escape(name)}' admitted ({', '.join(prefix)})"
    )


@operator_app.command("add")
def operator_add(
    operator: Annotated[str, typer.Argument(help="Account name or address.")],
    brand: Annotated[int, typer.Option(help="Brand id.")],
    as_: AsOpt,
    chain: ChainOpt = None,
    rpc_url: RpcOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Let OPERATOR register items for a brand (brand admin only)."""
    session = chain_session(chain, rpc_url, data_dir)
    address = session.resolve(operator)
    result = session.registry().add_operator(session.signer(as_), brand, address)
    report_tx(console, f"{address} is an operator of brand {brand}", result)


# ───────────── items ─────────────


@item_app.command("register")
def item_register(
    item: Annotated[str | None, typer.Argument(help="GTIN/SERIAL of one item.")] = None,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="CSV with gtin,serial columns.")
    ] = None,
    doc: Annotated[
        Path | None,
        typer.Option(help="Product data document (JSON): kept in the store, its hash on chain."),
    ] = None,
    claim_codes: Annotated[
        Path | None,
        typer.Option(help="Give each item a hidden claim code; write the codes to this CSV."),
    ] = None,
    as_: AsOpt = "operator",
    chain: ChainOpt = None,
    rpc_url: RpcOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Register one item, or every item of a CSV (checked whole before anything is sent)."""
    if (item is None) == (csv_file is None):
        raise ConfigError("give either one item (GTIN/SERIAL) or --csv FILE")
    if csv_file is not None:
        rows = read_item_file(csv_file)
        labels = [(r.gtin, r.serial, r.item_id) for r in rows]
    else:
        assert item is not None  # checked above
        gtin, sep, serial = item.partition("/")
        if not sep:
            raise ConfigError(f"item {item!r} must be GTIN/SERIAL (e.g. 00614141123452/A1)")
        gtin, serial = validate_gtin(gtin), validate_serial(serial)
        labels = [(gtin, serial, item_id(gtin, serial))]
    document = read_document(doc) if doc else None
    doc_hash = bytes(HexBytes(document_hash(document))) if document else b"\x00" * 32
    if claim_codes is not None and claim_codes.exists():
        raise ConfigError(f"{claim_codes} exists; refusing to overwrite hidden claim codes")
    codes = [generate_claim_code() for _ in labels] if claim_codes else None
    keys: list[str] | None = (
        [claim_key(i, c).address for (_, _, i), c in zip(labels, codes, strict=True)]
        if codes
        else None
    )
    session = chain_session(chain, rpc_url, data_dir)
    registry, signer = session.registry(), session.signer(as_)
    if codes and claim_codes:
        # Written before anything is sent: a registered item whose code was lost could
        # never be claimed, while a code of an item that failed to register is harmless.
        write_claim_codes(claim_codes, labels, codes)
        console.print(f"hidden claim codes written to {claim_codes} (keep it secret)")
    # The GTIN and serial behind each item id, and the document, never go on chain: the
    # store keeps them. Recorded first; both are idempotent and harmless if sending fails.
    store = session.store()
    store.record_codes([(gtin, serial, ident.hex()) for gtin, serial, ident in labels])
    if document is not None:
        store.record_document(document)
    ids = [i for _, _, i in labels]
    if len(ids) == 1:
        result = registry.register(signer, ids[0], doc_hash, keys[0] if keys else None)
        report_tx(console, f"registered {labels[0][0]}/{labels[0][1]} as {ids[0].hex()}", result)
    else:
        _register_with_progress(registry, signer, ids, doc_hash, keys)


def _register_with_progress(
    registry: Registry,
    signer: LocalAccount,
    ids: list[ItemId],
    doc_hash: bytes,
    keys: list[str] | None,
) -> None:
    columns = (TextColumn("registering"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    gas = 0
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("register", total=len(ids))
        size = registry.max_batch_size
        for result, start in zip(
            registry.register_many(signer, ids, doc_hash, keys),
            range(0, len(ids), size),
            strict=True,
        ):
            gas += result.gas_used
            progress.update(task, completed=min(start + size, len(ids)))
    console.print(f"[green]✔[/green] registered {len(ids)} items ({gas:,} gas)")


def read_document(path: Path) -> dict[str, object]:
    """A product data document: a JSON object (name, model, image, lot, date, factory…)."""
    try:
        loaded = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable JSON document ({exc})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: a product document must be a JSON object")
    return loaded


@item_app.command("ship")
def item_ship(
    item: ItemArg,
    to: Annotated[str, typer.Option(help="Consignee: account name or address.")],
    as_: AsOpt,
    chain: ChainOpt = None,
    rpc_url: RpcOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Ship ITEM; custody passes when the consignee receives it."""
    _hand_over(Registry.ship, "shipped to", item, to, as_, chain_session(chain, rpc_url, data_dir))


@item_app.command("transfer")
def item_transfer(
    item: ItemArg,
    to: Annotated[str, typer.Option(help="New custodian: account name or address.")],
    as_: AsOpt,
    chain: ChainOpt = None,
    rpc_url: RpcOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Hand ITEM over in one step."""
    _hand_over(
        Registry.transfer,
        "custody passed to",
        item,
        to,
        as_,
        chain_session(chain, rpc_url, data_dir),
    )


def _hand_over(
    move: Callable[[Registry, LocalAccount, ItemId, str], TxResult],
    done: str,
    item: str,
    to: str,
    signer: str,
    session: Session,
) -> None:
    ident, address = parse_item(item), session.resolve(to)
    report_tx(
        console,
        f"{done} {address}",
        move(session.registry(), session.signer(signer), ident, address),
    )


def _simple(action: str, describe: str, help_text: str) -> None:
    """Add `veritag item <action> ITEM --as NAME` for an action that needs no other input."""

    def command(
        item: ItemArg,
        as_: AsOpt,
        chain: ChainOpt = None,
        rpc_url: RpcOpt = None,
        data_dir: DataDir = None,
    ) -> None:
        session = chain_session(chain, rpc_url, data_dir)
        registry, ident = session.registry(), parse_item(item)
        signer = session.signer(as_)
        result = (
            registry.recall(signer, [ident])
            if action == "recall"
            else getattr(registry, action)(signer, ident)
        )
        report_tx(console, f"{ident.hex()} {describe}", result)

    command.__doc__ = help_text
    item_app.command(action.replace("_", "-") if action != "record_retail_sale" else "sell")(
        command
    )


_simple("receive", "received", "Take custody of a shipped ITEM (consignee only).")
_simple("cancel_shipment", "shipment cancelled", "Call back a shipment before receipt.")
_simple("recall", "recalled", "Recall ITEM (its brand).")
_simple("record_retail_sale", "sold at retail; claim armed", "Record the retail sale of ITEM.")
_simple("report_stolen", "reported stolen", "Report ITEM stolen (custodian or owner).")
_simple("destroy", "destroyed", "Record that ITEM was destroyed (custodian or brand).")
_simple("decommission", "decommissioned", "Take ITEM out of service (custodian or brand).")


@item_app.command("claim")
def item_claim(
    item: ItemArg,
    code: Annotated[str, typer.Option(help="The hidden claim code from the label.")],
    owner: Annotated[str, typer.Option(help="New owner: account name or address.")],
    as_: AsOpt,
    chain: ChainOpt = None,
    rpc_url: RpcOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Claim a sold ITEM for OWNER with its hidden code; the signer only pays gas."""
    session = chain_session(chain, rpc_url, data_dir)
    registry, ident, new_owner = session.registry(), parse_item(item), session.resolve(owner)
    signature = sign_claim(
        ident, code, new_owner, chain_id=registry.chain_id, contract=registry.address
    )
    report_tx(
        console,
        f"claimed for {new_owner}",
        registry.claim(session.signer(as_), ident, new_owner, signature),
    )


@item_app.command("show")
def item_show(
    item: ItemArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    chain: ChainOpt = None,
    rpc_url: RpcOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Status and full on-chain history of ITEM."""
    session = chain_session(chain, rpc_url, data_dir)
    registry, ident = session.registry(), parse_item(item)
    state = registry.item(ident)
    if state is None:
        err_console.print(f"item {ident.hex()} is not registered on chain {registry.chain_id}")
        raise typer.Exit(4)
    events = registry.history(ident)
    if as_json:
        payload = {
            "item_id": ident.hex(),
            "status": state.status.name.lower(),
            "flags": [(f.name or "").lower() for f in type(state.flags) if f in state.flags],
            "custodian": state.custodian,
            "consignee": state.consignee,
            "container": state.container.hex() if state.container else None,
            "brand_id": state.brand_id,
            "seq": state.seq,
            "registered_while_suspended": state.registered_while_suspended,
            "proof": {"chain_id": registry.chain_id, "contract": registry.address},
            "history": [
                {
                    "seq": e.seq,
                    "event": e.name,
                    "block": e.block_number,
                    "tx": e.tx_hash,
                    "args": e.args,
                }
                for e in events
            ],
        }
        print(json.dumps(payload, indent=2))
        return
    console.print(item_summary(state))
    console.print(history_table(events))


# ───────────── bench and demo ─────────────


@bench_app.command("gas")
def bench_gas(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Gas of each registry operation and of an OpenZeppelin ERC-721, in one run."""
    from veritag.bench import GAS_TARGETS, measure_gas  # noqa: PLC0415

    report = measure_gas()
    if as_json:
        print(json.dumps({k: v for k, v in report.as_dict().items() if k != "evm"}))
        return
    table = Table(title=f"gas per transaction — {report.evm}")
    for column in ("operation", "gas", "target", "ERC-721 baseline", "ratio"):
        table.add_column(column, justify="right" if column != "operation" else "left")
    for key, target in GAS_TARGETS.items():
        value = int(report.as_dict()[key])
        baseline = report.baseline_for(key)
        mark = "[green]✔[/green]" if value <= target else "[red]✘[/red]"
        table.add_row(
            key,
            f"{value:,}",
            f"≤ {target:,} {mark}",
            f"{baseline:,}" if baseline else "—",
            f"{value / baseline:.2f}" if baseline else "—",
        )
    console.print(table)


@bench_app.command("scan")
def bench_scan(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    seconds: Annotated[float, typer.Option(min=1, help="Seconds of load per measurement.")] = 5,
) -> None:
    """Scan route vs a trivial route of the same app: requests/s and latency, 1 and 50 clients."""
    from veritag.bench_scan import run_scan_bench  # noqa: PLC0415

    result = run_scan_bench(seconds)
    if as_json:
        print(json.dumps(result.as_json()))
        return
    table = Table(title=f"scan route, {seconds:g} s per row, uvicorn (1 process) on anvil")
    for column in ("route", "clients", "requests/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right" if column != "route" else "left")
    for name, clients, load in (
        ("scan", 1, result.scan_c1),
        ("scan", 50, result.scan_c50),
        ("trivial", 1, result.trivial_c1),
        ("trivial", 50, result.trivial_c50),
    ):
        table.add_row(
            name, str(clients), f"{load.rps:,.0f}", f"{load.p50_ms:.1f}", f"{load.p99_ms:.1f}",
            str(load.errors),
        )  # fmt: skip
    console.print(table)
    console.print(f"scan / trivial at 50 clients: {result.as_json()['ratio_c50']:.2f}")


@bench_app.command("listings")
def bench_listings(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    rounds: Annotated[int, typer.Option(min=1, max=50, help="Batches of 1,000 to time.")] = 5,
) -> None:
    """Marketplace listing checks per second in batches of 1,000, beside per-item scans."""
    from veritag.bench_listings import run_listing_bench  # noqa: PLC0415

    result = run_listing_bench(rounds)
    if as_json:
        print(json.dumps(result.as_dict()))
        return
    each = ", ".join(f"{r:,.0f}" for r in result.checks_per_second_each)
    console.print(
        f"listing checks: median {result.checks_per_second_median:,.0f}/s over {rounds} "
        f"batches of {result.batch_size:,} ({each}); one batch "
        f"{result.batch_seconds_median * 1000:.0f} ms"
    )
    console.print(
        f"baseline, one listing per request: {result.baseline_single_checks_per_second:,.0f}/s "
        f"→ batches are {result.batch_speedup:g}x faster"
    )
    console.print(f"decisions: {result.decisions}; {result.conditions}")


@bench_app.command("ingest")
def bench_ingest(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    items: Annotated[
        int, typer.Option(min=500, max=1_000_000, help="Items on chain (3 events each).")
    ] = 10_000,
    rounds: Annotated[int, typer.Option(min=1, max=20, help="Fresh indexings to time.")] = 3,
) -> None:
    """Indexer ingest from anvil, events per second, beside bare eth_getLogs reads."""
    from veritag.bench_ingest import run_ingest_bench  # noqa: PLC0415

    result = run_ingest_bench(items, rounds)
    if as_json:
        print(json.dumps(result.as_dict()))
        return
    each = ", ".join(f"{r:,.0f}" for r in result.events_per_second_each)
    console.print(
        f"indexer ingest: median {result.events_per_second_median:,.0f} events/s ({each}) over "
        f"{result.events:,} events in {result.blocks:,} blocks; target "
        f"{result.target_events_per_second:,}/s"
    )
    console.print(
        f"baseline, bare eth_getLogs of the same blocks: "
        f"{result.baseline_get_logs_events_per_second:,.0f} events/s; peak RSS "
        f"{result.peak_rss_mb:,.0f} MB; {result.conditions}"
    )


@bench_app.command("register")
def bench_register(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    items: Annotated[int, typer.Option(min=500, max=1_000_000, help="Items per round.")] = 5_000,
    rounds: Annotated[int, typer.Option(min=1, max=20, help="Rounds to time.")] = 3,
) -> None:
    """Items registered per second through the API, outbox and submitter, on anvil."""
    from veritag.bench_register import run_register_bench  # noqa: PLC0415

    result = run_register_bench(items, rounds)
    if as_json:
        print(json.dumps(result.as_dict()))
        return
    each = ", ".join(f"{r:,.0f}" for r in result.items_per_second_each)
    console.print(
        f"registration through the API: median {result.items_per_second_median:,.0f} items/s "
        f"({each}), {result.items_per_round:,} items per round, confirmed on chain"
    )
    console.print(
        f"baseline, one item per request: {result.baseline_single_items_per_second:,.1f} "
        f"items/s → {result.batch_speedup:g}x; peak RSS {result.peak_rss_mb:,.0f} MB; "
        f"{result.conditions}"
    )


@bench_app.command("merkle")
def bench_merkle(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    big: Annotated[
        int, typer.Option("--big", min=100, max=1_000_000, hidden=True, help="Smoke runs only.")
    ] = 1_000_000,
) -> None:
    """Merkle batch registration on anvil: anchoring gas per item, a million items' time."""
    from veritag.bench_merkle import run_merkle_bench  # noqa: PLC0415

    result = run_merkle_bench(big)
    if as_json:
        print(json.dumps(result.as_dict()))
        return
    extras = result.extras
    console.print(
        "anchoring gas per item: "
        + ", ".join(f"{n:,} items {g:g}" for n, g in sorted(result.per_item_gas.items()))
    )
    console.print(
        f"{result.big:,} items prepared, stored, anchored and indexed in "
        f"{result.seconds_big:g} s (peak RSS {result.peak_rss_mb_big:,.0f} MB): "
        f"{extras['big_breakdown_seconds']}"
    )
    console.print(
        f"activation {extras['activate_gas']:,} gas; activation + ship in one multicall "
        f"{extras['activate_and_ship_gas']:,} gas, against register {extras['register_gas']:,} "
        f"+ ship {extras['ship_gas']:,} (proof of {extras['proof_length_10000']} hashes, "
        f"10,000-item batch); claim keys derive at {extras['claim_keys_per_second']:,} per second"
    )


@bench_app.command("all")
def bench_all(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only", help="Run only these (gas, scan, listings, ingest, register, merkle)."
        ),
    ] = None,
) -> None:
    """Every benchmark in one run, each in its own child process, with its peak memory."""
    from veritag.bench_all import BENCHES, run_all  # noqa: PLC0415

    unknown = sorted(set(only or ()) - set(BENCHES))
    if unknown:
        raise ConfigError(f"no benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    report = run_all(only or tuple(BENCHES))
    if as_json:
        print(json.dumps(report))
        return
    console.print_json(json.dumps(report["summary"]))
    for name, result in report["benchmarks"].items():
        if "error" in result:
            console.print(f"[red]{name} failed[/red]: {result['error']}")
    console.print(report["conditions"])


@app.command()
def demo() -> None:
    """The whole story on an in-memory chain: register, ship, sell, claim, refusals."""
    from veritag.demo import run_demo  # noqa: PLC0415

    run_demo(console)


for _commands in (admin, labels, index, org, serve, simulate, verify, epcis, batch, containers):
    _commands.register(app)


def main() -> None:
    """Entry point: turn Veritag's own errors into a readable message and exit code 1."""
    try:
        app()
    except VeritagError as error:
        err_console.print(f"[red]error:[/red] {escape(str(error))}")
        sys.exit(1)
