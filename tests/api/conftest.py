"""An app on the session's in-memory chain with a real SQLite store and the demo items."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from ledger.chain import Chain, connect_memory
from ledger.identifiers import check_digit
from ledger.indexer import Indexer
from ledger.outbox import OperationRead, Senders, Signer, Submitter, signers_from_accounts
from ledger.registry import Registry
from ledger.store.database import make_engine, migrate
from ledger.store.orgs import Organisations, Role
from ledger.store.repository import Store
from veritag.demo_seed import DemoRoles, seed_demo

BASE = "http://testserver"
UNKNOWN_GTIN = "0401234500001" + str(check_digit("0401234500001"))
"""A valid GTIN whose prefix (4012345…) no brand registered."""


@pytest.fixture(scope="module")
def api_chain() -> Chain:
    return connect_memory()


@pytest.fixture(scope="module")
def api_registry(api_chain: Chain) -> Registry:
    return Registry.deploy(api_chain.w3, api_chain.dev_accounts[0])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path: Path = tmp_path_factory.mktemp("store") / "veritag.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    yield Store(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def demo_urls(api_chain: Chain, api_registry: Registry, store: Store) -> dict[str, str]:
    roles = DemoRoles.from_dev_accounts(api_chain.dev_accounts)
    return seed_demo(api_registry, store, roles, BASE)


@pytest.fixture(scope="module")
def services(api_registry: Registry, store: Store, demo_urls: dict[str, str]) -> Services:
    return Services(api_registry, store, hash_salt=b"test-salt", demo_codes=demo_urls)


@pytest.fixture(scope="module")
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), raise_server_exceptions=False) as test_client:
        yield test_client


def path_of(url: str) -> str:
    return url.removeprefix(BASE)


# ───────────── organisations and their API keys ─────────────


@pytest.fixture(scope="module")
def organisations(store: Store) -> Organisations:
    return Organisations(store.engine)


@pytest.fixture(scope="module")
def marketplace_key(organisations: Organisations) -> str:
    return organisations.create("Market One", Role.MARKETPLACE)[1]


@pytest.fixture(scope="module")
def other_marketplace_key(organisations: Organisations) -> str:
    return organisations.create("Market Two", Role.MARKETPLACE)[1]


@pytest.fixture(scope="module")
def registry_key(organisations: Organisations) -> str:
    return organisations.create("Registry Operator", Role.REGISTRY)[1]


@pytest.fixture(scope="module")
def brand_key(organisations: Organisations, demo_urls: dict[str, str]) -> str:
    """A key of the organisation that speaks for the demo brand (brand id 1)."""
    return organisations.create("Demo Brand", Role.BRAND, brand_id=1)[1]


@pytest.fixture(scope="module")
def custodian_key(organisations: Organisations) -> str:
    return organisations.create("Some Retailer", Role.CUSTODIAN)[1]


def auth(key: str) -> dict[str, str]:
    """Request headers that authenticate with ``key``."""
    return {"Authorization": f"Bearer {key}"}


# ───────────── writes through the outbox ─────────────


@pytest.fixture(scope="module")
def demo_roles(api_chain: Chain) -> DemoRoles:
    return DemoRoles.from_dev_accounts(api_chain.dev_accounts)


@pytest.fixture(scope="module")
def senders(
    store: Store,
    api_registry: Registry,
    organisations: Organisations,
    demo_roles: DemoRoles,
    brand_key: str,
    custodian_key: str,
) -> dict[str, int]:
    """The brand sends from the demo factory (its operator), the retailer from the shop."""
    orgs = {
        "brand": organisations.authenticate(brand_key).org_id,
        "retailer": organisations.authenticate(custodian_key).org_id,
    }
    chain_id = api_registry.chain_id
    Senders(store.engine).assign(orgs["brand"], demo_roles.factory.address, chain_id)
    Senders(store.engine).assign(orgs["retailer"], demo_roles.retailer.address, chain_id)
    return orgs


@pytest.fixture(scope="module")
def run_submitter(
    store: Store, api_registry: Registry, api_chain: Chain, senders: dict[str, int]
) -> Callable[[], None]:
    """Send every queued operation until none is open, then index what was mined."""
    signer_for: Callable[[OperationRead], Signer] = signers_from_accounts(
        store.engine, api_chain.dev_accounts
    )
    submitter = Submitter(store.engine, api_registry, signer_for)
    indexer = Indexer(api_registry, store.engine)

    def run() -> None:
        submitter.run_until_idle()
        indexer.sync()

    return run
