"""Relayed operations: parties without ether sign EIP-712 requests, the service pays the gas.

The signing parties are fresh keys that never hold ether. Every refusal is checked twice where
the chain has its own answer: by the relayer before sending (``Relayer.relay``) and by the
forwarder itself when ``execute`` is sent without the relayer's checks (``execute_unchecked``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.logs import DISCARD
from web3.types import TxParams

from ledger.chain import Chain
from ledger.claims import claim_key, generate_claim_code, sign_claim
from ledger.compiler import load_artifact
from ledger.contract_errors import (
    ERRORS,
    FORWARDER_ERRORS,
    ERC2771ForwarderExpiredRequest,
    ERC2771ForwarderInvalidSigner,
    ERC2771UntrustfulTarget,
    ErrorDecoder,
    InvalidAccountNonce,
    NotCustodian,
    RegistryError,
)
from ledger.errors import Forbidden
from ledger.identifiers import ItemId, item_id
from ledger.registry import ZERO_ADDRESS, Registry
from ledger.relay import (
    DOMAIN_NAME,
    DOMAIN_VERSION,
    ForwardRequest,
    Relayer,
    claim_data,
    receive_data,
    recover_forward_request_signer,
    report_stolen_data,
    ship_data,
    sign_forward_request,
    transfer_data,
)
from ledger.transactions import Transactor, TxResult, revert_data
from tests.helpers import reverts
from tests.ledger.test_merkle_registry import anchored, proof
from tests.ledger.test_merkle_registry import items as batch_items

if TYPE_CHECKING:
    from tests.conftest import Roles

GTIN = "00614141123452"
DISTRIBUTOR: LocalAccount = Account.from_key(keccak(text="gasless distributor"))
RETAILER: LocalAccount = Account.from_key(keccak(text="gasless retailer"))
CONSUMER: LocalAccount = Account.from_key(keccak(text="gasless consumer"))


@pytest.fixture
def relayer(registry: Registry, roles: Roles) -> Relayer:
    return Relayer(registry, roles.relayer)


def held_by(registry: Registry, roles: Roles, holder: str, serial: str) -> ItemId:
    """A new item of brand 1, handed by its operator to ``holder``."""
    item = item_id(GTIN, serial)
    registry.register(roles.operator, item)
    registry.transfer(roles.operator, item, holder)
    return item


def relay(relayer: Relayer, signer: LocalAccount, data: bytes) -> TxResult:
    request = relayer.request(signer.address, data)
    return relayer.relay(request, relayer.sign(signer, request))


def signed(relayer: Relayer, signer: LocalAccount, data: bytes) -> tuple[ForwardRequest, bytes]:
    request = relayer.request(signer.address, data)
    return request, relayer.sign(signer, request)


def execute_unchecked(relayer: Relayer, request: ForwardRequest, signature: bytes) -> TxResult:
    """Send the forwarder's ``execute`` without the relayer's checks: the chain's own answer."""
    call = relayer.contract.functions.execute(request.execute_argument(signature))
    return Transactor(relayer.registry.w3, relayer.errors).send(relayer.gas_payer, call)


def unchecked_request(relayer: Relayer, signer: LocalAccount, data: bytes) -> ForwardRequest:
    """A request built without the relayer's simulation (which would refuse it early)."""
    return ForwardRequest(
        sender=signer.address,
        to=relayer.registry.address,
        gas=200_000,
        nonce=relayer.nonce(signer.address),
        deadline=2**40,
        data=data,
    )


def events(registry: Registry, result: TxResult, item: ItemId) -> list[tuple[str, int, Any]]:
    """The item's events of one transaction: (name, seq, args)."""
    return [(e.name, e.seq, e.args) for e in registry.history(item) if e.tx_hash == result.tx_hash]


# ───────────── relayed operations act as their signer ─────────────


