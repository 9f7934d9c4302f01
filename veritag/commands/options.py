"""Command-line options several command modules share, the session they select, and the
line that reports a transaction."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ledger.settings import ChainChoice, Settings
from ledger.transactions import TxResult
from veritag.session import Session

__all__ = [
    "AsOpt",
    "ChainOpt",
    "DataDir",
    "DatabaseUrl",
    "RpcOpt",
    "chain_session",
    "report_tx",
    "store_session",
]

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default ./.veritag).")
]
ChainOpt = Annotated[
    ChainChoice | None,
    typer.Option("--chain", help="local (managed anvil, default) or memory (in-process)."),
]
RpcOpt = Annotated[str | None, typer.Option("--rpc-url", help="Any EVM JSON-RPC node.")]
AsOpt = Annotated[str, typer.Option("--as", help="Keystore account that signs.")]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="The store (default: SQLite in the data directory)."),
]


def store_session(data_dir: Path | None, database_url: str | None) -> Session:
    """The session of a command that works on the store (options win over settings)."""
    overrides = {k: v for k, v in [("data_dir", data_dir), ("database_url", database_url)] if v}
    return Session(Settings(**overrides))  # type: ignore[arg-type]


def chain_session(
    chain: ChainChoice | None = None, rpc_url: str | None = None, data_dir: Path | None = None
) -> Session:
    """The session of a command that works on the chain (options win over settings)."""
    overrides = {
        k: v
        for k, v in [("chain", chain), ("rpc_url", rpc_url), ("data_dir", data_dir)]
        if v is not None
    }
    return Session(Settings(**overrides))  # type: ignore[arg-type]


def report_tx(console: Console, what: str, result: TxResult) -> None:
    """``✔ what (tx …, block …, gas)``: the line every command that sends a transaction ends on."""
    console.print(
        f"[green]✔[/green] {what} [dim](tx {result.tx_hash}, block {result.block_number}, "
        f"{result.gas_used:,} gas)[/dim]"
    )
