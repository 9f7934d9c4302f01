"""The registry's custom errors as Python exceptions.

Every ``error`` in ``IProvenanceRegistry.sol`` (and the OpenZeppelin errors the registry can
raise) has a class here of the same name, a :class:`~ledger.errors.ContractError`. Each keeps
the error's arguments in ``data`` (ABI names → Python values: ``bytes32`` as ``0x`` hex,
addresses checksummed, ``Status`` as :class:`Status`) and reads like a sentence::

    NotCustodian: item 0x12ab…cdef is held by 0x34…, not 0x56…

:meth:`ErrorDecoder.decode` turns raw revert data into the right instance; a test checks that
every error in the ABI has its class here. The errors of the trusted forwarder that relays
signed requests (OpenZeppelin's ``ERC2771Forwarder``) are here too, in :data:`FORWARDER_ERRORS`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from ledger.errors import ContractError


class Status(enum.IntEnum):
    """An item's lifecycle state, as ``IProvenanceRegistry.Status``."""

    NONE = 0
    ACTIVE = 1
    IN_TRANSIT = 2
    SOLD = 3
    DECOMMISSIONED = 4
    DESTROYED = 5

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")


def short(value: str) -> str:
    """``0x12ab…cdef``: enough of a 32-byte hex to recognise it in a sentence."""
    return f"{value[:6]}…{value[-4:]}" if len(value) > 14 else value


class RegistryError(ContractError):
    """A custom error the registry reverted with; ``data`` holds its arguments by name."""

    template: ClassVar[str] = "the registry refused the operation"
    hint: ClassVar[str] = ""

    def __init__(self, **data: Any) -> None:
        self.data = data
        shown = {
            k: short(v) if isinstance(v, str) and v.startswith("0x") else v for k, v in data.items()
        }
        shown.update({k: v.label for k, v in data.items() if isinstance(v, Status)})
        message = f"{type(self).__name__}: {self.template.format(**shown)}"
        super().__init__(f"{message}; {self.hint}" if self.hint else message)


# ───────────── governance and roles ─────────────


class UnknownBrand(RegistryError):
    status = 404
    template = "brand {brandId} was never admitted"


class NotBrandAdmin(RegistryError):
    status = 403
    template = "{account} is not the admin of brand {brandId}"


class NotBrandAuthority(RegistryError):
    status = 403
    template = "{account} acts neither as admin nor as an operator of brand {brandId}"


class BrandIsSuspended(RegistryError):
    status = 403
    template = "brand {brandId} is suspended since timestamp {since}"


class InvalidPrefix(RegistryError):
    status = 422
    template = "GS1 company prefix {prefix!r} must be 4 to 12 digits"


class PrefixConflict(RegistryError):
    template = "GS1 company prefix {prefix!r} overlaps a prefix of brand {ownerBrandId}"


class NotOperator(RegistryError):
    status = 403
    template = "{account} is not an active operator of any brand"
    hint = "a brand admin adds it with `veritag operator add`"


class OperatorAlreadyAssigned(RegistryError):
    template = "{operator} already serves brand {brandId}"


class OperatorIsSuspended(RegistryError):
    status = 403
    template = "operator {operator} is suspended since timestamp {since}"


class InvalidSuspensionTime(RegistryError):
    status = 422
    template = "a suspension must start at a non-zero timestamp"


class ZeroAddress(RegistryError):
    status = 422
    template = "the zero address is not a valid party"


class RenounceDisabled(RegistryError):
    status = 403
    template = "the registry admin role cannot be renounced, only handed over in two steps"


class OwnableUnauthorizedAccount(RegistryError):
    status = 403
    template = "{account} is not the registry admin"


class OwnableInvalidOwner(RegistryError):
    status = 422
    template = "{owner} cannot be the registry admin"


# ───────────── items ─────────────


class ItemAlreadyRegistered(RegistryError):
    template = "item {itemId} is already registered"


class UnknownItem(RegistryError):
    status = 404
    template = "item {itemId} is not registered"


class NotCustodian(RegistryError):
    status = 403
    template = "item {itemId} is held by {custodian}, not {caller}"


class NotConsignee(RegistryError):
    status = 403
    template = "item {itemId} is shipped to {consignee}, not {caller}"