def test_relayed_ship_and_receive_name_the_signers_and_cost_them_nothing(
    registry: Registry, roles: Roles, relayer: Relayer, chain: Chain
) -> None:
    item = held_by(registry, roles, DISTRIBUTOR.address, "ship-1")
    payer_before = chain.w3.eth.get_balance(roles.relayer.address)

    shipped = relay(relayer, DISTRIBUTOR, ship_data(item, RETAILER.address))
    received = relay(relayer, RETAILER, receive_data(item))

    assert events(registry, shipped, item) == [
        ("ItemShipped", 3, {"from": DISTRIBUTOR.address, "to": RETAILER.address})
    ]
    assert events(registry, received, item) == [("ItemReceived", 4, {"by": RETAILER.address})]
    state = registry.item(item)
    assert state is not None
    assert state.custodian == RETAILER.address
    assert chain.w3.eth.get_balance(DISTRIBUTOR.address) == 0
    assert chain.w3.eth.get_balance(RETAILER.address) == 0
    assert chain.w3.eth.get_balance(roles.relayer.address) < payer_before


def test_the_forwarder_records_each_relayed_request_with_its_signer_and_nonce(
    registry: Registry, roles: Roles, relayer: Relayer
) -> None:
    item = held_by(registry, roles, DISTRIBUTOR.address, "executed-1")

    result = relay(relayer, DISTRIBUTOR, transfer_data(item, RETAILER.address))

    executed = relayer.contract.events.ExecutedForwardRequest().process_receipt(
        result.receipt, errors=DISCARD
    )
    assert [dict(e["args"]) for e in executed] == [
        {"signer": DISTRIBUTOR.address, "nonce": 0, "success": True}
    ]
    assert relayer.nonce(DISTRIBUTOR.address) == 1


def test_a_relayed_transfer_names_the_signer_as_the_sender(
    registry: Registry, roles: Roles, relayer: Relayer
) -> None:
    item = held_by(registry, roles, DISTRIBUTOR.address, "transfer-1")

    result = relay(relayer, DISTRIBUTOR, transfer_data(item, RETAILER.address))

    assert events(registry, result, item) == [
        (
            "CustodyTransferred",
            3,
            {"from": DISTRIBUTOR.address, "to": RETAILER.address},
        )
    ]


def test_a_relayed_theft_report_is_the_custodians(
    registry: Registry, roles: Roles, relayer: Relayer
) -> None:
    item = held_by(registry, roles, DISTRIBUTOR.address, "stolen-1")

    result = relay(relayer, DISTRIBUTOR, report_stolen_data(item))

    assert events(registry, result, item) == [
        ("ItemReportedStolen", 3, {"by": DISTRIBUTOR.address})
    ]
    state = registry.item(item)
    assert state is not None
    assert state.stolen


def test_a_relayed_claim_makes_the_consumer_the_owner(
    registry: Registry, roles: Roles, relayer: Relayer
) -> None:
    item = item_id(GTIN, "claim-1")
    code = generate_claim_code()
    registry.register(roles.operator, item, claim_key=claim_key(item, code).address)
    registry.transfer(roles.operator, item, roles.retailer.address)
    registry.record_retail_sale(roles.retailer, item)
    claim_signature = sign_claim(
        item, code, CONSUMER.address, chain_id=registry.chain_id, contract=registry.address
    )

    result = relay(relayer, CONSUMER, claim_data(item, CONSUMER.address, claim_signature))

    assert events(registry, result, item) == [("ItemClaimed", 4, {"owner": CONSUMER.address})]
    state = registry.item(item)
    assert state is not None
    assert (state.custodian, state.claimed) == (CONSUMER.address, True)


def test_the_relayer_can_hand_over_the_checked_call_for_someone_else_to_send(
    registry: Registry, roles: Roles, relayer: Relayer
) -> None:
    item = held_by(registry, roles, DISTRIBUTOR.address, "prepare-1")
    request, signature = signed(relayer, DISTRIBUTOR, report_stolen_data(item))

    call = relayer.prepare(request, signature)
    result = Transactor(registry.w3, relayer.errors).send(roles.relayer, call)

    assert events(registry, result, item) == [
        ("ItemReportedStolen", 3, {"by": DISTRIBUTOR.address})
    ]


