"""``veritag serve``: the API and scan page with the indexer (see :mod:`veritag.serving`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledger.settings import ChainChoice, Settings

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command("serve")(serve_command)


def serve_command(
    *,
    demo: Annotated[
        bool, typer.Option("--demo", help="Seed one demo item in each state; list them.")
    ] = False,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    chain: Annotated[
        ChainChoice | None,
        typer.Option("--chain", help="local (managed anvil, default) or memory (in-process)."),
    ] = None,
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="Any EVM JSON-RPC node.")] = None,
    contract: Annotated[
        str | None,
        typer.Option("--contract", help="An existing registry's address on the --rpc-url node."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (default ./.veritag).")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="API worker processes (>1 needs PostgreSQL).")
    ] = 1,
) -> None:
    """Serve the scan API and page (uvicorn), indexing the chain in the background."""
    overrides = {
        k: v
        for k, v in [
            ("chain", chain),
            ("rpc_url", rpc_url),
            ("contract", contract),
            ("data_dir", data_dir),
        ]
        if v
    }
    settings = Settings(**overrides)  # type: ignore[arg-type]
    # Imported here: the API, uvicorn and the background jobs cost every other command a
    # second of start-up.
    from veritag.serving import serve  # noqa: PLC0415

    serve(settings, demo=demo, host=host, port=port, workers=workers)
