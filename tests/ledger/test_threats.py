"""The attacks of DESIGN.md "Threats in scope" that the contracts and signatures answer.

One section per attack. Where another module already shows a defence, the section names that
test instead of repeating it; the tests here cover what those do not.

- Unauthorised roles: every state-changing function of the registry, called by an account
  with no role, reverts with its exact error, and so does a request that account relays
  through the trusted forwarder. (Per-role matrices: test_registry_governance.py
  ``*_reverts_when_caller_is_not_*``, test_registry_items.py ``*_when_caller_is_not_*``.)
- Signature replay: across chain ids (claims: test_claims.py
  ``test_claim_signed_for_another_chain_fails``; forward requests: test_relay.py
  ``test_a_request_signed_for_another_domain_or_altered_is_refused_by_the_forwarder``
  [another chain id]), across contracts (claims: test_claims.py
  ``test_claim_signed_for_another_registry_fails``; forward requests: here, against a real
  second deployment), across nonces (test_relay.py ``test_a_replayed_request_is_refused``;
  claims work once: test_claims.py ``test_claim_cannot_be_replayed*``).
- Expired deadlines: test_relay.py ``test_an_expired_request_is_refused`` and
  ``test_a_request_expires_once_the_chain_passes_its_deadline``; here, the exact boundary.
- Claim front-running: test_claims.py ``test_claim_cannot_be_redirected_to_another_owner`` and
  ``test_front_runner_copying_a_claim_can_only_make_the_same_owner_the_owner``; here, a
  watcher who lifts the claim signature out of a pending relayed request.
- Compromised brand or operator key: test_registry_governance.py (suspension from a time,
  retroactive flags, flags kept after reinstatement, only the registry admin reinstates);
  here, every registration path of a suspended operator, and what it can still do.
- Forced custody: test_registry_items.py ``test_receive_reverts_when_caller_is_not_the_consignee``;
  here, the whole push attempt.
- Gas griefing with huge batches: test_registry_items.py
  ``test_register_batch_reverts_for_batch_size_outside_1_to_max`` and
  ``test_batch_actions_revert_for_batch_size_outside_1_to_max`` (501 items →
  ``BatchSize(501, 500)`` for every batch function); the relayer relays no batch function and
  caps gas (test_relay.py ``test_the_relayer_relays_only_custody_operations``,
  ``test_the_relayer_refuses_requests_that_send_ether_or_ask_too_much_gas``). That a full
  batch of 500 fits in a block is measured by ``veritag bench gas`` (docs/gas.md), not here:
  on the in-process EVM the estimate of one such call alone takes half a minute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys.datatypes import Signature
from eth_typing import Hash32
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from ledger.chain import Chain
from ledger.claims import claim_key, sign_claim
from ledger.compiler import load_artifact
from ledger.contract_errors import (
    ERC2771ForwarderExpiredRequest,
    ERC2771ForwarderInvalidSigner,
    ERC2771UntrustfulTarget,
    InvalidClaimSignature,
    NotBrandAdmin,
    NotBrandAuthority,
    NotConsignee,
    NotCustodian,
    NotOperator,
    OperatorIsSuspended,
    OwnableUnauthorizedAccount,
    RegistryError,
    RenounceDisabled,
    Status,
    UnknownBatch,
)
from ledger.identifiers import ItemId, container_id, item_id
from ledger.merkle import BatchProof
from ledger.registry import ZERO_ADDRESS, Flag, ItemState, Registry
from ledger.relay import (
    ForwardRequest,
    Relayer,
    claim_data,
    receive_data,
    recover_forward_request_signer,
    report_stolen_data,
)
from ledger.transactions import Transactor, TxResult
from tests.helpers import reverts

if TYPE_CHECKING:
    from tests.conftest import Roles

GTIN = "00614141123452"
"""conftest.GTIN: a GTIN of brand 1."""
BRAND = 1
CODE = "7K3QD-M9XTV-2HB8R-WJ5NC-0PFGA"
SIGNER: LocalAccount = Account.from_key(keccak(text="threats: a party without ether"))


# ───────────── helpers ─────────────


def state(registry: Registry, item: ItemId) -> ItemState:
    found = registry.item(item)
    assert found is not None, f"{item} is not registered"
    return found


def recover(digest: bytes, signature: bytes) -> str:
    """Who signed ``digest`` (a 65-byte signature with v in 27/28)."""
    vrs = (signature[64] - 27, int.from_bytes(signature[:32]), int.from_bytes(signature[32:64]))
    return Signature(vrs=vrs).recover_public_key_from_msg_hash(digest).to_checksum_address()


def send(registry: Registry, sender: LocalAccount, function: str, *args: Any) -> TxResult:
    """Call any registry function, through the same simulate-then-send path as the client."""
    call = registry.contract.functions[function](*args)
    return Transactor(registry.w3, registry.errors).send(sender, call)


def calldata(registry: Registry, function: str, *args: Any) -> bytes:
    """The calldata of a registry call, as a forward request carries it."""
    return bytes(HexBytes(registry.contract.encode_abi(function, list(args))))


def execute(relayer: Relayer, request: ForwardRequest, signature: bytes) -> TxResult:
    """The forwarder's ``execute``, sent without the relayer's own checks: the chain decides."""
    call = relayer.contract.functions.execute(request.execute_argument(signature))
    return Transactor(relayer.registry.w3, relayer.errors).send(relayer.gas_payer, call)


def signed_request(
    relayer: Relayer, signer: LocalAccount, data: bytes, *, deadline: int = 2**40
) -> tuple[ForwardRequest, bytes]:
    """A request of ``signer`` for the registry at its current nonce, built without the
    relayer's policy and simulation (which would refuse a doomed request early)."""
    request = ForwardRequest(
        sender=signer.address,
        to=relayer.registry.address,
        gas=300_000,
        nonce=relayer.nonce(signer.address),
        deadline=deadline,
        data=data,
    )
    return request, relayer.sign(signer, request)