class WrongStatus(RegistryError):
    template = "item {itemId} is {actual}; this needs it {required}"


class ItemRetired(RegistryError):
    template = "item {itemId} is {actual}, a final state"


class RecalledItem(RegistryError):
    template = "item {itemId} is recalled; it cannot be moved, sold or claimed"


class StolenItem(RegistryError):
    template = "item {itemId} is reported stolen; it cannot be moved, sold or claimed"


class NotRecalled(RegistryError):
    template = "item {itemId} is not recalled"


class NotStolen(RegistryError):
    template = "item {itemId} is not reported stolen"


class SelfTransfer(RegistryError):
    status = 422
    template = "item {itemId} cannot be handed from {account} to itself"


class NoClaimKey(RegistryError):
    template = "item {itemId} was registered without a claim key, so it cannot be claimed"


class InvalidClaimSignature(RegistryError):
    status = 403
    template = "the claim of item {itemId} was signed by {signer}, not by its claim key"
    hint = "check the hidden code"


class BatchSize(RegistryError):
    status = 422
    template = "a batch must hold 1 to {max} items, this one holds {size}"


class LengthMismatch(RegistryError):
    status = 422
    template = "expected {expected} entries, got {actual}"


class UnexpectedParty(RegistryError):
    status = 422
    template = "EPCIS step {step} takes no party, but {party} was given"
    hint = "only commissioning (the claim key) and shipping (the consignee) take a party"


# ───────────── Merkle batches ─────────────


class BatchAlreadyAnchored(RegistryError):
    template = "batch root {root} is already anchored"


class UnknownBatch(RegistryError):
    status = 404
    template = "no batch with root {root} is anchored"
    hint = "the brand anchors it with `veritag batch anchor`"


class InvalidBatchProof(RegistryError):
    status = 422
    template = "the proof does not show item {itemId} (with its claim key) in batch {root}"


# OpenZeppelin's Address, reached through Multicall's self-delegatecall: the registry always
# has code, so this cannot happen; a call in a multicall that reverts without data raises
# FailedCall (a class shared with the forwarder, below).
class AddressEmptyCode(RegistryError):
    template = "{target} has no code"


# ───────────── aggregation (cases and pallets) ─────────────


class PackedItem(RegistryError):
    status = 409
    template = "item {itemId} is packed in container {containerId} and moves with it"
    hint = "unpack it first, or act on the container"


class IsContainer(RegistryError):
    status = 422
    template = "{itemId} is a container (case or pallet), which has no brand"
    hint = "a container cannot be sold, claimed, recalled or retired"


class NotAContainer(RegistryError):
    status = 422
    template = "{containerId} is registered as an item, not as a container"


class NotInContainer(RegistryError):
    status = 409
    template = "item {itemId} is not packed in container {containerId}"


class NestingTooDeep(RegistryError):
    status = 422
    template = "packing {itemId} would nest containers more than two levels above an item"
    hint = "pack items into cases and cases onto pallets, nothing deeper"


# OpenZeppelin errors that only the constructor can raise.
class InvalidShortString(RegistryError):
    template = "a short string is malformed"


class StringTooLong(RegistryError):
    template = "string {str!r} is too long"


# ───────────── the trusted forwarder (OpenZeppelin's ERC2771Forwarder) ─────────────


class ForwarderError(RegistryError):
    """A custom error of the trusted forwarder that relays signed requests to the registry.

    Declared by OpenZeppelin's ``ERC2771Forwarder`` (``contracts/VeritagForwarder.sol``), so
    kept apart from the registry's own errors in :data:`FORWARDER_ERRORS`.
    """


class ERC2771ForwarderInvalidSigner(ForwarderError):
    """The request's signature does not recover to its ``from``."""

    status = 403
    template = "the forward request was signed by {signer}, not by its sender {from}"
    hint = (
        "it must be signed by the sender in the forwarder's EIP-712 domain (this chain id and "
        "forwarder address) with the sender's current nonce, and left unchanged after signing"
    )


class ERC2771ForwarderExpiredRequest(ForwarderError):
    """The request's deadline has passed."""

    status = 422
    template = "the forward request expired at timestamp {deadline}"
    hint = "sign a new request with a later deadline"


