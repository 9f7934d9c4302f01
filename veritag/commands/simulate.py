"""``veritag simulate``: a synthetic market through the real API, and how many fakes the gate
stops before their first sale.

``register(app)`` adds the command to a typer app; ``veritag.cli`` calls it. Everything is
private to the run: the chain (a throwaway anvil node on loopback, or the in-process chain),
a SQLite store in a temporary folder, and the API app in this process.
"""

from __future__ import annotations

import enum
import json
from typing import Annotated, Literal

import typer
from rich.console import Console

from ledger.anvil import find_anvil
from ledger.errors import ChainError

__all__ = ["register", "simulate_command"]

console = Console()
progress_console = Console(stderr=True, highlight=False)


class SimulationChain(enum.StrEnum):
    MEMORY = "memory"
    ANVIL = "anvil"


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to ``app``."""
    app.command("simulate")(simulate_command)


def simulate_command(
    *,
    brands: Annotated[int, typer.Option(min=1, max=6, help="Brands in the market.")] = 3,
    items: Annotated[
        int, typer.Option(min=50, max=20_000, help="Items each brand registers.")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Same seed, same market, same figures.")] = 7,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=1000, help="Listings per check request.")
    ] = 1000,
    sales: Annotated[
        int,
        typer.Option(min=0, help="Genuine listings bought on the marketplace, settled on chain."),
    ] = 30,
    scans: Annotated[
        int,
        typer.Option(
            "--scans-per-group", min=0, help="Most consumer scans of each kind after the day."
        ),
    ] = 50,
    chain: Annotated[
        SimulationChain | None,
        typer.Option(
            help="memory (eth-tester in this process) or anvil (a private node on loopback). "
            "Default: anvil when its binary is installed, else memory. On memory a scan reads "
            "the item's history with eth_getLogs over every log, about 20 s per scan at the "
            "default size, so keep --scans-per-group small there.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Brands, shops, consumers and counterfeiters on a private chain: sellers list, the
    marketplace checks each listing before it goes live, consumers scan what they bought."""
    from veritag.simulate.report import build_report, render  # noqa: PLC0415 - heavy imports
    from veritag.simulate.run import SimulationParams, run_simulation  # noqa: PLC0415

    params = SimulationParams(brands, items, seed, batch_size, sales, scans, _chain_choice(chain))
    simulation = run_simulation(
        params, progress=lambda step: progress_console.print(f"[dim]· {step}[/dim]")
    )
    report = build_report(simulation)
    if as_json:
        print(json.dumps(report.as_json()))
        return
    render(report, console)


def _chain_choice(chain: SimulationChain | None) -> Literal["memory", "anvil"]:
    if chain is None:
        try:
            find_anvil()
        except ChainError:
            return "memory"
        chain = SimulationChain.ANVIL
    return "memory" if chain is SimulationChain.MEMORY else "anvil"