def held_by(registry: Registry, roles: Roles, holder: str, serial: str) -> ItemId:
    """A new item of brand 1, registered by its operator and handed to ``holder``."""
    item = item_id(GTIN, serial)
    registry.register(roles.operator, item)
    registry.transfer(roles.operator, item, holder)
    return item


@dataclass(frozen=True)
class Scene:
    """Items in every state a privileged function needs, and the parties around them."""

    roles: Roles
    item: ItemId
    """Active, held by brand 1's operator."""
    shipped: ItemId
    """In transit from brand 1's operator to the distributor."""
    sold: ItemId
    """Sold by the retailer, claimable with ``CODE``."""
    fresh: ItemId
    """Never registered."""


@pytest.fixture
def scene(registry: Registry, roles: Roles) -> Scene:
    item = item_id(GTIN, "THREAT-ACTIVE")
    registry.register(roles.operator, item)
    shipped = item_id(GTIN, "THREAT-SHIPPED")
    registry.register(roles.operator, shipped)
    registry.ship(roles.operator, shipped, roles.distributor.address)
    sold = item_id(GTIN, "THREAT-SOLD")
    registry.register(roles.operator, sold, claim_key=claim_key(sold, CODE).address)
    registry.transfer(roles.operator, sold, roles.retailer.address)
    registry.record_retail_sale(roles.retailer, sold)
    return Scene(roles, item, shipped, sold, item_id(GTIN, "THREAT-FRESH"))


# ───────────── unauthorised roles ─────────────

Attempt = Callable[[Registry, Scene, LocalAccount], object]
Expected = Callable[[Scene, str], tuple[type[RegistryError], dict[str, Any]]]


def _ownable(_: Scene, caller: str) -> tuple[type[RegistryError], dict[str, Any]]:
    return OwnableUnauthorizedAccount, {"account": caller}


