"""What became of a write: ``GET /v1/operations/{id}`` and the organisation's list.

An operation is ``queued`` (stored, not sent), ``submitted`` (signed and sent, with its
transaction), ``confirmed`` (mined, with its block) or ``failed`` (with the decoded contract
error, or what else went wrong). Another organisation's operation is a 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.auth import CallerDep
from api.services import ServicesDep
from ledger.outbox import OperationRead, OpStatus, Outbox

__all__ = ["OperationPublic", "router"]

router = APIRouter(prefix="/v1/operations", tags=["operations"])


class OperationError(BaseModel):
    name: str = Field(description="The contract error's name (`NotCustodian`, …) or the cause.")
    message: str = Field(description="The error in a sentence.")
    data: dict[str, Any] = Field(description="The error's arguments by name.")


class OperationPublic(BaseModel):
    id: str
    kind: str = Field(description="`register`, `ship`, `receive`, `transfer`, `report_stolen`.")
    status: OpStatus
    tx_hash: str | None = Field(description="The mined transaction, or the latest one sent.")
    block: int | None = Field(description="The block it was mined in (confirmed or failed).")
    error: OperationError | None
    created_at: datetime
    updated_at: datetime


def public(operation: OperationRead) -> OperationPublic:
    return OperationPublic(
        id=operation.id,
        kind=operation.kind,
        status=operation.status,
        tx_hash=operation.tx_hash,
        block=operation.block_number,
        error=OperationError(**operation.error) if operation.error else None,
        created_at=operation.created_at,
        updated_at=operation.updated_at,
    )


@router.get("/{operation_id}")
def get_operation(operation_id: str, caller: CallerDep, services: ServicesDep) -> OperationPublic:
    """One of the caller's operations."""
    return public(Outbox(services.engine, services.clock).get(caller.org_id, operation_id))


@router.get("")
def list_operations(
    caller: CallerDep,
    services: ServicesDep,
    status: OpStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[OperationPublic]:
    """The caller's operations, newest first."""
    found = Outbox(services.engine, services.clock).list(caller.org_id, status, limit)
    return [public(op) for op in found]
