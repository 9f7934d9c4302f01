"""/healthz answers while the process lives; /readyz only when chain, database and index are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from ledger.chain import Chain
from ledger.indexer import Indexer
from ledger.registry import Registry
from ledger.store.database import make_engine, migrate
from ledger.store.repository import Store

UNREACHABLE_DATABASE = "postgresql+psycopg://nobody@127.0.0.1:1/nothing"
"""Nothing listens on port 1: connecting is refused at once."""


def readyz(services: Services, *, max_lag: int = 5) -> tuple[int, dict[str, Any]]:
    with TestClient(create_app(services, ready_max_lag=max_lag)) as client:
        response = client.get("/readyz")
    return response.status_code, response.json()


def chain_part(registry: Registry, head: int) -> dict[str, Any]:
    return {"chain_id": registry.chain_id, "contract": registry.address, "head": head}


def test_healthz_answers_without_the_chain_or_the_store(services: Services) -> None:
    with TestClient(create_app(services)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}


def test_ready_when_chain_and_database_answer_and_the_index_is_caught_up(
    api_registry: Registry, store: Store, services: Services
) -> None:
    Indexer(api_registry, store.engine).sync()
    head = api_registry.w3.eth.block_number

    status, body = readyz(services)

    assert status == 200
    assert body == {
        "status": "ready",
        "chain": chain_part(api_registry, head),
        "database": "ok",
        "indexer": {"indexed_block": head, "head": head, "behind": 0},
    }


def test_not_ready_when_the_indexer_is_more_blocks_behind_than_allowed(
    api_chain: Chain, api_registry: Registry, store: Store, services: Services
) -> None:
    Indexer(api_registry, store.engine).sync()
    indexed = api_registry.w3.eth.block_number
    api_chain.w3.testing.mine(6)  # type: ignore[attr-defined]
    head = indexed + 6

    status, body = readyz(services, max_lag=5)
    lenient_status, _ = readyz(services, max_lag=6)

    assert status == 503
    assert body == {
        "type": "about:blank",
        "title": "NotReady",
        "status": 503,
        "detail": "the indexer is 6 blocks behind the chain head (at most 5)",
        "chain": chain_part(api_registry, head),
        "database": "ok",
        "indexer": {"indexed_block": indexed, "head": head, "behind": 6},
    }
    assert lenient_status == 200


def test_not_ready_when_nothing_was_indexed_yet(
    api_chain: Chain, api_registry: Registry, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    migrate(engine)
    api_chain.w3.testing.mine(6)  # type: ignore[attr-defined]
    head = api_registry.w3.eth.block_number
    behind = head - api_registry.deploy_block + 1

    status, body = readyz(Services(api_registry, Store(engine)))

    assert status == 503
    assert body["indexer"] == {"indexed_block": None, "head": head, "behind": behind}
    assert body["detail"] == f"the indexer is {behind} blocks behind the chain head (at most 5)"
    engine.dispose()


def test_not_ready_when_the_database_does_not_answer(api_registry: Registry) -> None:
    engine = make_engine(UNREACHABLE_DATABASE, connect_args={"connect_timeout": 2})
    head = api_registry.w3.eth.block_number

    status, body = readyz(Services(api_registry, Store(engine)))

    assert status == 503
    assert body == {
        "type": "about:blank",
        "title": "NotReady",
        "status": 503,
        "detail": "the database does not answer (OperationalError)",
        "chain": chain_part(api_registry, head),
        "database": "unreachable",
        "indexer": None,
    }
    engine.dispose()


def test_ready_without_a_store_reads_the_chain_alone(api_registry: Registry) -> None:
    head = api_registry.w3.eth.block_number

    status, body = readyz(Services(api_registry))

    assert (status, body) == (
        200,
        {
            "status": "ready",
            "chain": chain_part(api_registry, head),
            "database": "none",
            "indexer": None,
        },
    )