def _brand_admin(_: Scene, caller: str) -> tuple[type[RegistryError], dict[str, Any]]:
    return NotBrandAdmin, {"brandId": BRAND, "account": caller}


def _brand_authority(_: Scene, caller: str) -> tuple[type[RegistryError], dict[str, Any]]:
    return NotBrandAuthority, {"brandId": BRAND, "account": caller}


def _operator(_: Scene, caller: str) -> tuple[type[RegistryError], dict[str, Any]]:
    return NotOperator, {"account": caller}


def _custodian_of_item(s: Scene, caller: str) -> tuple[type[RegistryError], dict[str, Any]]:
    return NotCustodian, {
        "itemId": s.item.hex(),
        "custodian": s.roles.operator.address,
        "caller": caller,
    }


def _custodian_of_shipped(s: Scene, caller: str) -> tuple[type[RegistryError], dict[str, Any]]:
    return NotCustodian, {
        "itemId": s.shipped.hex(),
        "custodian": s.roles.operator.address,
        "caller": caller,
    }


def _consignee(s: Scene, caller: str) -> tuple[type[RegistryError], dict[str, Any]]:
    return NotConsignee, {
        "itemId": s.shipped.hex(),
        "consignee": s.roles.distributor.address,
        "caller": caller,
    }


def _own_claim_signature(registry: Registry, s: Scene, caller: LocalAccount) -> bytes:
    """The caller's own signature of the claim digest: not the item's claim key."""
    digest = Hash32(registry.claim_digest(s.sold, caller.address))
    return bytes(caller.unsafe_sign_hash(digest).signature)


STRANGERS_PALLET = "006141410000009992"
"""An SSCC never packed: a stranger's pack would create it, then fail on the item."""

