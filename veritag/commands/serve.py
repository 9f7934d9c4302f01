"""``veritag serve``: the API and scan page with the indexer, on the CLI's chain choices.

Deploys a registry where none is deployed yet (on a development chain, from its first dev
account), migrates the store, follows the chain into it in a background thread, and with
``--demo`` seeds one item in each state and prints their label URLs.
"""

from __future__ import annotations

import gc
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from api.app import create_app
from api.services import Services
from ledger.alerts.chain_alerts import publish_chain_alerts
from ledger.alerts.delivery import DeliveryWorker
from ledger.errors import ConfigError
from ledger.indexer import Indexer
from ledger.registry import Registry
from ledger.settings import ChainChoice, Settings
from ledger.store.database import default_url, make_engine, migrate
from ledger.store.repository import Store
from veritag.demo_seed import DemoRoles, seed_demo
from veritag.session import Session

__all__ = ["build_services", "register"]

console = Console()
SALT_FILE = "scan-salt"
"""Salt for hashing scanners' IPs and user agents."""
DECISION_KEY_FILE = "decision-key"
"""Private key that signs listing decisions: kept, so signatures stay checkable across runs."""


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
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (default ./.veritag).")
    ] = None,
) -> None:
    """Serve the scan API and page (uvicorn), indexing the chain in the background."""
    overrides = {
        k: v for k, v in [("chain", chain), ("rpc_url", rpc_url), ("data_dir", data_dir)] if v
    }
    session = Session(Settings(**overrides))  # type: ignore[arg-type]
    base_url = f"http://{host}:{port}"
    services, indexer = build_services(session, demo=demo, base_url=base_url)
    stop = threading.Event()
    follower = threading.Thread(target=indexer.follow, args=(stop, 1.0), daemon=True)
    follower.start()
    registry = services.registry
    console.print(
        f"[green]✔[/green] registry {registry.address} on chain {registry.chain_id}; "
        f"serving {base_url} (API docs at {base_url}/docs)"
    )
    if services.demo_codes:
        for state, url in services.demo_codes.items():
            console.print(f"  {state:18} {url}")
        print(json.dumps(services.demo_codes), flush=True)
    gc.collect()
    gc.freeze()  # what startup built lives as long as the server: keep it out of every GC pass
    try:
        uvicorn.run(create_app(services), host=host, port=port, log_level="warning")
    finally:
        stop.set()
        follower.join(timeout=5)


def build_services(session: Session, *, demo: bool, base_url: str) -> tuple[Services, Indexer]:
    """Registry (deployed if needed), migrated store, indexer and, in demo mode, the seed."""
    registry = _registry(session)
    settings = session.settings
    engine = make_engine(settings.database_url or default_url(settings.data_dir))
    migrate(engine)
    store = Store(engine)
    indexer = Indexer(registry, engine, confirmations=settings.confirmations)
    demo_codes = None
    if demo:
        roles = DemoRoles.from_dev_accounts(session.chain.dev_accounts)
        demo_codes = seed_demo(registry, store, roles, base_url)
    indexer.sync()
    services = Services(
        registry,
        store,
        hash_salt=_secret(settings.data_dir, SALT_FILE),
        demo_codes=demo_codes,
        decision_key=_secret(settings.data_dir, DECISION_KEY_FILE),
    )
    services.background.append(DeliveryWorker(engine, publishers=[publish_chain_alerts]))
    return services, indexer


def _registry(session: Session) -> Registry:
    try:
        return session.registry()
    except ConfigError:
        accounts = session.chain.dev_accounts
        if not accounts:
            raise
        return session.deploy(accounts[0])


def _secret(data_dir: Path, name: str) -> bytes:
    """32 random bytes made once per data directory and kept there (owner-only)."""
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
    return path.read_bytes()
