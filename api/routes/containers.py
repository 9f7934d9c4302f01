"""Writes on cases and pallets (GS1 SSCC): pack, unpack, ship, receive, transfer.

A container is named by its 18-digit SSCC; the registry keys it by
``container_id(sscc) = keccak256("00/" + sscc)``. Packing creates it on first use, held by the
packer. Shipping or receiving a pallet is one transaction whose gas does not depend on what
it holds; every item inside follows it. Writes go through the outbox exactly as item writes
do (``Idempotency-Key``, ``202`` and an operation to follow); the SSCCs named are recorded
in the store (they never go on chain) so that scans can show them, and so are the GTINs and
serials of the items packed or unpacked, so that the container's EPCIS export names them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CallerDep, require_role
from api.routes.items import (
    Accepted,
    IdempotencyKey,
    RecipientIn,
    _accept,
    _own_accounts,
    _required,
    check_holder,
)
from api.services import Services, ServicesDep
from ledger.identifiers import container_id, item_id, validate_sscc
from ledger.store.containers import Containers
from ledger.store.orgs import Principal, Role
from ledger.store.repository import Store

__all__ = ["router"]

router = APIRouter(prefix="/v1/containers", tags=["writes"])


class ContentIn(BaseModel):
    """An item (``gtin`` and ``serial``) or a case (``sscc``)."""

    model_config = ConfigDict(extra="forbid")

    gtin: str | None = Field(default=None, description="An item's GTIN, with ``serial``.")
    serial: str | None = Field(default=None, description="An item's serial (GS1 AI 21).")
    sscc: str | None = Field(default=None, description="A case's SSCC (18 digits).")


class PackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ContentIn] = Field(
        min_length=1, description="Items or cases, up to the registry's batch size."
    )


def _write(
    services: Services,
    caller: Principal,
    key: str | None,
    sscc: str,
    *,
    kind: str,
    response: Response,
    request: dict[str, Any],
    consignee: bool = False,
) -> Accepted:
    checked_key = _required(key)
    action = f"{kind.replace('_', ' ')} container"
    require_role(caller, action, Role.BRAND, Role.CUSTODIAN)
    _own_accounts(services, caller, action)
    canonical = validate_sscc(sscc)
    if kind != "pack":  # a pack may create the container; the chain decides
        check_holder(services, caller, container_id(canonical), action, consignee=consignee)
    named = [canonical, *(str(c["sscc"]) for c in request.get("items", ()) if "sscc" in c)]
    Containers(services.engine).record(named)
    accepted = _accept(
        services,
        caller,
        key=checked_key,
        kind=kind,
        request={"sscc": canonical, **request},
        response=response,
    )
    # Only now: the outbox has checked every GTIN and serial.
    codes = [(str(c["gtin"]), str(c["serial"])) for c in request.get("items", ()) if "gtin" in c]
    Store(services.engine).record_codes((g, s, item_id(g, s).hex()) for g, s in codes)
    return accepted


def _contents(body: PackIn) -> list[dict[str, str]]:
    return [entry.model_dump(exclude_none=True) for entry in body.items]


@router.post("/{sscc}/pack", status_code=202, response_model=Accepted)
def pack(
    sscc: str,
    *,
    body: PackIn,
    caller: CallerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Pack items (or cases) into the case or pallet ``sscc``, created on first use."""
    request = {"items": _contents(body)}
    return _write(
        services, caller, idempotency_key, sscc, kind="pack", response=response, request=request
    )


@router.post("/{sscc}/unpack", status_code=202, response_model=Accepted)
def unpack(
    sscc: str,
    *,
    body: PackIn,
    caller: CallerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Take items (or cases) out of ``sscc``: the container's custodian then holds each."""
    request = {"items": _contents(body)}
    return _write(
        services, caller, idempotency_key, sscc, kind="unpack", response=response, request=request
    )


@router.post("/{sscc}/ship", status_code=202, response_model=Accepted)
def ship(
    sscc: str,
    *,
    body: RecipientIn,
    caller: CallerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Ship the container, and so everything in it, to ``to``, who must receive it."""
    request = {"to": body.to}
    return _write(
        services, caller, idempotency_key, sscc, kind="ship", response=response, request=request
    )


@router.post("/{sscc}/receive", status_code=202, response_model=Accepted)
def receive(
    sscc: str,
    *,
    caller: CallerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Take custody of a container shipped to one of the caller's accounts."""
    return _write(
        services,
        caller,
        idempotency_key,
        sscc,
        kind="receive",
        response=response,
        request={},
        consignee=True,
    )


@router.post("/{sscc}/transfer", status_code=202, response_model=Accepted)
def transfer(
    sscc: str,
    *,
    body: RecipientIn,
    caller: CallerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Hand the container, and everything in it, to ``to`` in one step."""
    request = {"to": body.to}
    return _write(
        services, caller, idempotency_key, sscc, kind="transfer", response=response, request=request
    )