PRIVILEGED: dict[str, tuple[Attempt, Expected]] = {
    # Registry admin (Ownable2Step owner).
    "admitBrand": (lambda r, s, a: r.admit_brand(a, a.address, "Fake", []), _ownable),
    "assignPrefix": (lambda r, s, a: r.assign_prefix(a, BRAND, "4000001"), _ownable),
    "suspendBrand": (lambda r, s, a: r.suspend_brand(a, BRAND, 1), _ownable),
    "reinstateBrand": (lambda r, s, a: r.reinstate_brand(a, BRAND), _ownable),
    "reinstateOperator": (
        lambda r, s, a: r.reinstate_operator(a, s.roles.operator.address),
        _ownable,
    ),
    "transferOwnership": (lambda r, s, a: r.transfer_admin(a, a.address), _ownable),
    "acceptOwnership": (lambda r, s, a: r.accept_admin(a), _ownable),
    "renounceOwnership": (
        lambda r, s, a: send(r, a, "renounceOwnership"),
        lambda s, caller: (RenounceDisabled, {}),
    ),
    # Registry admin or the brand's admin.
    "setBrandAdmin": (lambda r, s, a: r.set_brand_admin(a, BRAND, a.address), _brand_admin),
    "suspendOperator": (
        lambda r, s, a: r.suspend_operator(a, s.roles.operator.address, 1),
        _brand_admin,
    ),
    # The brand's admin.
    "addOperator": (lambda r, s, a: r.add_operator(a, BRAND, a.address), _brand_admin),
    "removeOperator": (
        lambda r, s, a: r.remove_operator(a, s.roles.operator.address),
        _brand_admin,
    ),
    "setPartner": (lambda r, s, a: r.set_partner(a, BRAND, a.address), _brand_admin),
    # An active operator.
    "register": (lambda r, s, a: r.register(a, s.fresh), _operator),
    "registerBatch": (lambda r, s, a: r.register_batch(a, [s.fresh]), _operator),
    "registerBatchWithClaimKeys": (
        lambda r, s, a: r.register_batch(a, [s.fresh], claim_keys=[ZERO_ADDRESS]),
        _operator,
    ),
    # The custodian.
    "transfer": (lambda r, s, a: r.transfer(a, s.item, a.address), _custodian_of_item),
    "transferBatch": (
        lambda r, s, a: r.transfer_batch(a, [s.item], a.address),
        _custodian_of_item,
    ),
    "ship": (lambda r, s, a: r.ship(a, s.item, a.address), _custodian_of_item),
    "shipBatch": (lambda r, s, a: r.ship_batch(a, [s.item], a.address), _custodian_of_item),
    "cancelShipment": (lambda r, s, a: r.cancel_shipment(a, s.shipped), _custodian_of_shipped),
    "reportStolen": (lambda r, s, a: r.report_stolen(a, s.item), _custodian_of_item),
    "clearStolen": (lambda r, s, a: r.clear_stolen(a, s.item), _custodian_of_item),
    "recordRetailSale": (lambda r, s, a: r.record_retail_sale(a, s.item), _custodian_of_item),
    # Aggregation: the custodian of every item packed, and of the container.
    "pack": (
        lambda r, s, a: r.pack(a, container_id(STRANGERS_PALLET), [s.item]),
        _custodian_of_item,
    ),
    "unpack": (lambda r, s, a: r.unpack(a, s.item, [s.item]), _custodian_of_item),
    # The consignee.
    "acceptDelivery": (lambda r, s, a: r.receive(a, s.shipped), _consignee),
    "acceptDeliveryBatch": (lambda r, s, a: r.receive_batch(a, [s.shipped]), _consignee),
    # The brand (its admin or an active operator); retiring also lets the custodian.
    "recall": (lambda r, s, a: r.recall(a, [s.item]), _brand_authority),
    "liftRecall": (lambda r, s, a: r.lift_recall(a, [s.item]), _brand_authority),
    "decommission": (lambda r, s, a: r.decommission(a, s.item), _brand_authority),
    "destroy": (lambda r, s, a: r.destroy(a, s.item), _brand_authority),
    # An EPCIS step has the rights of its plain function (Shipping = ship).
    "applyEpcisEvent": (
        lambda r, s, a: send(r, a, "applyEpcisEvent", s.item.value, 1, a.address, b"\x01" * 32),
        _custodian_of_item,
    ),
    # Merkle batches: anchoring is an operator's; activation is anyone's, the proof is the
    # authority (no anchored root, no activation); a multicall has the rights of its calls.
    "anchorBatch": (lambda r, s, a: r.anchor_batch(a, b"\x01" * 32, 1), _operator),
    "activateBatchItem": (
        lambda r, s, a: r.activate_batch_item(
            a, s.fresh, BatchProof(b"\x0b" * 32, 0, None, (b"\x0c" * 32,))
        ),
        lambda s, caller: (UnknownBatch, {"root": "0x" + "0b" * 32}),
    ),
    "multicall": (
        lambda r, s, a: Transactor(r.w3, r.errors).send(
            a,
            r.multicall_call(
                [r.contract.functions.register(s.fresh.value, b"\x00" * 32, ZERO_ADDRESS)]
            ),
        ),
        _operator,
    ),
    # The item's claim key: a claim signed by any other key names that key.
    "claim": (
        lambda r, s, a: r.claim(a, s.sold, a.address, _own_claim_signature(r, s, a)),
        lambda s, caller: (InvalidClaimSignature, {"itemId": s.sold.hex(), "signer": caller}),
    ),
}
"""Every state-changing registry function: how an account with no role attempts it, and the
exact error that refuses it."""

STATE_CHANGING = sorted(
    str(entry["name"])
    for entry in load_artifact("ProvenanceRegistry").abi
    if entry["type"] == "function" and entry["stateMutability"] not in ("view",)
)


