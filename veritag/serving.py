"""What ``veritag serve`` runs: the API and scan page with the indexer, on the CLI's chain
choices.

On the default ``local`` chain it manages anvil itself: starts it (state in the data
directory) unless one already runs for the data directory, restarts it if it dies, and on exit
stops it only if it started it. ``--chain memory`` runs the in-process chain; ``--rpc-url``
(with ``--contract``) any node. Deploys a registry where none is deployed yet (on a
development chain, from its first dev account), migrates the store, and with ``--demo`` seeds
one item in each state and prints their label URLs.

Background jobs (following the chain into the store, webhook deliveries) run in exactly one
process: the holder of the leader lock (:mod:`ledger.leader`). With ``--workers N`` (on
PostgreSQL) uvicorn starts N processes, each building its app with :func:`worker_app` from the
environment this process hands down.

Kept apart from the command (:mod:`veritag.commands.serve`) so that every other command starts
without importing the API, uvicorn and the background jobs.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import uvicorn
from fastapi import FastAPI
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from api.app import create_app
from api.ratelimit import RateLimits
from api.services import Services
from ledger.alerts.chain_alerts import publish_chain_alerts
from ledger.alerts.delivery import DeliveryWorker
from ledger.anvil import AnvilSupervisor
from ledger.custodial import CustodialKeys
from ledger.errors import ConfigError, NotFound
from ledger.indexer import Indexer
from ledger.leader import Job, LeaderJobs, LeaderLock
from ledger.outbox.signer import Senders, custodial_signers
from ledger.outbox.submitter import Submitter
from ledger.registry import Registry
from ledger.relay import Relayer
from ledger.settings import Settings
from ledger.store.database import default_url, make_engine, migrate
from ledger.store.merkle_batches import MerkleBatches
from ledger.store.orgs import RELAYER_ORGANISATION
from ledger.store.repository import Store
from veritag.demo_seed import DemoRoles, seed_demo
from veritag.session import Session

__all__ = ["LEADER_LOCK", "IndexFollower", "build_services", "serve", "worker_app"]

console = Console()
SALT_FILE = "scan-salt"
"""Salt for hashing scanners' IPs and user agents."""
DECISION_KEY_FILE = "decision-key"
"""Private key that signs listing decisions: kept, so signatures stay checkable across runs."""
LEADER_LOCK = "veritag-background-jobs"
DEMO_CODES_ENV = "VERITAG_SERVE_DEMO_CODES"
"""How ``serve`` hands its demo items to worker processes (not a setting: set by serve)."""
BASE_URL_ENV = "VERITAG_SERVE_BASE_URL"


def serve(settings: Settings, *, demo: bool, host: str, port: int, workers: int) -> None:
    """Serve the scan API and page (uvicorn) with ``settings``, indexing in the background."""
    settings.require_production_secrets()
    if workers > 1:
        _require_shared_database(settings, workers)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so `finally` stops what we started
    session = Session(settings)
    base_url = f"http://{host}:{port}"
    with managed_anvil(session):
        if workers == 1:
            services, _ = build_services(session, demo=demo, base_url=base_url)
            _announce(services, base_url, workers)
            app = create_app(
                services,
                rate_limits=rate_limits(settings),
                ready_max_lag=settings.ready_max_lag,
                max_request_bytes=settings.max_request_bytes,
            )
            gc.collect()
            gc.freeze()  # what startup built lives as long as the server: out of every GC pass
            uvicorn.run(app, host=host, port=port, log_level="warning")
            return
        services, indexer = build_services(session, demo=demo, base_url=base_url)
        _announce(services, base_url, workers)
        os.environ.update(_worker_environment(session, services, base_url))
        indexer.engine.dispose()  # workers open their own connections
        uvicorn.run(
            f"{__name__}:worker_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
        )


def worker_app() -> FastAPI:
    """One API worker's app, from the settings ``serve --workers`` put in the environment."""
    settings = Settings()
    session = Session(settings)
    codes = os.environ.get(DEMO_CODES_ENV)
    services, _ = build_services(
        session,
        demo=False,
        base_url=os.environ.get(BASE_URL_ENV, "http://127.0.0.1:8000"),
        demo_codes=json.loads(codes) if codes else None,
        initial_sync=False,
    )
    app = create_app(
        services,
        rate_limits=rate_limits(settings),
        ready_max_lag=settings.ready_max_lag,
        max_request_bytes=settings.max_request_bytes,
    )
    gc.collect()
    gc.freeze()
    return app


def rate_limits(settings: Settings) -> RateLimits:
    return RateLimits(
        per_address_per_minute=settings.rate_limit_scans_per_minute,
        per_key_per_minute=settings.rate_limit_key_per_minute,
    )


@contextmanager
def managed_anvil(session: Session) -> Iterator[AnvilSupervisor | None]:
    """On the ``local`` chain: anvil running and supervised while the block runs.

    A node found running for the data directory is used and left running at the end; one
    started here is stopped (SIGTERM: anvil saves its state) at the end.
    """
    settings = session.settings
    if settings.rpc_url or settings.chain != "local":
        yield None
        return
    node = session.anvil
    started_here = not node.status().running
    status = node.start()
    if started_here:
        console.print(f"[green]✔[/green] started anvil at {status.url} (state {node.state_file})")
    else:
        console.print(f"using the anvil already running at {status.url} (pid {status.pid})")
    supervisor = AnvilSupervisor(node)
    supervisor.start()
    try:
        yield supervisor
    finally:
        supervisor.stop()
        if started_here:
            node.stop()
            console.print("[green]✔[/green] stopped the anvil this serve started")


