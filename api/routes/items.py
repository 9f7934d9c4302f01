"""Writes to the ledger: register items, ship, receive, transfer, report stolen.

Every write takes an ``Idempotency-Key`` header and is stored in the outbox before anything
is sent: the answer is ``202 Accepted`` with the operation's id and a ``Location`` to follow
(``GET /v1/operations/{id}``); the same key with the same request answers ``200`` with the
same operation, so a client can retry safely; the same key with another request is a 409.

Who may do what: registering needs a brand key; moving an item a brand or custodian key.
Where the index can tell, an organisation is refused (403) an item none of its sending
accounts holds (for ``receive``: is shipped to); the chain's own check always follows,
and a refusal there fails the operation with the decoded contract error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from eth_typing import ChecksumAddress
from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CallerDep, require_role
from api.services import Services, ServicesDep
from ledger.errors import Forbidden, IdempotencyKeyRequired
from ledger.identifiers import ItemId, item_id
from ledger.outbox import OperationRead, OpStatus, Outbox, Senders
from ledger.store.orgs import Principal, Role
from ledger.store.repository import Store

__all__ = ["router"]

router = APIRouter(prefix="/v1/items", tags=["writes"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Any unique string per request (a UUID): a retry with the same key and "
        "request is answered with the first operation, never applied twice.",
    ),
]


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gtin: str = Field(description="GTIN-8, -12, -13 or -14 with its check digit.")
    serial: str = Field(description="The serial (GS1 AI 21).")


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[CodeIn] = Field(min_length=1, description="Up to the registry's batch size.")
    doc_hash: str | None = Field(
        default=None, description="keccak-256 of the product data document, `0x` + 64 hex."
    )


class RecipientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(description="The address that takes (or, shipped, must accept) the item.")


class Accepted(BaseModel):
    operation_id: str
    status: OpStatus
    location: str = Field(description="Where to follow the operation.")


_max_batch: dict[str, int] = {}


def _outbox(services: Services) -> Outbox:
    registry = services.registry
    if registry.address not in _max_batch:
        _max_batch[registry.address] = registry.max_batch_size
    return Outbox(services.engine, services.clock, max_batch_size=_max_batch[registry.address])


def _required(key: str | None) -> str:
    if key is None:
        raise IdempotencyKeyRequired(
            "send an 'Idempotency-Key' header (a fresh UUID per request) so that retries "
            "are never applied twice"
        )
    return key


def _accept(
    services: Services,
    caller: Principal,
    *,
    key: str,
    kind: str,
    request: dict[str, Any],
    response: Response,
) -> Accepted:
    operation, created = _outbox(services).submit(caller.org_id, key, kind, request)
    return _answer(operation, created, response)


def _answer(operation: OperationRead, created: bool, response: Response) -> Accepted:
    location = f"/v1/operations/{operation.id}"
    response.status_code = 202 if created else 200
    response.headers["Location"] = location
    return Accepted(operation_id=operation.id, status=operation.status, location=location)


def _own_accounts(services: Services, caller: Principal, action: str) -> list[ChecksumAddress]:
    accounts = Senders(services.engine).addresses(caller.org_id)
    if not accounts:
        raise Forbidden(
            action,
            f"{caller.name} has no sending account yet; the service operator assigns one",
        )
    return accounts


def _check_holder(
    services: Services, caller: Principal, gtin: str, serial: str, action: str, *, consignee: bool
) -> None:
    """Refuse an item the index says none of the caller's accounts holds (or is shipped
    to), after the chain confirms it: the index may lag behind a transfer to the caller."""
    check_holder(services, caller, item_id(gtin, serial), action, consignee=consignee)


def check_holder(
    services: Services, caller: Principal, item: ItemId, action: str, *, consignee: bool
) -> None:
    """:func:`_check_holder` for a record by id: an item, or a container (case, pallet)."""
    accounts = _own_accounts(services, caller, action)
    indexed = Store(services.engine).item(item)
    if indexed is None:
        return  # the index cannot tell; the chain's check decides
    holder = indexed.consignee if consignee else indexed.custodian
    if holder in accounts:
        return
    state = services.registry.item(item)
    holder = None if state is None else (state.consignee if consignee else state.custodian)
    if holder is not None and holder not in accounts:
        role = "shipped to" if consignee else "held by"
        raise Forbidden(
            action,
            f"item {item.hex()} is {role} {holder}, which is not an account of {caller.name}",
        )


@router.post("/register", status_code=202, response_model=Accepted)
def register_items(
    body: RegisterIn,
    caller: CallerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Register up to a batch of items (one transaction) under the caller's brand."""
    key = _required(idempotency_key)
    require_role(caller, "register items", Role.BRAND)
    _own_accounts(services, caller, "register items")
    request = body.model_dump(exclude_none=True)
    return _accept(services, caller, key=key, kind="register", request=request, response=response)


@dataclass(frozen=True)
class _Move:
    kind: str
    gtin: str
    serial: str
    to: str | None = None

    @property
    def action(self) -> str:
        return self.kind.replace("_", " ")


def _move(
    services: Services, caller: Principal, key: str | None, move: _Move, response: Response
) -> Accepted:
    checked_key = _required(key)
    require_role(caller, f"{move.action} items", Role.BRAND, Role.CUSTODIAN)
    request: dict[str, Any] = {"gtin": move.gtin, "serial": move.serial}
    if move.to is not None:
        request["to"] = move.to
    _check_holder(
        services, caller, move.gtin, move.serial, f"{move.action} item",
        consignee=move.kind == "receive",
    )  # fmt: skip
    return _accept(
        services, caller, key=checked_key, kind=move.kind, request=request, response=response
    )


@router.post("/{gtin}/{serial}/ship", status_code=202, response_model=Accepted)
def ship_item(
    gtin: str,
    serial: str,
    *,
    body: RecipientIn,
    caller: CallerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Ship the item to ``to``, who must receive it (two steps: nothing is pushed on anyone)."""
    return _move(services, caller, idempotency_key, _Move("ship", gtin, serial, body.to), response)


@router.post("/{gtin}/{serial}/receive", status_code=202, response_model=Accepted)
def receive_item(
    gtin: str,
    serial: str,
    *,
    caller: CallerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Take custody of an item shipped to one of the caller's accounts."""
    return _move(services, caller, idempotency_key, _Move("receive", gtin, serial), response)


@router.post("/{gtin}/{serial}/transfer", status_code=202, response_model=Accepted)
def transfer_item(
    gtin: str,
    serial: str,
    *,
    body: RecipientIn,
    caller: CallerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Hand the item to ``to`` in one step (an authorised partner of the brand)."""
    move = _Move("transfer", gtin, serial, body.to)
    return _move(services, caller, idempotency_key, move, response)


@router.post("/{gtin}/{serial}/report-stolen", status_code=202, response_model=Accepted)
def report_stolen(
    gtin: str,
    serial: str,
    *,
    caller: CallerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Flag the item stolen: it can then be neither moved, sold nor claimed."""
    return _move(services, caller, idempotency_key, _Move("report_stolen", gtin, serial), response)