@pytest.mark.parametrize("function", STATE_CHANGING)
def test_every_state_changing_function_reverts_for_an_account_without_a_role(
    registry: Registry, scene: Scene, function: str
) -> None:
    assert function in PRIVILEGED, f"{function} is new: add how a stranger attempts it"
    attempt, expected = PRIVILEGED[function]
    stranger = scene.roles.stranger
    error, data = expected(scene, stranger.address)
    block = registry.w3.eth.block_number

    with reverts(error, **data):
        attempt(registry, scene, stranger)
    assert registry.w3.eth.block_number == block  # refused before anything was sent


RELAYED_PRIVILEGED: dict[str, tuple[Callable[[Registry, Scene], bytes], Expected]] = {
    "admitBrand": (
        lambda r, s: calldata(r, "admitBrand", SIGNER.address, "Fake", []),
        _ownable,
    ),
    "suspendOperator": (
        lambda r, s: calldata(r, "suspendOperator", s.roles.operator.address, 1),
        _brand_admin,
    ),
    "register": (
        lambda r, s: calldata(r, "register", s.fresh.value, b"\x00" * 32, ZERO_ADDRESS),
        _operator,
    ),
    "recall": (lambda r, s: calldata(r, "recall", [s.item.value]), _brand_authority),
    "transfer": (
        lambda r, s: calldata(r, "transfer", s.item.value, SIGNER.address),
        _custodian_of_item,
    ),
}


@pytest.mark.parametrize("function", list(RELAYED_PRIVILEGED))
def test_a_request_relayed_through_the_forwarder_has_only_its_signers_rights(
    registry: Registry, scene: Scene, function: str
) -> None:
    """The forwarder is trusted to name the signer, nothing more: neither the forwarder nor
    the relayer paying the gas lends its rights, and the registry's own error comes back."""
    relayer = Relayer(registry, scene.roles.relayer)
    encode, expected = RELAYED_PRIVILEGED[function]
    request, signature = signed_request(relayer, SIGNER, encode(registry, scene))
    error, data = expected(scene, SIGNER.address)

    with reverts(error, **data):
        execute(relayer, request, signature)
    assert relayer.nonce(SIGNER.address) == 0  # the refused request left the nonce unused


# ───────────── signature replay across contracts ─────────────


def second_deployment(registry: Registry, roles: Roles) -> Registry:
    """Another registry on the same chain, with its own forwarder and the same brand 1."""
    other = Registry.deploy(registry.w3, roles.admin)
    brand = other.admit_brand(roles.admin, roles.brand_admin.address, "Acme", ["0614141"])
    other.add_operator(roles.brand_admin, brand, roles.operator.address)
    return other


def test_a_forward_request_signed_for_a_second_deployment_is_refused_by_the_first(
    registry: Registry, roles: Roles
) -> None:
    other = second_deployment(registry, roles)
    item = held_by(registry, roles, SIGNER.address, "TWIN")
    assert held_by(other, roles, SIGNER.address, "TWIN") == item
    here, there = Relayer(registry, roles.relayer), Relayer(other, roles.relayer)
    assert here.forwarder != there.forwarder
    assert here.nonce(SIGNER.address) == there.nonce(SIGNER.address) == 0
    request, signature = signed_request(there, SIGNER, report_stolen_data(item))

    # As signed: it names the other registry, which does not trust this forwarder.
    with reverts(ERC2771UntrustfulTarget, target=other.address, forwarder=here.forwarder):
        execute(here, request, signature)
    # Pointed at this registry: the signature covered the target and the other forwarder's
    # domain, so it recovers to someone else.
    retargeted = replace(request, to=registry.address)
    recovered = recover_forward_request_signer(
        retargeted, signature, forwarder=here.forwarder, chain_id=here.chain_id
    )
    assert recovered != SIGNER.address
    with reverts(ERC2771ForwarderInvalidSigner, signer=recovered, **{"from": SIGNER.address}):
        execute(here, retargeted, signature)

    assert here.nonce(SIGNER.address) == 0
    assert not state(registry, item).stolen
    execute(there, request, signature)  # where it was signed for, it works
    assert state(other, item).stolen


