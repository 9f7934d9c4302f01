"""``veritag org``: organisations (registry operator, brands, custodians, marketplaces) and
their API keys. A key is printed once, when it is made; the store keeps only its hash."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ledger.outbox.signer import Senders
from ledger.store.orgs import Organisations, Role
from veritag.commands.options import DatabaseUrl, DataDir, store_session
from veritag.session import DEV_FUNDING_WEI

__all__ = ["register"]

console = Console()
org_app = typer.Typer(help="Organisations that call the API, and their API keys.")


def register(app: typer.Typer) -> None:
    """Add ``org`` to ``app``."""
    app.add_typer(org_app, name="org")


def _organisations(data_dir: Path | None, database_url: str | None) -> Organisations:
    return Organisations(store_session(data_dir, database_url).store().engine)


def _show_key(key: str) -> None:
    console.print(f"API key (shown once; store it now): [bold]{key}[/bold]", soft_wrap=True)


@org_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The organisation's name (unique).")],
    role: Annotated[Role, typer.Option("--role", help="What the organisation is.")],
    brand_id: Annotated[
        int | None, typer.Option("--brand-id", help="On-chain brand id (brand role only).")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add an organisation and print its first API key."""
    org, key = _organisations(data_dir, database_url).create(name, role, brand_id=brand_id)
    console.print(f"[green]✔[/green] organisation #{org.id} {org.name!r} ({org.role.value})")
    _show_key(key)


@org_app.command("list")
def list_organisations(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List organisations and the prefixes of their live keys."""
    table = Table("id", "name", "role", "brand", "keys")
    for org in _organisations(data_dir, database_url).all():
        brand = str(org.brand_id) if org.brand_id is not None else ""
        table.add_row(str(org.id), org.name, org.role.value, brand, " ".join(org.keys))
    console.print(table)


@org_app.command("new-key")
def new_key(
    name: Annotated[str, typer.Argument(help="The organisation's name.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Issue another API key (to rotate: issue, deploy it, then revoke the old one)."""
    organisations = _organisations(data_dir, database_url)
    _show_key(organisations.issue_key(organisations.by_name(name).id))


@org_app.command("revoke-key")
def revoke_key(
    prefix: Annotated[str, typer.Argument(help="The key's prefix, vtk_ and 8 hex digits.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke an API key at once."""
    _organisations(data_dir, database_url).revoke(prefix)
    console.print(f"[green]✔[/green] revoked {prefix}")


@org_app.command("custodial-key")
def custodial_key(
    name: Annotated[str, typer.Argument(help="The organisation's name.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Custodial mode: make a key the service holds (sealed with VERITAG_SECRET_KEY) and
    sends the organisation's writes from; on a development chain it gets test ether."""
    session = store_session(data_dir, database_url)
    engine = session.store().engine
    org = Organisations(engine).by_name(name)
    chain = session.chain
    address = session.custodial_keys().create(org.id)
    Senders(engine).assign(org.id, address, chain.chain_id)
    if chain.dev_accounts:
        chain.fund(address, DEV_FUNDING_WEI)
    console.print(f"[green]✔[/green] {org.name} now sends its writes from {address}")
    console.print(
        "  it must be allowed on chain for what it does (a brand: `veritag operator add "
        f"{address} --brand {org.brand_id or 'N'}`), and needs ether on a real network",
        soft_wrap=True,
    )
