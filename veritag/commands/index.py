"""``veritag index``: bring the store's index of the chain up to date, or rebuild it.

``register(app)`` adds the command to a typer app; ``veritag.cli`` calls it. The database
is migrated first, so a new data directory needs nothing else. Refusals raise
``ledger.errors`` exceptions, which the CLI's ``main`` prints as ``error: …``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ledger.indexer import Indexer, SyncReport
from ledger.settings import ChainChoice, Settings
from ledger.store.database import default_url, make_engine, migrate
from veritag.session import Session

__all__ = ["index_command", "register"]

console = Console()


def register(app: typer.Typer) -> None:
    """Add ``index`` to ``app``."""
    app.command("index")(index_command)


def index_command(
    *,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Forget everything indexed and index again from the registry's deployment. "
            "Item codes, product documents and scans are kept.",
        ),
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep indexing new blocks until interrupted.")
    ] = False,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", min=0.1, help="Seconds between polls (--follow).")
    ] = 2.0,
    confirmations: Annotated[
        int | None,
        typer.Option(
            "--confirmations", min=0, help="Blocks below the head before a block is final."
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="The store (default: SQLite in the data directory)."),
    ] = None,
    chain: Annotated[
        ChainChoice | None,
        typer.Option("--chain", help="local (managed anvil, default) or memory (in-process)."),
    ] = None,
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="Any EVM JSON-RPC node.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (default ./.veritag).")
    ] = None,
) -> None:
    """Index the registry's events into the store: items, custody histories, brands."""
    overrides: dict[str, object] = {
        name: value
        for name, value in [
            ("chain", chain),
            ("rpc_url", rpc_url),
            ("data_dir", data_dir),
            ("database_url", database_url),
            ("confirmations", confirmations),
        ]
        if value is not None
    }
    settings = Settings(**overrides)  # type: ignore[arg-type]
    session = Session(settings)
    engine = make_engine(settings.database_url or default_url(settings.data_dir))
    try:
        migrate(engine)
        indexer = Indexer(session.registry(), engine, confirmations=settings.confirmations)
        _show(indexer.rebuild() if rebuild else indexer.sync(), rebuilt=rebuild)
        if follow:
            _follow(indexer, poll_interval)
    finally:
        engine.dispose()


def _follow(indexer: Indexer, poll_interval: float) -> None:
    console.print(f"following new blocks every {poll_interval:g}s; Ctrl-C stops")
    stop = threading.Event()
    try:
        indexer.follow(stop, poll_interval, on_sync=lambda r: _show(r) if r.ranges else None)
    except KeyboardInterrupt:
        stop.set()
        console.print("stopped")


def _show(report: SyncReport, *, rebuilt: bool = False) -> None:
    if report.reorg is not None:
        reorg = report.reorg
        console.print(
            f"[yellow]![/yellow] the chain reorganised: {reorg.depth} block(s) taken back to "
            f"block {reorg.ancestor} ({reorg.item_events} item event(s) undone, "
            f"{reorg.items_removed} item(s) removed, {reorg.items_recomputed} recomputed)"
        )
    if report.first_block is None:
        console.print(
            f"[green]✔[/green] the index is up to date at block {report.last_block} "
            f"(final up to {max(report.confirmed_block, -1)})"
        )
        return
    verb = "rebuilt" if rebuilt else "indexed"
    console.print(
        f"[green]✔[/green] {verb} blocks {report.first_block}–{report.last_block} of registry "
        f"{report.contract} on chain {report.chain_id}: {report.item_events} item event(s) "
        f"on {report.items} item(s), {report.governance_events} governance event(s); final up "
        f"to block {report.confirmed_block}, head {report.head}"
    )
