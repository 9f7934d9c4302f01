"""ledger.contract_errors: one documented Python class per registry error, decoded from raw data.

No chain here: errors are encoded with eth-abi exactly as the EVM returns them, so these
tests pin the decoder and the messages; the registry tests check the errors the contract
really raises.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from ledger.compiler import CONTRACTS_DIR, NODE_MODULES, load_artifact
from ledger.contract_errors import (
    ERRORS,
    BatchSize,
    BrandIsSuspended,
    ErrorDecoder,
    InvalidClaimSignature,
    InvalidPrefix,
    ItemRetired,
    NotConsignee,
    NotCustodian,
    NotOperator,
    OwnableUnauthorizedAccount,
    PrefixConflict,
    RegistryError,
    Status,
    UnknownContractError,
    WrongStatus,
    ZeroAddress,
)
from ledger.errors import ContractError

INTERFACE = CONTRACTS_DIR / "IProvenanceRegistry.sol"
OPENZEPPELIN_ERRORS = {
    "OwnableUnauthorizedAccount": "access/Ownable.sol",
    "OwnableInvalidOwner": "access/Ownable.sol",
    "InvalidShortString": "utils/ShortStrings.sol",
    "StringTooLong": "utils/ShortStrings.sol",
    "AddressEmptyCode": "utils/Address.sol",
    "FailedCall": "utils/Errors.sol",
}
"""Errors the registry inherits from OpenZeppelin, documented there, by their source file."""

ITEM = "0x" + "12ab" * 15 + "cdef"
CUSTODIAN = "0x34e1E4F805fCdC936068A760b2C17BC62135b5AE"
CALLER = "0x56dD53C5b8D4a1eEA5b4c8E0d6EE2E9A1A5e7b8F"
STATUS_FIELDS = {("WrongStatus", "actual"), ("WrongStatus", "required"), ("ItemRetired", "actual")}


@cache
def abi_errors() -> dict[str, list[tuple[str, str]]]:
    """Every error of the registry ABI: name → [(argument name, ABI type)]."""
    abi = load_artifact("ProvenanceRegistry").abi
    return {
        str(e["name"]): [(str(i["name"]), str(i["type"])) for i in e["inputs"]]
        for e in abi
        if e["type"] == "error"
    }


@cache
def decoder() -> ErrorDecoder:
    return ErrorDecoder(load_artifact("ProvenanceRegistry").abi)


def revert_data(name: str, values: list[Any]) -> bytes:
    types = [abi_type for _, abi_type in abi_errors()[name]]
    return keccak(text=f"{name}({','.join(types)})")[:4] + encode(types, values)


def sample(error: str, arg: str, abi_type: str) -> tuple[Any, Any]:
    """An ABI value for one error argument and the Python value ``data`` should hold."""
    if (error, arg) in STATUS_FIELDS:
        return 2, Status.IN_TRANSIT
    if abi_type == "address":
        return CALLER.lower(), CALLER
    if abi_type == "bytes32":
        return bytes.fromhex(ITEM[2:]), ITEM
    if abi_type == "string":
        return "12a4", "12a4"
    assert abi_type.startswith("uint"), abi_type
    return 7, 7


def interface_notices() -> dict[str, str]:
    """``@notice`` of every ``error`` declared in IProvenanceRegistry.sol."""
    notices: dict[str, str] = {}
    comment: list[str] = []
    for line in INTERFACE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("///"):
            comment.append(stripped.removeprefix("///").strip())
            continue
        declared = re.match(r"error\s+(\w+)\s*\(", stripped)
        if declared:
            notice = next((c for c in comment if c.startswith("@notice ")), "")
            notices[declared.group(1)] = notice.removeprefix("@notice ").strip()
        comment = []
    return notices


# ───────────── every error has a class and documentation ─────────────


def test_every_abi_error_has_a_class_of_the_same_name_and_no_class_is_stale() -> None:
    # FailedCall (a multicall step that reverted without data) is shared with the forwarder,
    # whose class, a 502, decodes it.
    shared = {"FailedCall"}
    assert set(abi_errors()) == set(ERRORS) | shared
    assert decoder().error_names == set(ERRORS) | shared


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_error_class_is_a_contract_error_with_a_4xx_status(name: str) -> None:
    cls = ERRORS[name]
    assert issubclass(cls, RegistryError)
    assert issubclass(cls, ContractError)
    assert 400 <= cls.status < 500


def test_every_registry_error_has_a_notice_in_the_interface() -> None:
    notices = interface_notices()
    own_errors = set(abi_errors()) - set(OPENZEPPELIN_ERRORS)

    assert set(notices) == own_errors
    assert {name for name, notice in notices.items() if not notice} == set()


def test_openzeppelin_errors_are_not_redeclared_but_come_from_openzeppelin() -> None:
    assert set(OPENZEPPELIN_ERRORS) <= set(abi_errors())
    assert set(OPENZEPPELIN_ERRORS).isdisjoint(interface_notices())
    sources = NODE_MODULES / "@openzeppelin" / "contracts"
    if not sources.is_dir():
        pytest.skip("node_modules/@openzeppelin is not installed (npm ci)")
    for name, path in OPENZEPPELIN_ERRORS.items():
        assert re.search(rf"\berror {name}\(", (sources / path).read_text(encoding="utf-8")), name


def test_status_enum_matches_the_interface() -> None:
    text = INTERFACE.read_text(encoding="utf-8")
    match = re.search(r"enum Status \{([^}]*)\}", text)
    assert match is not None
    solidity = [word.strip() for word in match.group(1).split(",")]

    assert [s.name for s in Status] == [
        re.sub(r"(?<!^)([A-Z])", r"_\1", word).upper() for word in solidity
    ]
    assert [s.value for s in Status] == list(range(len(solidity)))


# ───────────── messages ─────────────


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_message_names_the_error_and_shows_every_value_it_holds(name: str) -> None:
    data = {arg: sample(name, arg, abi_type)[1] for arg, abi_type in abi_errors()[name]}

    message = str(ERRORS[name](**data))

    assert message.startswith(f"{name}: ")
    assert "{" not in message
    for value in data.values():
        if isinstance(value, Status):
            assert value.label in message
        elif isinstance(value, str) and value.startswith("0x"):
            assert f"{value[:6]}…{value[-4:]}" in message
        else:
            assert str(value) in message


EXACT_MESSAGES: list[tuple[RegistryError, str]] = [
    (
        NotCustodian(itemId=ITEM, custodian=CUSTODIAN, caller=CALLER),
        "NotCustodian: item 0x12ab…cdef is held by 0x34e1…b5AE, not 0x56dD…7b8F",
    ),
    (
        NotConsignee(itemId=ITEM, consignee=CUSTODIAN, caller=CALLER),
        "NotConsignee: item 0x12ab…cdef is shipped to 0x34e1…b5AE, not 0x56dD…7b8F",
    ),
    (
        WrongStatus(itemId=ITEM, actual=Status.IN_TRANSIT, required=Status.ACTIVE),
        "WrongStatus: item 0x12ab…cdef is in transit; this needs it active",
    ),
    (
        ItemRetired(itemId=ITEM, actual=Status.DECOMMISSIONED),
        "ItemRetired: item 0x12ab…cdef is decommissioned, a final state",
    ),
    (
        NotOperator(account=CALLER),
        "NotOperator: 0x56dD…7b8F is not an active operator of any brand; "
        "a brand admin adds it with `veritag operator add`",
    ),
    (
        InvalidClaimSignature(itemId=ITEM, signer=CALLER),
        "InvalidClaimSignature: the claim of item 0x12ab…cdef was signed by 0x56dD…7b8F, "
        "not by its claim key; check the hidden code",
    ),
    (
        BatchSize(size=501, max=500),
        "BatchSize: a batch must hold 1 to 500 items, this one holds 501",
    ),
    (
        InvalidPrefix(prefix="12a4"),
        "InvalidPrefix: GS1 company prefix '12a4' must be 4 to 12 digits",
    ),
    (
        PrefixConflict(prefix="06141419", ownerBrandId=1),
        "PrefixConflict: GS1 company prefix '06141419' overlaps a prefix of brand 1",
    ),
    (
        BrandIsSuspended(brandId=3, since=1_700_000_000),
        "BrandIsSuspended: brand 3 is suspended since timestamp 1700000000",
    ),
    (
        OwnableUnauthorizedAccount(account=CALLER),
        "OwnableUnauthorizedAccount: 0x56dD…7b8F is not the registry admin",
    ),
    (ZeroAddress(), "ZeroAddress: the zero address is not a valid party"),
]


@pytest.mark.parametrize(
    ("error", "message"),
    [pytest.param(error, message, id=type(error).__name__) for error, message in EXACT_MESSAGES],
)
def test_message_is_the_exact_sentence_built_from_the_data(
    error: RegistryError, message: str
) -> None:
    assert str(error) == message


# ───────────── decoding ─────────────


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_decode_turns_revert_data_into_the_error_with_python_values(name: str) -> None:
    args = abi_errors()[name]
    samples = [sample(name, arg, abi_type) for arg, abi_type in args]

    error = decoder().decode(revert_data(name, [abi for abi, _ in samples]))

    assert type(error) is ERRORS[name]
    assert isinstance(error, RegistryError)
    assert error.data == {arg: python for (arg, _), (_, python) in zip(args, samples, strict=True)}


def test_decode_accepts_hex_with_or_without_0x_and_bytes() -> None:
    raw = revert_data("NotOperator", [CALLER.lower()])

    for data in (raw, "0x" + raw.hex(), raw.hex()):
        error = decoder().decode(data)
        assert isinstance(error, NotOperator)
        assert error.data == {"account": CALLER}


def test_decode_of_error_string_is_an_unknown_contract_error_quoting_the_reason() -> None:
    raw = keccak(text="Error(string)")[:4] + encode(["string"], ["Ownable: caller is not owner"])

    error = decoder().decode(raw)

    assert type(error) is UnknownContractError
    assert str(error) == "the contract reverted: Ownable: caller is not owner"
    assert error.data == "0x" + raw.hex()


def test_decode_of_panic_is_an_unknown_contract_error_naming_the_panic_code() -> None:
    raw = keccak(text="Panic(uint256)")[:4] + encode(["uint256"], [0x11])

    error = decoder().decode(raw)

    assert type(error) is UnknownContractError
    assert str(error) == "the contract panicked (code 0x11)"
    assert error.data == "0x" + raw.hex()


def test_decode_of_an_unknown_selector_is_an_unknown_contract_error() -> None:
    raw = bytes.fromhex("deadbeef") + bytes(32)

    error = decoder().decode(raw)

    assert type(error) is UnknownContractError
    assert str(error) == "the contract reverted with unrecognised data 0xdead…0000"
    assert error.data == "0x" + raw.hex()


def test_decode_of_empty_revert_data_is_an_unknown_contract_error() -> None:
    error = decoder().decode(b"")

    assert type(error) is UnknownContractError
    assert error.data == "0x"


def test_decode_of_an_abi_error_without_a_python_class_is_an_unknown_contract_error() -> None:
    abi = [{"type": "error", "name": "SomeoneElses", "inputs": [{"name": "x", "type": "uint256"}]}]
    raw = keccak(text="SomeoneElses(uint256)")[:4] + encode(["uint256"], [1])

    error = ErrorDecoder(abi).decode(raw)

    assert type(error) is UnknownContractError
    assert error.data == "0x" + raw.hex()


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(keccak(text="Error(string)")[:4], id="error-string-without-body"),
        pytest.param(keccak(text="Panic(uint256)")[:4] + bytes(5), id="truncated-panic"),
        pytest.param(revert_data("NotCustodian", [b"\x01" * 32, CALLER, CALLER])[:40], id="cut"),
        pytest.param(
            keccak(text="Error(string)")[:4] + encode(["bytes"], [b"\xff\xfe"]),
            id="reason-not-utf8",
        ),
        pytest.param(revert_data("WrongStatus", [b"\x01" * 32, 9, 1]), id="status-out-of-range"),
    ],
)
def test_decode_of_malformed_data_is_an_unknown_contract_error(raw: bytes) -> None:
    error = decoder().decode(raw)

    assert type(error) is UnknownContractError
    assert error.data == "0x" + raw.hex()
    assert str(error).startswith("the contract reverted with malformed data 0x")