class IndexFollower:
    """The indexer following the chain in a thread: a leader job."""

    def __init__(self, indexer: Indexer, poll_interval: float = 1.0) -> None:
        self.indexer = indexer
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.indexer.follow,
            args=(self._stop, self.poll_interval),
            name="veritag-indexer",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def build_services(
    session: Session,
    *,
    demo: bool,
    base_url: str,
    demo_codes: dict[str, str] | None = None,
    initial_sync: bool = True,
) -> tuple[Services, Indexer]:
    """Registry (deployed if needed), migrated store, indexer and, in demo mode, the seed.

    ``services.background`` holds one :class:`LeaderJobs` that follows the chain and delivers
    webhooks while this process holds the leader lock; add further leader-only jobs to its
    ``jobs`` before the app starts.
    """
    registry = _registry(session)
    settings = session.settings
    engine = make_engine(settings.database_url or default_url(settings.data_dir))
    migrate(engine)
    store = Store(engine)
    registry.batch_proofs = MerkleBatches(engine).proof  # first actions activate batch items
    indexer = Indexer(registry, engine, confirmations=settings.confirmations)
    if demo:
        roles = DemoRoles.from_dev_accounts(session.chain.dev_accounts)
        demo_codes = seed_demo(registry, store, roles, base_url)
    if initial_sync:
        indexer.sync()
    services = Services(
        registry,
        store,
        hash_salt=session.secret(SALT_FILE),
        demo_codes=demo_codes,
        decision_key=session.secret(DECISION_KEY_FILE),
        epcis_schema=settings.epcis_schema,
        webhook_private_destinations=settings.webhook_private_destinations,
    )
    custodial_keys = session.custodial_keys()
    _enable_relaying(services, custodial_keys)
    submitter = Submitter(
        engine,
        registry,
        custodial_signers(engine, custodial_keys),
        confirmations=settings.confirmations,
    )
    jobs: list[Job] = [
        IndexFollower(indexer),
        DeliveryWorker(
            engine,
            publishers=[publish_chain_alerts],
            allow_private_destinations=settings.webhook_private_destinations,
        ),
        submitter,
    ]
    services.background.append(LeaderJobs(LeaderLock(engine, LEADER_LOCK), jobs))
    return services, indexer


def _enable_relaying(services: Services, keys: CustodialKeys) -> None:
    """Relay requests when ``veritag admin relayer`` gave the service a gas-paying account."""
    organisations = services.organisations()
    try:
        org = organisations.by_name(RELAYER_ORGANISATION)
    except NotFound:
        return
    senders = Senders(services.engine)
    if not senders.addresses(org.id):
        return
    services.relayer = Relayer(services.registry, keys.account(org.id, senders.sender_of(org.id)))
    services.relayer_org_id = org.id


def _announce(services: Services, base_url: str, workers: int) -> None:
    registry = services.registry
    processes = f"{workers} worker processes" if workers > 1 else "one process"
    console.print(
        f"[green]✔[/green] registry {registry.address} on chain {registry.chain_id}; "
        f"serving {base_url} ({processes})\n"
        f"  API docs   {base_url}/docs\n  readiness  {base_url}/readyz",
        soft_wrap=True,
    )
    if services.demo_codes:
        console.print("  scan pages of the demo items:")
        for state, url in services.demo_codes.items():
            console.print(f"  {state:18} {url}", soft_wrap=True)
        print(json.dumps(services.demo_codes), flush=True)


def _worker_environment(session: Session, services: Services, base_url: str) -> dict[str, str]:
    """What a worker process needs to build the same services (see :func:`worker_app`)."""
    settings = session.settings
    registry = services.registry
    environment = {
        "VERITAG_DATA_DIR": str(settings.data_dir.resolve()),
        "VERITAG_RPC_URL": session.chain.url,
        "VERITAG_CONTRACT": registry.address,
        "VERITAG_START_BLOCK": str(registry.deploy_block),
        BASE_URL_ENV: base_url,
    }
    if settings.database_url:
        environment["VERITAG_DATABASE_URL"] = settings.database_url
    if services.demo_codes:
        environment[DEMO_CODES_ENV] = json.dumps(services.demo_codes)
    return environment


def _require_shared_database(settings: Settings, workers: int) -> None:
    if settings.chain == "memory" and not settings.rpc_url:
        raise ConfigError(
            f"--workers {workers} cannot share an in-memory chain: it lives inside one "
            "process; use the local chain (the default) or --rpc-url"
        )
    url = settings.database_url or default_url(settings.data_dir)
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise ConfigError(
            f"VERITAG_DATABASE_URL {url!r} is not a database URL; use "
            "postgresql+psycopg://USER@HOST/DB"
        ) from None
    if backend != "postgresql":
        raise ConfigError(
            f"--workers {workers} needs PostgreSQL (VERITAG_DATABASE_URL=postgresql+psycopg://…): "
            "SQLite lets one process write at a time, so several workers would fail each "
            "other's writes; run one worker on SQLite"
        )


def _exit_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _registry(session: Session) -> Registry:
    if session.settings.contract is not None:
        return session.registry()  # an existing registry: never deploy in its place
    try:
        return session.registry()
    except ConfigError:
        accounts = session.chain.dev_accounts
        if not accounts:
            raise
        return session.deploy(accounts[0])
