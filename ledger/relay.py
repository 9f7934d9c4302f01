"""Operations signed by parties without gas, relayed by the service, which pays for them.

A custodian or consumer signs an EIP-712 ``ForwardRequest`` (OpenZeppelin's
``ERC2771Forwarder``): the registry call it wants (``data``), its next nonce at the forwarder,
a deadline and a gas limit, in the domain ``Veritag Forwarder`` version ``1`` bound to the chain
id and the forwarder's address. The service's gas-paying account submits it with the
forwarder's ``execute``; the forwarder checks signature, nonce and deadline and calls the
registry with the signer appended (ERC-2771), and the registry, trusting only that forwarder,
takes the signer as the caller. Events name the signer, never the relayer.

The :class:`Relayer` checks a request before anything is sent, with the same errors the chain
would give (:mod:`ledger.contract_errors`), plus a clearer one for a used or future nonce;
it relays only to its registry and only the operations in ``RELAYABLE``, as OpenZeppelin
advises relayers to do.

An item of a Merkle batch that has not moved yet is not on chain: its first operation must
bring it on chain in the same transaction (``Registry.first_action_data``), as a
``multicall`` of its ``activateBatchItem`` and the operation. The relayer relays such a
multicall and nothing else of the kind: one activation, of the same item, then one relayable
operation. The registry's ``Multicall`` runs both as the signer (ERC-2771 aware); the
activation needs no authority but its proof.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from eth_abi.abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import Wei

from ledger.compiler import load_artifact
from ledger.contract_errors import (
    ERC2771ForwarderExpiredRequest,
    ERC2771ForwarderInvalidSigner,
    ErrorDecoder,
    InvalidAccountNonce,
)
from ledger.errors import ChainError, Forbidden
from ledger.identifiers import ItemId
from ledger.registry import FORWARDER_NAME, Registry
from ledger.transactions import Transactor, TxResult, revert_data

__all__ = [
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "RELAYABLE",
    "ForwardRequest",
    "Relayer",
    "claim_data",
    "forward_request_typed_data",
    "forwarder_execute",
    "receive_data",
    "recover_forward_request_signer",
    "report_stolen_data",
    "ship_data",
    "sign_forward_request",
    "transfer_data",
]

DOMAIN_NAME = "Veritag Forwarder"
DOMAIN_VERSION = "1"
"""The forwarder's EIP-712 domain (``contracts/VeritagForwarder.sol``); the chain id and the
forwarder's address complete it."""