def test_the_python_signature_is_the_one_the_forwarder_verifies(
    registry: Registry, roles: Roles, relayer: Relayer
) -> None:
    item = held_by(registry, roles, DISTRIBUTOR.address, "verify-1")
    request, signature = signed(relayer, DISTRIBUTOR, report_stolen_data(item))

    assert relayer.contract.functions.verify(request.execute_argument(signature)).call() is True
    assert relayer.typed_data(request)["domain"] == {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": registry.chain_id,
        "verifyingContract": relayer.forwarder,
    }


def test_the_registry_trusts_exactly_the_forwarder_deployed_with_it(
    registry: Registry, relayer: Relayer
) -> None:
    trusts = registry.contract.functions.isTrustedForwarder

    assert registry.forwarder == relayer.forwarder
    assert trusts(registry.forwarder).call() is True
    assert trusts(registry.address).call() is False


# ───────────── replays, other domains, expired and altered requests ─────────────


def test_a_replayed_request_is_refused(registry: Registry, roles: Roles, relayer: Relayer) -> None:
    item = held_by(registry, roles, DISTRIBUTOR.address, "replay-1")
    request, signature = signed(relayer, DISTRIBUTOR, report_stolen_data(item))
    relayer.relay(request, signature)

    with reverts(InvalidAccountNonce, account=DISTRIBUTOR.address, currentNonce=1):
        relayer.relay(request, signature)
    # On chain the used nonce makes the signature recover to someone else.
    now_signed_by = recover(relayer, replace(request, nonce=1), signature)
    with reverts(
        ERC2771ForwarderInvalidSigner, signer=now_signed_by, **{"from": DISTRIBUTOR.address}
    ):
        execute_unchecked(relayer, request, signature)


def recover(relayer: Relayer, request: ForwardRequest, signature: bytes) -> str:
    return recover_forward_request_signer(
        request, signature, forwarder=relayer.forwarder, chain_id=relayer.chain_id
    )


def wrongly_signed(relayer: Relayer, case: str) -> tuple[ForwardRequest, bytes]:
    """A request of DISTRIBUTOR, signed wrongly in the way ``case`` names."""
    request = ForwardRequest(
        sender=DISTRIBUTOR.address,
        to=relayer.registry.address,
        gas=100_000,
        nonce=relayer.nonce(DISTRIBUTOR.address),
        deadline=2**40,
        data=report_stolen_data(item_id(GTIN, "domain-1")),
    )
    chain_id, forwarder, signer = relayer.chain_id, relayer.forwarder, DISTRIBUTOR
    if case == "another chain id":
        chain_id += 1
    elif case == "another forwarder":
        forwarder = Web3.to_checksum_address("0x" + "fa" * 20)
    elif case == "another signer":
        signer = RETAILER
    signature = sign_forward_request(
        signer, forwarder=forwarder, chain_id=chain_id, request=request
    )
    if case == "tampered data":
        request = replace(request, data=report_stolen_data(item_id(GTIN, "domain-2")))
    elif case == "tampered gas":
        request = replace(request, gas=request.gas + 1)
    elif case == "truncated signature":
        signature = signature[:64]
    return request, signature


WRONG_SIGNATURES = [
    "another chain id",
    "another forwarder",
    "another signer",
    "tampered data",
    "tampered gas",
    "truncated signature",
]


@pytest.mark.parametrize("case", WRONG_SIGNATURES)
def test_a_request_signed_for_another_domain_or_altered_is_refused_by_the_relayer(
    registry: Registry, roles: Roles, relayer: Relayer, case: str
) -> None:
    held_by(registry, roles, DISTRIBUTOR.address, "domain-1")
    held_by(registry, roles, DISTRIBUTOR.address, "domain-2")
    request, signature = wrongly_signed(relayer, case)
    signer = recover(relayer, request, signature)

    assert signer != DISTRIBUTOR.address
    with reverts(ERC2771ForwarderInvalidSigner, signer=signer, **{"from": DISTRIBUTOR.address}):
        relayer.relay(request, signature)