# ───────────── expired deadlines ─────────────


def test_a_forward_request_is_valid_through_its_deadline_second_and_refused_after(
    registry: Registry, chain: Chain, roles: Roles
) -> None:
    relayer = Relayer(registry, roles.relayer)
    on_time = held_by(registry, roles, SIGNER.address, "DEADLINE-1")
    late = held_by(registry, roles, SIGNER.address, "DEADLINE-2")
    deadline = int(registry.w3.eth.get_block("pending")["timestamp"]) + 100

    chain.set_next_timestamp(deadline)
    request, signature = signed_request(
        relayer, SIGNER, report_stolen_data(on_time), deadline=deadline
    )
    result = execute(relayer, request, signature)
    assert int(registry.w3.eth.get_block(result.block_number)["timestamp"]) == deadline
    assert state(registry, on_time).stolen

    chain.set_next_timestamp(deadline + 1)
    request, signature = signed_request(
        relayer, SIGNER, report_stolen_data(late), deadline=deadline
    )
    with reverts(ERC2771ForwarderExpiredRequest, deadline=deadline):
        execute(relayer, request, signature)
    assert not state(registry, late).stolen


# ───────────── claim front-running ─────────────


def test_a_watcher_lifting_the_claim_signature_out_of_a_pending_relayed_claim_cannot_redirect_it(
    registry: Registry, scene: Scene
) -> None:
    roles, item = scene.roles, scene.sold
    relayer = Relayer(registry, roles.relayer)
    consumer, watcher = SIGNER, roles.stranger
    claim_signature = sign_claim(
        item, CODE, consumer.address, chain_id=registry.chain_id, contract=registry.address
    )
    request = relayer.request(consumer.address, claim_data(item, consumer.address, claim_signature))
    request_signature = relayer.sign(consumer, request)
    pending = relayer.contract.functions.execute(
        request.execute_argument(request_signature)
    ).build_transaction({"from": roles.relayer.address, "gas": 500_000})

    # What the watcher reads in the mempool: the forward request, and inside it the claim.
    _, outer = relayer.contract.decode_function_input(HexBytes(pending["data"]))
    _, inner = registry.contract.decode_function_input(HexBytes(outer["request"]["data"]))
    lifted = bytes(inner["signature"])
    assert lifted == claim_signature

    # Claiming for itself with the lifted signature: it was made for the consumer.
    signer = recover(registry.claim_digest(item, watcher.address), lifted)
    assert signer != claim_key(item, CODE).address
    with reverts(InvalidClaimSignature, itemId=item.hex(), signer=signer):
        registry.claim(watcher, item, watcher.address, lifted)
    # Rewriting the forward request's owner breaks the consumer's signature of the request.
    rewritten = replace(request, data=claim_data(item, watcher.address, lifted))
    recovered = recover_forward_request_signer(
        rewritten, request_signature, forwarder=relayer.forwarder, chain_id=relayer.chain_id
    )
    with reverts(ERC2771ForwarderInvalidSigner, signer=recovered, **{"from": consumer.address}):
        execute(relayer, rewritten, request_signature)

    relayer.relay(request, request_signature)  # the consumer's pending claim lands
    after = state(registry, item)
    assert (after.custodian, after.status, after.flags) == (
        consumer.address,
        Status.ACTIVE,
        Flag.CLAIMED,
    )


# ───────────── compromised operator key ─────────────


