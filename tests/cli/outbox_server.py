"""A real API process with the outbox submitter running, for the crash-recovery tests.

``python -m tests.cli.outbox_server RPC_URL REGISTRY DEPLOY_BLOCK DATABASE_URL PORT`` serves
the app with uvicorn; the organisations' keys are the chain's dev accounts (the seam that
custodial keys fill in production). It prints ``ready`` once it listens.
"""

from __future__ import annotations

import sys

import uvicorn

from api.app import create_app
from api.services import Services
from ledger.chain import connect_rpc
from ledger.outbox import Submitter, signers_from_accounts
from ledger.registry import Registry
from ledger.store.database import make_engine, migrate
from ledger.store.repository import Store


def main(rpc_url: str, registry_address: str, deploy_block: str, database: str, port: str) -> None:
    chain = connect_rpc(rpc_url)
    registry = Registry(chain.w3, registry_address, deploy_block=int(deploy_block))
    engine = make_engine(database)
    migrate(engine)
    services = Services(registry, Store(engine))
    submitter = Submitter(
        engine, registry, signers_from_accounts(engine, chain.dev_accounts), poll_interval=0.05
    )
    services.background.append(submitter)
    uvicorn.run(create_app(services), host="127.0.0.1", port=int(port), log_level="warning")


if __name__ == "__main__":
    main(*sys.argv[1:])