@pytest.mark.parametrize("case", WRONG_SIGNATURES)
def test_a_request_signed_for_another_domain_or_altered_is_refused_by_the_forwarder(
    registry: Registry, roles: Roles, relayer: Relayer, case: str
) -> None:
    held_by(registry, roles, DISTRIBUTOR.address, "domain-1")
    held_by(registry, roles, DISTRIBUTOR.address, "domain-2")
    request, signature = wrongly_signed(relayer, case)
    signer = recover(relayer, request, signature)

    with reverts(ERC2771ForwarderInvalidSigner, signer=signer, **{"from": DISTRIBUTOR.address}):
        execute_unchecked(relayer, request, signature)


def test_a_truncated_signature_recovers_to_no_one(relayer: Relayer) -> None:
    request, signature = wrongly_signed(relayer, "truncated signature")

    assert recover(relayer, request, signature) == ZERO_ADDRESS


def test_an_expired_request_is_refused(registry: Registry, roles: Roles, relayer: Relayer) -> None:
    item = held_by(registry, roles, DISTRIBUTOR.address, "expired-1")
    latest = int(registry.w3.eth.get_block("latest")["timestamp"])
    request = relayer.request(DISTRIBUTOR.address, report_stolen_data(item), deadline=latest - 1)
    signature = relayer.sign(DISTRIBUTOR, request)

    with reverts(ERC2771ForwarderExpiredRequest, deadline=latest - 1):
        relayer.relay(request, signature)
    with reverts(ERC2771ForwarderExpiredRequest, deadline=latest - 1):
        execute_unchecked(relayer, request, signature)


def test_a_request_expires_once_the_chain_passes_its_deadline(
    registry: Registry, roles: Roles, relayer: Relayer, chain: Chain
) -> None:
    item = held_by(registry, roles, DISTRIBUTOR.address, "expired-2")
    request, signature = signed(relayer, DISTRIBUTOR, report_stolen_data(item))
    relayer.check(request, signature)

    chain.increase_time(
        request.deadline - int(registry.w3.eth.get_block("latest")["timestamp"]) + 1
    )

    with reverts(ERC2771ForwarderExpiredRequest, deadline=request.deadline):
        relayer.relay(request, signature)


def test_a_request_for_another_registry_is_not_relayed_and_its_target_distrusts_the_forwarder(
    registry: Registry, roles: Roles, relayer: Relayer
) -> None:
    other = Registry.deploy(registry.w3, roles.admin)
    data = report_stolen_data(item_id(GTIN, "x"))
    request = replace(unchecked_request(relayer, DISTRIBUTOR, data), to=other.address)
    signature = relayer.sign(DISTRIBUTOR, request)

    with pytest.raises(Forbidden, match=f"it calls {other.address}, not the registry"):
        relayer.relay(request, signature)
    with reverts(ERC2771UntrustfulTarget, target=other.address, forwarder=relayer.forwarder):
        execute_unchecked(relayer, request, signature)


def test_a_registry_sharing_a_forwarder_accepts_its_relayed_requests(
    registry: Registry, roles: Roles, relayer: Relayer
) -> None:
    sibling = Registry.deploy(registry.w3, roles.admin, forwarder=registry.forwarder)

    assert sibling.forwarder == registry.forwarder
    assert Relayer(sibling, roles.relayer).forwarder == relayer.forwarder


# ───────────── the registry's own rules still hold ─────────────


def test_a_brand_cannot_move_a_retailers_item_through_the_relayer(
    registry: Registry, roles: Roles, relayer: Relayer
) -> None:
    item = held_by(registry, roles, RETAILER.address, "brand-1")
    brand = roles.brand_admin
    data = transfer_data(item, brand.address)
    request = unchecked_request(relayer, brand, data)
    signature = relayer.sign(brand, request)
    refused = {"itemId": item.hex(), "custodian": RETAILER.address, "caller": brand.address}

    with reverts(NotCustodian, **refused):
        relayer.request(brand.address, data)
    with reverts(NotCustodian, **refused):
        relayer.relay(request, signature)
    with reverts(NotCustodian, **refused):
        execute_unchecked(relayer, request, signature)
    assert relayer.nonce(brand.address) == 0  # a refused request leaves the nonce unused


