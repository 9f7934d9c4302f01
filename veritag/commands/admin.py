"""``veritag admin``: set up a new installation.

``admin bootstrap`` makes the registry-operator organisation and prints its API key once; it
refuses when a registry organisation exists already (further keys: ``veritag org new-key``).
``admin relayer`` gives the service the account that pays for relayed requests.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from ledger.errors import Conflict
from ledger.outbox.signer import Senders
from ledger.store.orgs import Organisations, Role, relayer_organisation
from veritag.commands.options import DatabaseUrl, DataDir, store_session
from veritag.session import DEV_FUNDING_WEI

__all__ = ["register"]

console = Console()
admin_app = typer.Typer(help="Set up an installation: its first registry operator, its relayer.")


def register(app: typer.Typer) -> None:
    """Add ``admin`` to ``app``."""
    app.add_typer(admin_app, name="admin")


@admin_app.command("bootstrap")
def bootstrap(
    name: Annotated[
        str, typer.Option("--name", help="The registry operator's organisation name.")
    ] = "Registry operator",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create the first registry-operator organisation and print its API key (once)."""
    organisations = Organisations(store_session(data_dir, database_url).store().engine)
    existing = [org for org in organisations.all() if org.role is Role.REGISTRY]
    if existing:
        first = existing[0]
        raise Conflict(
            "admin bootstrap",
            f"the registry operator {first.name!r} (#{first.id}) exists already; bootstrap "
            f"runs once. Issue it another key with `veritag org new-key {first.name!r}`",
        )
    org, key = organisations.create(name, Role.REGISTRY)
    console.print(f"[green]✔[/green] registry operator #{org.id} {org.name!r}")
    console.print(f"API key (shown once; store it now): [bold]{key}[/bold]", soft_wrap=True)


@admin_app.command("relayer")
def relayer(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Give the service a gas-paying account for relayed requests (POST /v1/relay)."""
    session = store_session(data_dir, database_url)
    engine = session.store().engine
    org = relayer_organisation(Organisations(engine))
    senders = Senders(engine)
    if senders.addresses(org.id):
        console.print(f"the relayer already pays from {senders.sender_of(org.id)}")
        return
    chain = session.chain
    address = session.custodial_keys().create(org.id)
    senders.assign(org.id, address, chain.chain_id)
    if chain.dev_accounts:
        chain.fund(address, DEV_FUNDING_WEI)
    console.print(
        f"[green]✔[/green] relayed requests are paid from {address} (a key the service holds, "
        "sealed with VERITAG_SECRET_KEY); keep it funded on a real network",
        soft_wrap=True,
    )
