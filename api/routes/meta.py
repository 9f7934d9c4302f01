"""Health and readiness (``/healthz`` is also the trivial route benchmarks compare with), and
the demo listing.

``/healthz`` answers while the process lives. ``/readyz`` answers 200 only when the chain and
the database answer and the indexer is at most ``ready_max_lag`` blocks behind the head
(``create_app``'s argument, ``VERITAG_READY_MAX_LAG``); otherwise 503, a problem body with
the same details and what is wrong. The chain is asked with the scan path's short timeout
(``api.verdict_cache.CHAIN_TIMEOUT``), so a node that stopped answering makes /readyz say
so quickly rather than hang.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select
from web3.exceptions import Web3Exception

from api.problems import problem
from api.services import Services, ServicesDep
from ledger.store.models import IndexerCheckpoint

router = APIRouter(tags=["meta"])
demo_router = APIRouter(tags=["demo"])

DEFAULT_READY_MAX_LAG = 5


@router.get("/healthz")
def health() -> dict[str, str]:
    """Liveness: answers without touching the chain or the store."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: chain, database and indexer",
    responses={503: {"description": "Not ready: a problem body saying what is wrong."}},
)
def ready(request: Request, services: ServicesDep) -> JSONResponse:
    """200 when the chain and the database answer and the index is caught up; else 503."""
    max_lag: int = getattr(request.app.state, "ready_max_lag", DEFAULT_READY_MAX_LAG)
    problems: list[str] = []
    chain, head = _chain(services, problems)
    database = _database(services, problems)
    indexer = _indexer(services, head, max_lag, problems) if database == "ok" else None
    details: dict[str, Any] = {"chain": chain, "database": database, "indexer": indexer}
    if problems:
        return problem(503, "NotReady", "; ".join(problems), **details)
    return JSONResponse({"status": "ready", **details})


def _chain(services: Services, problems: list[str]) -> tuple[dict[str, Any], int | None]:
    registry = services.registry
    try:  # with the scan path's reads, which give up after a short timeout
        head: int = services.verdicts.registry.w3.eth.block_number
    except (OSError, ValueError, Web3Exception) as exc:
        # Only the error's kind: an RPC URL may carry a provider's key.
        problems.append(f"the chain does not answer ({type(exc).__name__})")
        return {"chain_id": registry.chain_id, "status": "unreachable"}, None
    return {"chain_id": registry.chain_id, "contract": registry.address, "head": head}, head


def _database(services: Services, problems: list[str]) -> str:
    if services.store is None:
        return "none"  # a chain-only service: scans answer without a store
    try:
        with services.store.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        problems.append(f"the database does not answer ({type(cause).__name__})")
        return "unreachable"
    return "ok"


def _indexer(
    services: Services, head: int | None, max_lag: int, problems: list[str]
) -> dict[str, Any] | None:
    if services.store is None:
        return None
    registry = services.registry
    try:
        with Session(services.store.engine) as db:
            checkpoint = db.exec(
                select(IndexerCheckpoint).where(
                    IndexerCheckpoint.chain_id == registry.chain_id,
                    IndexerCheckpoint.contract == registry.address,
                )
            ).first()
    except SQLAlchemyError as exc:
        problems.append(f"the indexer's checkpoint cannot be read ({type(exc).__name__})")
        return None
    indexed = checkpoint.last_indexed_block if checkpoint is not None else None
    if head is None:
        return {"indexed_block": indexed, "head": None, "behind": None}
    behind = head - (indexed if indexed is not None else registry.deploy_block - 1)
    if behind > max_lag:
        problems.append(f"the indexer is {behind} blocks behind the chain head (at most {max_lag})")
    return {"indexed_block": indexed, "head": head, "behind": max(behind, 0)}


@demo_router.get("/v1/demo")
def demo_codes(services: ServicesDep) -> dict[str, str]:
    """Demo mode only: the label URL of one item in each state, ``{state: url}``."""
    return dict(services.demo_codes or {})