def test_a_request_overtaken_by_the_signers_own_move_fails_with_the_registrys_error(
    registry: Registry, roles: Roles, relayer: Relayer
) -> None:
    signer = roles.distributor
    item = held_by(registry, roles, signer.address, "overtaken-1")
    request, signature = signed(relayer, signer, transfer_data(item, CONSUMER.address))
    registry.transfer(signer, item, roles.retailer.address)
    refused = {"itemId": item.hex(), "custodian": roles.retailer.address, "caller": signer.address}

    with reverts(NotCustodian, **refused):
        relayer.relay(request, signature)
    with reverts(NotCustodian, **refused):
        execute_unchecked(relayer, request, signature)


def test_a_stranger_cannot_pose_as_a_relayed_signer_by_appending_an_address(
    registry: Registry, roles: Roles
) -> None:
    item = held_by(registry, roles, DISTRIBUTOR.address, "pose-1")
    data = transfer_data(item, roles.stranger.address) + bytes.fromhex(DISTRIBUTOR.address[2:])
    call: TxParams = {"from": roles.stranger.address, "to": registry.address, "data": data}

    error = refusal_of(registry, call)

    assert (type(error), error.data) == (
        NotCustodian,
        {"itemId": item.hex(), "custodian": DISTRIBUTOR.address, "caller": roles.stranger.address},
    )


def refusal_of(registry: Registry, call: TxParams) -> RegistryError:
    """The registry error a simulation of ``call`` reverts with."""
    try:
        registry.w3.eth.estimate_gas(call)
    except Exception as exc:  # each provider raises its own type; the data is what counts
        data = revert_data(exc)
        assert data is not None
        error = registry.errors.decode(data)
        assert isinstance(error, RegistryError)
        return error
    raise AssertionError("the call went through")


def test_direct_calls_keep_working_beside_relayed_ones(
    registry: Registry, roles: Roles, relayer: Relayer
) -> None:
    item = held_by(registry, roles, roles.distributor.address, "direct-1")

    result = registry.transfer(roles.distributor, item, roles.retailer.address)

    assert events(registry, result, item) == [
        (
            "CustodyTransferred",
            3,
            {"from": roles.distributor.address, "to": roles.retailer.address},
        )
    ]


# ───────────── the first action on an unmoved Merkle batch item ─────────────


def test_a_relayed_first_ship_of_a_batch_item_activates_it_in_the_same_transaction(
    registry: Registry, roles: Roles, relayer: Relayer, chain: Chain
) -> None:
    ids = batch_items(4, "relay-batch")
    tree = anchored(registry, roles, ids)
    registry.batch_proofs = lambda item: proof(tree, ids.index(item)) if item in ids else None
    try:
        data = registry.first_action_data(ids[2], ship_data(ids[2], RETAILER.address))
        already_on_chain = registry.first_action_data(ids[2], ship_data(ids[2], RETAILER.address))
        operator_before = chain.w3.eth.get_balance(roles.operator.address)
        request = relayer.request(roles.operator.address, data)
        result = relayer.relay(request, relayer.sign(roles.operator, request))
        after = registry.first_action_data(ids[2], receive_data(ids[2]))
    finally:
        registry.batch_proofs = None

    assert request.function == "ship"
    assert already_on_chain == data  # nothing was sent between the two
    assert after == receive_data(ids[2])  # on chain now: no activation any more
    assert events(registry, result, ids[2]) == [
        ("BatchItemActivated", 1, {"root": "0x" + tree.root.hex()}),
        ("ItemShipped", 2, {"from": roles.operator.address, "to": RETAILER.address}),
    ]
    assert chain.w3.eth.get_balance(roles.operator.address) == operator_before


