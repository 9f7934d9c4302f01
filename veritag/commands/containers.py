"""``veritag container``: pack items into cases and pallets (GS1 SSCC), move them, unpack.

A container is named by its 18-digit SSCC (``(00)`` allowed); what goes in is an item as
``GTIN/SERIAL`` or ``0x`` item id, or a case by its SSCC. The SSCCs named are kept in the
store (never on chain) so that scans and the EPCIS export can show them.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ledger.errors import ConfigError
from ledger.identifiers import ItemId, container_id, item_id, parse_item_id, validate_sscc
from ledger.registry import Registry
from ledger.store.containers import Containers
from veritag.commands.options import AsOpt, ChainOpt, DataDir, RpcOpt, chain_session, report_tx
from veritag.session import Session

__all__ = ["parse_record", "register"]

console = Console()
container_app = typer.Typer(help="Pack items into cases and pallets (SSCC), move them as one.")

SsccArg = Annotated[str, typer.Argument(help="The case's or pallet's SSCC (18 digits).")]
ContentArg = Annotated[
    list[str], typer.Argument(help="Items (GTIN/SERIAL or 0x id) or cases (SSCC).")
]


def register(app: typer.Typer) -> None:
    """Add ``container`` to ``app``."""
    app.add_typer(container_app, name="container")


def parse_record(text: str) -> tuple[ItemId, str | None]:
    """The registry key of an item (``GTIN/SERIAL``, ``0x`` id) or a case (SSCC), and the
    SSCC when it is a case."""
    if text.startswith("0x"):
        return parse_item_id(text), None
    gtin, sep, serial = text.partition("/")
    if sep:
        return item_id(gtin, serial), None
    if text.replace("(00)", "").strip().isdigit():
        sscc = validate_sscc(text)
        return container_id(sscc), sscc
    raise ConfigError(f"{text!r} is neither GTIN/SERIAL, a 0x item id nor an SSCC")


def _aggregate(action: str, sscc: str, content: list[str], signer: str, session: Session) -> None:
    box = validate_sscc(sscc)
    records = [parse_record(text) for text in content]
    Containers(session.store().engine).record([box, *(s for _, s in records if s)])
    registry = session.registry()
    ids = [ident for ident, _ in records]
    move = Registry.pack if action == "pack" else Registry.unpack
    result = move(registry, session.signer(signer), container_id(box), ids)
    where = f"into SSCC {box}" if action == "pack" else f"out of SSCC {box}"
    report_tx(console, f"{action}ed {len(ids)} {where}", result)


@container_app.command("pack")
def pack(
    sscc: SsccArg,
    content: ContentArg,
    *,
    as_: AsOpt,
    chain: ChainOpt = None,
    rpc_url: RpcOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Pack items or cases into the container SSCC (created, held by you, on first use)."""
    _aggregate("pack", sscc, content, as_, chain_session(chain, rpc_url, data_dir))


@container_app.command("unpack")
def unpack(
    sscc: SsccArg,
    content: ContentArg,
    *,
    as_: AsOpt,
    chain: ChainOpt = None,
    rpc_url: RpcOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Take items or cases out of the container SSCC; you, its custodian, then hold each."""
    _aggregate("unpack", sscc, content, as_, chain_session(chain, rpc_url, data_dir))


@container_app.command("ship")
def ship(
    sscc: SsccArg,
    *,
    to: Annotated[str, typer.Option(help="Consignee: account name or address.")],
    as_: AsOpt,
    chain: ChainOpt = None,
    rpc_url: RpcOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Ship the container and everything in it; custody passes when the consignee receives."""
    session = chain_session(chain, rpc_url, data_dir)
    address = session.resolve(to)
    box = validate_sscc(sscc)
    result = session.registry().ship(session.signer(as_), container_id(box), address)
    report_tx(console, f"SSCC {box} shipped to {address}", result)


@container_app.command("receive")
def receive(
    sscc: SsccArg,
    as_: AsOpt,
    chain: ChainOpt = None,
    rpc_url: RpcOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Receive a container shipped to you, and with it everything inside."""
    session = chain_session(chain, rpc_url, data_dir)
    box = validate_sscc(sscc)
    result = session.registry().receive(session.signer(as_), container_id(box))
    report_tx(console, f"SSCC {box} received", result)


@container_app.command("show")
def show(
    sscc: SsccArg,
    chain: ChainOpt = None,
    rpc_url: RpcOpt = None,
    data_dir: DataDir = None,
) -> None:
    """The container's custodian and status, and its moves, from the chain."""
    session = chain_session(chain, rpc_url, data_dir)
    box = validate_sscc(sscc)
    registry = session.registry()
    state = registry.item(container_id(box))
    if state is None:
        raise ConfigError(f"SSCC {box} was never packed on this registry")
    console.print(
        f"SSCC {box} ({container_id(box)}): {state.status.label}, held by {state.custodian}"
        + (f", in {state.container}" if state.container else "")
    )
    table = Table("seq", "event", "block", "transaction")
    for event in registry.history(container_id(box)):
        table.add_row(str(event.seq), event.name, str(event.block_number), event.tx_hash)
    console.print(table)