FORWARD_REQUEST_TYPE = [
    {"name": "from", "type": "address"},
    {"name": "to", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "gas", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint48"},
    {"name": "data", "type": "bytes"},
]
"""``ForwardRequest`` as ERC2771Forwarder's ``_FORWARD_REQUEST_TYPEHASH`` spells it."""

RELAYABLE = frozenset({"ship", "acceptDelivery", "transfer", "reportStolen", "claim"})
"""Registry functions the service relays by default: a party's own custody operations."""

DEFAULT_TTL = 3600
"""Seconds a request built by :meth:`Relayer.request` stays valid."""

MAX_RELAYED_GAS = 300_000
"""The most gas the service lets one request spend (a single-item operation needs < 100,000)."""

_GAS_HEADROOM = 1.25
_UINT48_MAX = 2**48 - 1
_SELECTORS = {
    "ship": "ship(bytes32,address)",
    "acceptDelivery": "acceptDelivery(bytes32)",
    "transfer": "transfer(bytes32,address)",
    "reportStolen": "reportStolen(bytes32)",
    "clearStolen": "clearStolen(bytes32)",
    "cancelShipment": "cancelShipment(bytes32)",
    "recordRetailSale": "recordRetailSale(bytes32)",
    "claim": "claim(bytes32,address,bytes)",
    "activateBatchItem": "activateBatchItem(bytes32,bytes32,address,bytes32[])",
}
_MULTICALL = keccak(text="multicall(bytes[])")[:4]
_FUNCTION_BY_SELECTOR = {keccak(text=sig)[:4]: name for name, sig in _SELECTORS.items()}


@dataclass(frozen=True)
class ForwardRequest:
    """What a party signs: call ``to`` with ``data`` as ``sender`` (the request's ``from``)."""

    sender: ChecksumAddress
    to: ChecksumAddress
    gas: int
    nonce: int
    deadline: int
    data: bytes
    value: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "sender", Web3.to_checksum_address(self.sender))
        object.__setattr__(self, "to", Web3.to_checksum_address(self.to))
        if not 0 <= self.deadline <= _UINT48_MAX:
            raise ValueError(f"deadline {self.deadline} does not fit a uint48")

    @property
    def function(self) -> str | None:
        """The registry function ``data`` calls, if it is one the relayer knows; for a
        multicall, the function of its last call (the operation it activates an item for)."""
        calls = self.calls
        return None if calls is None else _FUNCTION_BY_SELECTOR.get(calls[-1][:4])

    @property
    def calls(self) -> list[bytes] | None:
        """The registry calls ``data`` makes in order: itself, or each call of a
        ``multicall``; None for a multicall whose calls cannot be read or that has none."""
        if self.data[:4] != _MULTICALL:
            return [self.data]
        try:
            (calls,) = decode(["bytes[]"], self.data[4:])
        except DecodingError:
            return None
        return [bytes(c) for c in calls] or None

    def message(self) -> dict[str, Any]:
        """The EIP-712 message (``ForwardRequest`` struct) the sender signs."""
        return {
            "from": self.sender,
            "to": self.to,
            "value": self.value,
            "gas": self.gas,
            "nonce": self.nonce,
            "deadline": self.deadline,
            "data": self.data,
        }

    def as_json(self, signature: bytes) -> dict[str, Any]:
        """The signed request as JSON (what the outbox stores)."""
        return {
            "from": self.sender,
            "to": self.to,
            "gas": self.gas,
            "nonce": self.nonce,
            "deadline": self.deadline,
            "data": "0x" + self.data.hex(),
            "signature": "0x" + signature.hex(),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> tuple[ForwardRequest, bytes]:
        """The request and signature :meth:`as_json` wrote."""
        request = cls(
            sender=value["from"],
            to=value["to"],
            gas=int(value["gas"]),
            nonce=int(value["nonce"]),
            deadline=int(value["deadline"]),
            data=bytes.fromhex(str(value["data"]).removeprefix("0x")),
        )
        return request, bytes.fromhex(str(value["signature"]).removeprefix("0x"))

    def execute_argument(self, signature: bytes) -> dict[str, Any]:
        """The forwarder's ``ForwardRequestData``: the request without its nonce, signed."""
        return {
            "from": self.sender,
            "to": self.to,
            "value": self.value,
            "gas": self.gas,
            "deadline": self.deadline,
            "data": self.data,
            "signature": signature,
        }


def forward_request_typed_data(
    request: ForwardRequest, *, forwarder: str, chain_id: int
) -> dict[str, Any]:
    """The full EIP-712 typed data of ``request``, as wallets sign it (``eth_signTypedData_v4``)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "ForwardRequest": FORWARD_REQUEST_TYPE,
        },
        "primaryType": "ForwardRequest",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": Web3.to_checksum_address(forwarder),
        },
        "message": request.message(),
    }


def sign_forward_request(
    account: LocalAccount, *, forwarder: str, chain_id: int, request: ForwardRequest
) -> bytes:
    """``account``'s 65-byte EIP-712 signature of ``request`` for ``forwarder`` on ``chain_id``."""
    typed = forward_request_typed_data(request, forwarder=forwarder, chain_id=chain_id)
    return bytes(account.sign_message(encode_typed_data(full_message=typed)).signature)


def recover_forward_request_signer(
    request: ForwardRequest, signature: bytes, *, forwarder: str, chain_id: int
) -> ChecksumAddress:
    """Who signed ``request`` in that domain; the zero address for an unusable signature."""
    typed = forward_request_typed_data(request, forwarder=forwarder, chain_id=chain_id)
    try:
        signer = Account.recover_message(encode_typed_data(full_message=typed), signature=signature)
    except (ValueError, TypeError, ValidationError):  # wrong length, high s, v not 27/28
        return Web3.to_checksum_address("0x" + "00" * 20)
    return Web3.to_checksum_address(signer)


def forwarder_execute(
    registry: Registry, request: ForwardRequest, signature: bytes
) -> ContractFunction:
    """The trusted forwarder's ``execute`` call for a signed request (sent by anyone)."""
    forwarder = registry.w3.eth.contract(
        address=registry.forwarder, abi=load_artifact(FORWARDER_NAME).abi
    )
    call: ContractFunction = forwarder.functions.execute(request.execute_argument(signature))
    return call


# ───────────── the registry calls a party may sign ─────────────


def ship_data(item: ItemId, to: str) -> bytes:
    return _call("ship", ["bytes32", "address"], [item.value, Web3.to_checksum_address(to)])


def receive_data(item: ItemId) -> bytes:
    """Calldata of ``acceptDelivery``: the consignee takes custody."""
    return _call("acceptDelivery", ["bytes32"], [item.value])


def transfer_data(item: ItemId, to: str) -> bytes:
    return _call("transfer", ["bytes32", "address"], [item.value, Web3.to_checksum_address(to)])


def report_stolen_data(item: ItemId) -> bytes:
    return _call("reportStolen", ["bytes32"], [item.value])


def claim_data(item: ItemId, new_owner: str, claim_signature: bytes) -> bytes:
    """Calldata of ``claim`` (see :func:`ledger.claims.sign_claim` for ``claim_signature``)."""
    return _call(
        "claim",
        ["bytes32", "address", "bytes"],
        [item.value, Web3.to_checksum_address(new_owner), claim_signature],
    )


def _call(function: str, types: list[str], args: list[Any]) -> bytes:
    return keccak(text=_SELECTORS[function])[:4] + encode(types, args)


def _check_activation(action: str, activations: list[bytes], operation: bytes) -> None:
    """A multicall relays one activation and then an operation on the same item."""
    if len(activations) > 1 or _FUNCTION_BY_SELECTOR.get(activations[0][:4]) != (
        "activateBatchItem"
    ):
        raise Forbidden(
            action,
            "a multicall is relayed only as one activateBatchItem followed by the operation "
            "it brings the item on chain for",
        )
    activated, operated = activations[0][4:36], operation[4:36]
    if activated != operated:
        raise Forbidden(
            action,
            f"it activates item 0x{activated.hex()} but operates on item 0x{operated.hex()}",
        )


# ───────────── the relayer ─────────────


class Relayer:
    """Checks signed requests for ``registry`` and submits them from ``gas_payer``."""

    def __init__(
        self,
        registry: Registry,
        gas_payer: LocalAccount,
        *,
        relayable: Collection[str] = RELAYABLE,
        max_gas: int = MAX_RELAYED_GAS,
    ) -> None:
        unknown = set(relayable) - set(_SELECTORS)
        if unknown:
            raise ValueError(f"cannot relay {', '.join(sorted(unknown))}: not a known operation")
        artifact = load_artifact(FORWARDER_NAME)
        self.registry = registry
        self.gas_payer = gas_payer
        self.relayable = frozenset(relayable)
        self.max_gas = max_gas
        self.forwarder: ChecksumAddress = registry.forwarder
        self.contract: Contract = registry.w3.eth.contract(address=self.forwarder, abi=artifact.abi)
        self.errors = ErrorDecoder([*artifact.abi, *load_artifact("ProvenanceRegistry").abi])
        self._tx = Transactor(registry.w3, self.errors)
        self._check_domain()

    @property
    def chain_id(self) -> int:
        return self.registry.chain_id

    def nonce(self, address: str) -> int:
        """The nonce the next request of ``address`` must carry."""
        return int(self.contract.functions.nonces(Web3.to_checksum_address(address)).call())

    def request(
        self, sender: str, data: bytes, *, deadline: int | None = None, ttl: int = DEFAULT_TTL
    ) -> ForwardRequest:
        """A request for ``sender`` to sign: its next nonce, gas for ``data``, a deadline.

        The registry call is simulated as ``sender``, so an operation the registry would
        refuse raises its error now, before anyone signs.
        """
        sender = Web3.to_checksum_address(sender)
        if deadline is None:
            deadline = self._now() + ttl
        unsigned = ForwardRequest(
            sender=sender,
            to=self.registry.address,
            gas=0,
            nonce=self.nonce(sender),
            deadline=deadline,
            data=data,
        )
        self._check_policy(unsigned)
        return replace(unsigned, gas=min(self._estimate(unsigned), self.max_gas))

    def typed_data(self, request: ForwardRequest) -> dict[str, Any]:
        """The EIP-712 typed data a wallet signs for ``request``."""
        return forward_request_typed_data(request, forwarder=self.forwarder, chain_id=self.chain_id)

    def sign(self, account: LocalAccount, request: ForwardRequest) -> bytes:
        """Sign ``request`` with a key the service holds (custodial mode)."""
        return sign_forward_request(
            account, forwarder=self.forwarder, chain_id=self.chain_id, request=request
        )

    def check(self, request: ForwardRequest, signature: bytes) -> None:
        """Raise what the chain would refuse ``request`` for, without sending anything.

        In order: the service's own policy (:class:`~ledger.errors.Forbidden`), the deadline,
        the nonce, the signer, then the forwarder's ``verify`` and a simulation of the call,
        which raises the registry's own error (``NotCustodian``, ``StolenItem``…).
        """
        self._check_policy(request)
        if request.deadline < self._now():
            raise ERC2771ForwarderExpiredRequest(deadline=request.deadline)
        current = self.nonce(request.sender)
        if request.nonce != current:
            raise InvalidAccountNonce(account=request.sender, currentNonce=current)
        signer = recover_forward_request_signer(
            request, signature, forwarder=self.forwarder, chain_id=self.chain_id
        )
        if signer != request.sender:
            raise ERC2771ForwarderInvalidSigner(signer=signer, **{"from": request.sender})
        self._tx.estimate(self.gas_payer.address, self._execute(request, signature))

    def prepare(self, request: ForwardRequest, signature: bytes) -> ContractFunction:
        """The forwarder's ``execute`` call for ``request``, once :meth:`check` passed.

        For callers that send it themselves (assigning the gas payer's nonce).
        """
        self.check(request, signature)
        return self._execute(request, signature)

    def relay(self, request: ForwardRequest, signature: bytes) -> TxResult:
        """Check ``request`` and send it from the gas payer; wait for the receipt."""
        return self._tx.send(self.gas_payer, self.prepare(request, signature))

    # ───────────── internals ─────────────

    def _execute(self, request: ForwardRequest, signature: bytes) -> ContractFunction:
        return forwarder_execute(self.registry, request, signature)

    def _check_policy(self, request: ForwardRequest) -> None:
        action = f"relay a request of {request.sender}"
        if request.to != self.registry.address:
            raise Forbidden(action, f"it calls {request.to}, not the registry")
        calls = request.calls
        if calls is None:
            raise Forbidden(action, "its multicall's calls cannot be read")
        *activations, operation = calls
        function = _FUNCTION_BY_SELECTOR.get(operation[:4])
        if function not in self.relayable:
            shown = function or "0x" + operation[:4].hex()
            allowed = ", ".join(sorted(self.relayable))
            raise Forbidden(action, f"{shown} is not relayed (only {allowed})")
        if activations:
            _check_activation(action, activations, operation)
        if request.value != 0:
            raise Forbidden(action, f"it sends {request.value} wei; the registry takes none")
        if request.gas > self.max_gas:
            raise Forbidden(action, f"it allows {request.gas} gas, more than {self.max_gas}")

    def _estimate(self, request: ForwardRequest) -> int:
        # As the sender calling directly: the registry sees the same caller either way. The
        # sender holds no ether, so the estimate names a zero gas price (nodes then skip the
        # balance check).
        try:
            gas = self.registry.w3.eth.estimate_gas(
                {"from": request.sender, "to": request.to, "data": request.data, "gasPrice": Wei(0)}
            )
        except Exception as exc:
            data = revert_data(exc)
            if data is not None:
                raise self.errors.decode(data) from None
            raise ChainError(f"cannot simulate {request.function}: {exc}") from exc
        return int(gas * _GAS_HEADROOM)

    def _now(self) -> int:
        return int(self.registry.w3.eth.get_block("latest")["timestamp"])

    def _check_domain(self) -> None:
        _fields, name, version, chain_id, verifying, *_ = (
            self.contract.functions.eip712Domain().call()
        )
        if (name, version, int(chain_id), Web3.to_checksum_address(verifying)) != (
            DOMAIN_NAME,
            DOMAIN_VERSION,
            self.chain_id,
            self.forwarder,
        ):
            raise ChainError(
                f"the registry {self.registry.address} trusts forwarder {self.forwarder}, whose "
                f"EIP-712 domain is {name!r} version {version!r} on chain {chain_id}, not "
                f"{DOMAIN_NAME!r} version {DOMAIN_VERSION!r} on chain {self.chain_id}"
            )
