"""``veritag epcis export LINK``: an item's history as an EPCIS 2.0 document, from the chain.

The chain is chosen as for ``veritag verify``: ``--rpc-url`` and ``--contract`` from a proof,
or the data directory's settings. No store is read, so the product document is left out of
``ilmd``; the API's export includes it.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ledger.epcis.export import export_item
from ledger.identifiers.item_link import gtin_and_serial
from veritag.commands.options import DataDir
from veritag.commands.verify import registry_from_options

__all__ = ["register"]

epcis_app = typer.Typer(help="GS1 EPCIS 2.0 documents of items' histories.")


def register(app: typer.Typer) -> None:
    """Add ``epcis`` to ``app``."""
    app.add_typer(epcis_app, name="epcis")


@epcis_app.command("export")
def export_command(
    link: Annotated[str, typer.Argument(help="The GS1 Digital Link on the label.")],
    *,
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="Any node of the chain.")] = None,
    contract: Annotated[
        str | None, typer.Option("--contract", help="Registry address (from the proof).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Print the EPCIS 2.0 JSON-LD document of every event of the item behind LINK."""
    gtin, serial = gtin_and_serial(
        link, missing="export needs a GTIN (01) and a serial (21) to name an item"
    )
    registry = registry_from_options(rpc_url, contract, data_dir)
    print(json.dumps(export_item(registry, gtin, serial), indent=2))
