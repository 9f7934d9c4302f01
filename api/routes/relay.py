"""Relaying for parties without gas: they sign, the service sends and pays.

``POST /v1/relay/prepare`` builds the ERC-2771 request a custodian or consumer signs for one
of its own operations (ship, receive, transfer, report stolen, claim) — simulated first, so
a refusal is known before anyone signs — and returns the EIP-712 typed data for a wallet.
``POST /v1/relay`` takes the signed request, checks it as the chain would (deadline, nonce,
signer, the registry's own rules), and stores it in the outbox; the submitter sends it from
the service's relayer account. The operation id is the client's receipt:
``GET /v1/relay/{id}`` follows it without a key. A signed request can execute once, so it is
its own idempotency key: posting it again answers the same operation.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from web3 import Web3

from api.services import Services, ServicesDep
from ledger.claims import InvalidClaimCode
from ledger.errors import ConfigError, IdentifierError, InvalidRecord, NotFound
from ledger.identifiers import ItemId, item_id
from ledger.outbox import OperationRead, Outbox
from ledger.registry import Registry
from ledger.relay import (
    ForwardRequest,
    Relayer,
    claim_data,
    receive_data,
    report_stolen_data,
    ship_data,
    transfer_data,
)

router = APIRouter(prefix="/v1/relay", tags=["relay"])

_HEX = r"^0x(?:[0-9a-fA-F]{2})*$"


class RelayNotSetUp(ConfigError):
    """The service has no relayer account, so it cannot pay for anyone's requests."""

    status = 503

    def __init__(self) -> None:
        super().__init__(
            "relaying is not set up on this service: its operator runs `veritag admin "
            "relayer` to give it a gas-paying account"
        )


class ForwardRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", description="The signer: who acts on the registry.")
    to: str = Field(description="The registry's address.")
    gas: int = Field(ge=0)
    nonce: int = Field(ge=0, description="The signer's next nonce at the forwarder.")
    deadline: int = Field(ge=0, lt=2**48, description="Unix time after which it is void.")
    data: str = Field(pattern=_HEX, max_length=20_000, description="The registry call.")

    def parsed(self) -> ForwardRequest:
        try:
            return ForwardRequest(
                sender=Web3.to_checksum_address(self.from_),
                to=Web3.to_checksum_address(self.to),
                gas=self.gas,
                nonce=self.nonce,
                deadline=self.deadline,
                data=bytes.fromhex(self.data[2:]),
            )
        except ValueError as exc:
            raise InvalidRecord("relayed request", str(exc)) from None


class RelayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request: ForwardRequestIn
    signature: str = Field(pattern=_HEX, max_length=200, description="EIP-712, 65 bytes.")


class PrepareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sender: str = Field(description="The address that will sign (the custodian or owner).")
    operation: Literal["ship", "receive", "transfer", "report_stolen", "claim"]
    gtin: str
    serial: str
    to: str | None = Field(default=None, description="For ship and transfer.")
    new_owner: str | None = Field(default=None, description="For claim.")
    claim_signature: str | None = Field(
        default=None, pattern=_HEX, description="For claim: the hidden code's signature."
    )


class PreparedOut(BaseModel):
    request: dict[str, Any] = Field(description="The request to sign and post back.")
    typed_data: dict[str, Any] = Field(description="EIP-712 typed data for a wallet.")


class RelayOperationOut(BaseModel):
    operation_id: str
    status: str
    tx_hash: str | None
    block: int | None
    error: dict[str, Any] | None
    location: str


def _relayer(services: Services) -> tuple[Relayer, int]:
    if services.relayer is None or services.relayer_org_id is None:
        raise RelayNotSetUp
    return services.relayer, services.relayer_org_id


@router.post("/prepare", response_model=PreparedOut, summary="Build a request to sign")
def prepare(body: PrepareIn, services: ServicesDep) -> PreparedOut:
    relayer, _ = _relayer(services)
    request = relayer.request(body.sender, _call_data(body, services.registry))
    typed = relayer.typed_data(request)
    typed["message"] = {**typed["message"], "data": "0x" + request.data.hex()}
    shown = request.as_json(b"")
    del shown["signature"]
    return PreparedOut(request=shown, typed_data=typed)


@router.post("", status_code=202, response_model=RelayOperationOut, summary="Relay a request")
def relay(body: RelayIn, services: ServicesDep, response: Response) -> RelayOperationOut:
    relayer, org_id = _relayer(services)
    request = body.request.parsed()
    signature = bytes.fromhex(body.signature[2:])
    key = "relay-" + hashlib.sha256(signature).hexdigest()[:32]
    outbox = Outbox(services.engine, services.clock)
    known = outbox.find(org_id, key)
    if known is None:
        relayer.check(request, signature)  # the chain's refusals, before anything is stored
    operation, created = outbox.submit(org_id, key, "relay", request.as_json(signature))
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/v1/relay/{operation.id}"
    return _out(operation)


@router.get("/{operation_id}", response_model=RelayOperationOut, summary="Follow a relayed request")
def follow(operation_id: str, services: ServicesDep) -> RelayOperationOut:
    _, org_id = _relayer(services)
    operation = Outbox(services.engine, services.clock).get(org_id, operation_id)
    if operation.kind != "relay":
        raise NotFound("relayed request", operation_id)
    return _out(operation)


def _out(operation: OperationRead) -> RelayOperationOut:
    return RelayOperationOut(
        operation_id=operation.id,
        status=operation.status.value,
        tx_hash=operation.tx_hash,
        block=operation.block_number,
        error=operation.error,
        location=f"/v1/relay/{operation.id}",
    )


def _call_data(body: PrepareIn, registry: Registry) -> bytes:
    """The operation's calldata; for an item of a Merkle batch not yet on chain, a multicall
    that activates it first."""
    try:
        item: ItemId = item_id(body.gtin, body.serial)
        return registry.first_action_data(item, _encoded(body, item))
    except (IdentifierError, InvalidClaimCode, ValueError) as exc:
        raise InvalidRecord("relay request", str(exc)) from None


def _encoded(body: PrepareIn, item: ItemId) -> bytes:
    if body.operation in {"ship", "transfer"}:
        if body.to is None:
            raise InvalidRecord("relay request", f"{body.operation} needs `to`")
        return (ship_data if body.operation == "ship" else transfer_data)(item, body.to)
    if body.operation == "receive":
        return receive_data(item)
    if body.operation == "report_stolen":
        return report_stolen_data(item)
    if body.new_owner is None or body.claim_signature is None:
        raise InvalidRecord("relay request", "claim needs `new_owner` and `claim_signature`")
    return claim_data(item, body.new_owner, bytes.fromhex(body.claim_signature[2:]))