class ERC2771ForwarderMismatchedValue(ForwarderError):
    """The ether sent with ``execute`` differs from the request's ``value``."""

    status = 422
    template = "the forward request asks for {requestedValue} wei but {msgValue} wei came with it"


class ERC2771UntrustfulTarget(ForwarderError):
    """The request's target does not trust this forwarder."""

    status = 422
    template = "{target} does not trust forwarder {forwarder}"


class InvalidAccountNonce(ForwarderError):
    """The request does not carry its sender's current nonce."""

    status = 409
    template = "the forward request does not carry the current nonce {currentNonce} of {account}"
    hint = "it was relayed already, or was signed for another nonce; sign it again"


class FailedCall(ForwarderError):
    """The forwarded call failed without revert data (out of gas)."""

    status = 502
    template = "the forwarded call failed without a reason, most likely out of gas"


class InsufficientBalance(ForwarderError):
    """A batch refund asked for more ether than the forwarder holds."""

    status = 502
    template = "the forwarder holds {balance} wei but {needed} wei were needed"


class UnknownContractError(ContractError):
    """Revert data that matches no known error (another contract's, or a panic)."""

    def __init__(self, data: str, reason: str = "") -> None:
        self.data = data
        self.reason = reason
        super().__init__(reason or f"the contract reverted with unrecognised data {short(data)}")


ERRORS: dict[str, type[RegistryError]] = {
    cls.__name__: cls for cls in RegistryError.__subclasses__() if cls is not ForwarderError
}
"""The registry's own errors and the OpenZeppelin errors its ABI carries."""

FORWARDER_ERRORS: dict[str, type[RegistryError]] = {
    cls.__name__: cls for cls in ForwarderError.__subclasses__()
}
"""The trusted forwarder's errors (it shares InvalidShortString and StringTooLong with ERRORS)."""

_DECODABLE = {**ERRORS, **FORWARDER_ERRORS}

_STATUS_FIELDS = {("WrongStatus", "actual"), ("WrongStatus", "required"), ("ItemRetired", "actual")}
_PANIC_SELECTOR = keccak(text="Panic(uint256)")[:4]
_ERROR_SELECTOR = keccak(text="Error(string)")[:4]


class ErrorDecoder:
    """Maps revert data to exceptions, using the error entries of a contract ABI."""

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        self._by_selector: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for entry in abi:
            if entry.get("type") != "error":
                continue
            types = [str(i["type"]) for i in entry["inputs"]]
            names = [str(i["name"]) for i in entry["inputs"]]
            selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
            self._by_selector[selector] = (str(entry["name"]), types, names)

    @property
    def error_names(self) -> set[str]:
        return {name for name, _, _ in self._by_selector.values()}

    def decode(self, data: bytes | str) -> ContractError:
        raw = (
            bytes.fromhex(data[2:] if data.startswith("0x") else data)
            if isinstance(data, str)
            else data
        )
        try:
            return self._decode(raw)
        except (DecodingError, ValueError):  # truncated, bad UTF-8, a Status out of range
            hex_data = "0x" + raw.hex()
            return UnknownContractError(
                hex_data, f"the contract reverted with malformed data {short(hex_data)}"
            )

    def _decode(self, raw: bytes) -> ContractError:
        selector, body = raw[:4], raw[4:]
        if selector == _ERROR_SELECTOR:
            (reason,) = decode(["string"], body)
            return UnknownContractError("0x" + raw.hex(), f"the contract reverted: {reason}")
        if selector == _PANIC_SELECTOR:
            (code,) = decode(["uint256"], body)
            return UnknownContractError("0x" + raw.hex(), f"the contract panicked (code {code:#x})")
        known = self._by_selector.get(selector)
        if known is None or known[0] not in _DECODABLE:
            return UnknownContractError("0x" + raw.hex())
        name, types, names = known
        values = decode(types, body)
        args = {
            n: _python_value(name, n, t, v) for n, t, v in zip(names, types, values, strict=True)
        }
        return _DECODABLE[name](**args)


def _python_value(error: str, name: str, abi_type: str, value: Any) -> Any:
    if (error, name) in _STATUS_FIELDS:
        return Status(value)
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type == "bytes32":
        return "0x" + bytes(value).hex()
    return value