def test_the_relayer_relays_a_multicall_only_as_one_activation_then_an_operation_on_its_item(
    registry: Registry, roles: Roles, relayer: Relayer
) -> None:
    ids = batch_items(2, "relay-policy")
    tree = anchored(registry, roles, ids)
    activate = [HexBytes(registry.activate_call(i, proof(tree, n))._encode_transaction_data())
                for n, i in enumerate(ids)]  # fmt: skip
    sale = HexBytes(registry.contract.encode_abi("recordRetailSale", [ids[0].value]))

    def multicall(*calls: bytes) -> bytes:
        return bytes(HexBytes(registry.contract.encode_abi("multicall", [list(calls)])))

    cases = {
        "another item": multicall(activate[1], ship_data(ids[0], RETAILER.address)),
        "two activations": multicall(activate[0], activate[1], ship_data(ids[0], RETAILER.address)),
        "two operations": multicall(ship_data(ids[0], RETAILER.address), receive_data(ids[0])),
        "not relayable": multicall(activate[0], sale),
        "unreadable": multicall()[:4] + b"\x01" * 40,
        "empty": multicall(),
    }

    refused = {}
    for name, data in cases.items():
        with pytest.raises(Forbidden) as caught:
            relayer.request(roles.operator.address, data)
        refused[name] = caught.value.reason

    only = "a multicall is relayed only as one activateBatchItem followed by the operation it "
    assert refused == {
        "another item": f"it activates item {ids[1].hex()} but operates on item {ids[0].hex()}",
        "two activations": only + "brings the item on chain for",
        "two operations": only + "brings the item on chain for",
        "not relayable": "recordRetailSale is not relayed (only acceptDelivery, claim, "
        "reportStolen, ship, transfer)",
        "unreadable": "its multicall's calls cannot be read",
        "empty": "its multicall's calls cannot be read",
    }


# ───────────── the relayer's own policy ─────────────


def test_the_relayer_relays_only_custody_operations(
    registry: Registry, roles: Roles, relayer: Relayer
) -> None:
    register = HexBytes(
        registry.contract.encode_abi(
            "register", [item_id(GTIN, "p").value, b"\0" * 32, ZERO_ADDRESS]
        )
    )

    with pytest.raises(Forbidden, match="is not relayed"):
        relayer.request(roles.operator.address, register)


def test_the_relayer_refuses_requests_that_send_ether_or_ask_too_much_gas(
    registry: Registry, roles: Roles, relayer: Relayer
) -> None:
    item = held_by(registry, roles, DISTRIBUTOR.address, "policy-1")
    request = relayer.request(DISTRIBUTOR.address, report_stolen_data(item))

    for changed, reason in [
        (replace(request, value=1), "it sends 1 wei"),
        (replace(request, gas=relayer.max_gas + 1), f"more than {relayer.max_gas}"),
    ]:
        with pytest.raises(Forbidden, match=reason):
            relayer.relay(changed, relayer.sign(DISTRIBUTOR, changed))


def test_a_relayer_knows_only_registry_operations(registry: Registry, roles: Roles) -> None:
    with pytest.raises(ValueError, match="cannot relay selfDestruct: not a known operation"):
        Relayer(registry, roles.relayer, relayable={"selfDestruct"})


# ───────────── the forwarder's errors as Python classes ─────────────


def forwarder_abi_errors() -> dict[str, list[tuple[str, str]]]:
    return {
        str(e["name"]): [(str(i["name"]), str(i["type"])) for i in e["inputs"]]
        for e in load_artifact("VeritagForwarder").abi
        if e["type"] == "error"
    }


def test_every_forwarder_error_has_a_class_and_no_forwarder_class_is_stale() -> None:
    abi = set(forwarder_abi_errors())

    assert abi - set(FORWARDER_ERRORS) - set(ERRORS) == set()
    assert set(FORWARDER_ERRORS) <= abi


@pytest.mark.parametrize("name", sorted(FORWARDER_ERRORS))
def test_forwarder_revert_data_decodes_to_its_class_with_every_value_in_the_message(
    name: str,
) -> None:
    inputs = forwarder_abi_errors()[name]
    samples = {"address": DISTRIBUTOR.address, "uint256": 123456789, "uint48": 1_900_000_000}
    values = [samples[t] for _, t in inputs]
    types = [t for _, t in inputs]
    raw = keccak(text=f"{name}({','.join(types)})")[:4] + encode(types, values)

    error = ErrorDecoder(load_artifact("VeritagForwarder").abi).decode(raw)

    assert type(error) is FORWARDER_ERRORS[name]
    assert error.data == {n: v for (n, _), v in zip(inputs, values, strict=True)}
    for value in values:
        shown = f"{str(value)[:6]}…{str(value)[-4:]}" if isinstance(value, str) else str(value)
        assert shown in str(error)