def test_a_suspended_operator_can_register_by_no_path(
    registry: Registry, chain: Chain, roles: Roles
) -> None:
    operator = roles.operator
    since = int(registry.w3.eth.get_block("latest")["timestamp"]) - 10
    registry.suspend_operator(roles.admin, operator.address, since)
    fresh = item_id(GTIN, "AFTER-SUSPENSION")
    refused = {"operator": operator.address, "since": since}
    relayer = Relayer(registry, roles.relayer)
    data = calldata(registry, "register", fresh.value, b"\x00" * 32, ZERO_ADDRESS)
    request = ForwardRequest(
        sender=operator.address,
        to=registry.address,
        gas=300_000,
        nonce=relayer.nonce(operator.address),
        deadline=2**40,
        data=data,
    )

    with reverts(OperatorIsSuspended, **refused):
        registry.register(operator, fresh)
    with reverts(OperatorIsSuspended, **refused):
        registry.register_batch(operator, [fresh])
    with reverts(OperatorIsSuspended, **refused):
        registry.register_batch(operator, [fresh], claim_keys=[ZERO_ADDRESS])
    with reverts(OperatorIsSuspended, **refused):
        execute(relayer, request, relayer.sign(operator, request))
    assert registry.item(fresh) is None


def test_removing_a_suspended_operator_ends_its_brand_rights_over_items(
    registry: Registry, roles: Roles, scene: Scene
) -> None:
    """The suspension procedure: suspend the key from when it was lost (flags what it
    registered since), then remove it, which ends its rights to recall and retire items."""
    operator = roles.operator
    registry.suspend_operator(roles.brand_admin, operator.address, 1)
    registry.remove_operator(roles.brand_admin, operator.address)
    refused = {"brandId": BRAND, "account": operator.address}

    with reverts(NotBrandAuthority, **refused):
        registry.recall(operator, [scene.sold])
    with reverts(NotBrandAuthority, **refused):
        registry.destroy(operator, scene.sold)
    with reverts(NotBrandAuthority, **refused):
        registry.decommission(operator, scene.sold)
    assert state(registry, scene.sold).status is Status.SOLD


def test_a_suspended_operator_can_no_longer_recall_or_destroy_its_brands_items(
    registry: Registry, roles: Roles, scene: Scene
) -> None:
    operator = roles.operator
    registry.suspend_operator(roles.brand_admin, operator.address, 1)

    actions: dict[str, Callable[[], TxResult]] = {
        "recall": lambda: registry.recall(operator, [scene.sold]),
        "destroy": lambda: registry.destroy(operator, scene.sold),
    }
    refusals: dict[str, str] = {}
    for name, action in actions.items():
        try:
            action()
        except RegistryError as exc:
            refusals[name] = type(exc).__name__
    assert refusals == {"recall": "OperatorIsSuspended", "destroy": "OperatorIsSuspended"}


# ───────────── forced custody ─────────────


def test_shipping_cannot_push_custody_onto_a_recipient_who_does_not_accept(
    registry: Registry, roles: Roles, scene: Scene
) -> None:
    item, shipper, recipient = scene.item, roles.operator, SIGNER
    registry.ship(shipper, item, recipient.address)
    relayer = Relayer(registry, roles.relayer)
    in_transit = state(registry, item)
    assert (in_transit.custodian, in_transit.consignee) == (shipper.address, recipient.address)

    # Nobody but the recipient can accept on its behalf: not the shipper, not a stranger,
    # not a stranger's request relayed through the forwarder.
    for pusher in (shipper, roles.stranger):
        with reverts(
            NotConsignee, itemId=item.hex(), consignee=recipient.address, caller=pusher.address
        ):
            registry.receive(pusher, item)
    request, signature = signed_request(relayer, roles.stranger, receive_data(item))
    with reverts(
        NotConsignee, itemId=item.hex(), consignee=recipient.address, caller=roles.stranger.address
    ):
        execute(relayer, request, signature)
    # Until it accepts, the recipient answers for nothing: the item is not its to report.
    with reverts(
        NotCustodian, itemId=item.hex(), custodian=shipper.address, caller=recipient.address
    ):
        execute(relayer, *signed_request(relayer, recipient, report_stolen_data(item)))

    registry.cancel_shipment(shipper, item)  # the shipper takes it back
    back = state(registry, item)
    assert (back.custodian, back.consignee, back.status) == (shipper.address, None, Status.ACTIVE)
