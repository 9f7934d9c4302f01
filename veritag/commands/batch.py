"""``veritag batch``: register a Merkle batch (one root on chain for up to millions of items).

``batch anchor`` takes the items from a CSV (gtin,serial) or generates serials
(``--gtin G --count N [--prefix P] [--start S]``), keeps the codes, leaves and tree in the
store, then anchors the root. Each item comes on chain with its first action, carrying its
proof; scans answer ``authentic`` from the proof before that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ledger.batches import item_ids_for, prepare, save_and_anchor
from ledger.claims import claim_key, generate_claim_code
from ledger.errors import ConfigError
from ledger.identifiers import ItemId, validate_gtin
from ledger.item_file import read_item_file
from ledger.settings import ChainChoice
from ledger.store.documents import document_hash
from ledger.store.merkle_batches import MerkleBatches
from veritag.codes_file import write_claim_codes
from veritag.commands.options import chain_session

__all__ = ["register"]

console = Console()
batch_app = typer.Typer(help="Merkle batches: one root on chain for up to millions of items.")


def register(app: typer.Typer) -> None:
    """Add ``batch`` to ``app``."""
    app.add_typer(batch_app, name="batch")


@batch_app.command("anchor")
def batch_anchor(
    *,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="CSV with gtin,serial columns.")
    ] = None,
    gtin: Annotated[str | None, typer.Option(help="Generate serials under this GTIN.")] = None,
    count: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="How many serials to generate.")
    ] = 0,
    prefix: Annotated[str, typer.Option(help="Generated serials: PREFIX + number.")] = "S",
    start: Annotated[int, typer.Option(min=0, help="First generated number.")] = 0,
    doc: Annotated[
        Path | None,
        typer.Option(help="Product data document (JSON) the batch's items share."),
    ] = None,
    claim_codes: Annotated[
        Path | None,
        typer.Option(help="Give each item a hidden claim code; write the codes to this CSV."),
    ] = None,
    as_: Annotated[str, typer.Option("--as", help="Keystore account that signs.")] = "operator",
    chain: Annotated[
        ChainChoice | None, typer.Option("--chain", help="local (default) or memory.")
    ] = None,
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="Any EVM node.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (default ./.veritag).")
    ] = None,
) -> None:
    """Prepare a batch (item ids, leaves, tree), keep it in the store, anchor its root."""
    from veritag.cli import read_document  # noqa: PLC0415 - veritag.cli imports this module

    codes_rows = _codes(csv_file, gtin, count, prefix, start)
    serials_by_gtin: dict[str, list[str]] = {}
    for g, s in codes_rows:
        serials_by_gtin.setdefault(g, []).append(s)
    ids = [i for g, serials in serials_by_gtin.items() for i in item_ids_for(g, serials)]
    ordered = [(g, s) for g, serials in serials_by_gtin.items() for s in serials]
    if claim_codes is not None and claim_codes.exists():
        raise ConfigError(f"{claim_codes} exists; refusing to overwrite hidden claim codes")
    codes = [generate_claim_code() for _ in ids] if claim_codes else None
    keys = (
        [
            bytes.fromhex(claim_key(ItemId(i), c).address[2:])
            for i, c in zip(ids, codes, strict=True)
        ]
        if codes
        else None
    )
    document = read_document(doc) if doc else None
    doc_hash = bytes.fromhex(document_hash(document)[2:]) if document else b"\x00" * 32
    tree = prepare(ids, keys)
    session = chain_session(chain, rpc_url, data_dir)
    registry, signer = session.registry(), session.signer(as_)
    if codes and claim_codes:
        labels = [(g, s, ItemId(i)) for (g, s), i in zip(ordered, ids, strict=True)]
        write_claim_codes(claim_codes, labels, codes)
        console.print(f"hidden claim codes written to {claim_codes} (keep it secret)")
    store = session.store()
    store.record_codes([(g, s, "0x" + i.hex()) for (g, s), i in zip(ordered, ids, strict=True)])
    if document is not None:
        store.record_document(document)
    anchored = save_and_anchor(
        registry,
        signer,
        MerkleBatches(store.engine),
        tree,
        ids,
        claim_keys=keys,
        doc_hash=doc_hash,
    )
    result = anchored.anchor
    console.print(
        f"[green]✔[/green] anchored batch 0x{tree.root.hex()} of {len(ids):,} items "
        f"[dim](tx {result.tx_hash}, block {result.block_number}, {result.gas_used:,} gas, "
        f"{result.gas_used / len(ids):,.2f} gas per item)[/dim]"
    )


def _codes(
    csv_file: Path | None, gtin: str | None, count: int, prefix: str, start: int
) -> list[tuple[str, str]]:
    if (csv_file is None) == (gtin is None):
        raise ConfigError("give either --csv FILE or --gtin GTIN --count N")
    if csv_file is not None:
        return [(r.gtin, r.serial) for r in read_item_file(csv_file)]
    assert gtin is not None  # checked above
    if count < 1:
        raise ConfigError("--gtin needs --count N (1 to 1,000,000)")
    checked = validate_gtin(gtin)
    return [(checked, f"{prefix}{n}") for n in range(start, start + count)]
