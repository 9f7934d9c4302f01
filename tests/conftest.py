"""Shared fixtures: one in-memory chain and one deployed registry per test session.

Each test that uses ``registry`` (or ``roles``/``brand``) runs between a chain snapshot and a
revert, so tests stay isolated without redeploying.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from ledger.chain import Chain, connect_memory
from ledger.registry import Registry

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PREFIX = "0614141"
"""GS1 company prefix of the test brand (GS1's own example prefix)."""
GTIN = "00614141123452"
"""A valid GTIN-14 under ``PREFIX``."""


def conformance_dir() -> Path:
    """Where the shared GS1 conformance material lives (``VERITAG_CONFORMANCE_DIR`` wins)."""
    configured = os.environ.get("VERITAG_CONFORMANCE_DIR")
    return Path(configured) if configured else PROJECT_ROOT.parent / "shared" / "conformance"


@dataclass(frozen=True)
class Roles:
    """Named parties, each a funded dev account of the in-memory chain."""

    admin: LocalAccount
    brand_admin: LocalAccount
    operator: LocalAccount
    distributor: LocalAccount
    retailer: LocalAccount
    consumer: LocalAccount
    stranger: LocalAccount
    other_brand_admin: LocalAccount
    other_operator: LocalAccount
    relayer: LocalAccount


@pytest.fixture(scope="session")
def chain() -> Chain:
    return connect_memory(accounts=10)


@pytest.fixture(scope="session")
def roles(chain: Chain) -> Roles:
    return Roles(*chain.dev_accounts[:10])


@pytest.fixture(scope="session")
def deployed(chain: Chain, roles: Roles) -> Registry:
    """The session's registry with brand 1 (``PREFIX``, one operator) and brand 2 admitted."""
    registry = Registry.deploy(chain.w3, roles.admin)
    brand_id = registry.admit_brand(roles.admin, roles.brand_admin.address, "Acme", [PREFIX])
    registry.add_operator(roles.brand_admin, brand_id, roles.operator.address)
    other = registry.admit_brand(roles.admin, roles.other_brand_admin.address, "Other", ["0950600"])
    registry.add_operator(roles.other_brand_admin, other, roles.other_operator.address)
    return registry


@pytest.fixture
def registry(chain: Chain, deployed: Registry) -> Iterator[Registry]:
    """The session registry, with every change a test makes rolled back afterwards."""
    snapshot = chain.snapshot()
    yield deployed
    chain.revert(snapshot)


@pytest.fixture
def brand() -> int:
    """Brand id of the test brand admitted by ``deployed``."""
    return 1
