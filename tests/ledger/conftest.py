"""Store fixtures shared by the ledger tests: every store test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.ledger.test_store import migrated_postgres, store_engine


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A migrated schema of the local PostgreSQL, one per test module."""
    with migrated_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty store: a SQLite file, or a schema of the local PostgreSQL."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with store_engine(request.param, tmp_path, url) as made:
        yield made
