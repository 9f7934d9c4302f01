"""The consumer claim: hidden codes, claim keys, and the claim signature on chain.

The first half checks ``ledger.claims`` on its own (code format, normalisation, key
derivation, the EIP-712 digest). The second half shows that a claim signature is safe to hand
to anyone: it works once, for one owner, one item, one chain and one registry, only after the
retail sale, and whoever submits it can only make the signed owner the owner.

Chain tests run on the session registry of ``conftest`` (brand 1 with ``roles.operator``),
rolled back after each test.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from eth_account.messages import encode_typed_data
from eth_keys.datatypes import Signature
from eth_keys.exceptions import BadSignature
from eth_typing import Hash32
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError
from hexbytes import HexBytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.claims import (
    CLAIM_DOMAIN_NAME,
    CLAIM_DOMAIN_VERSION,
    InvalidClaimCode,
    claim_key,
    generate_claim_code,
    normalise_claim_code,
    sign_claim,
)
from ledger.contract_errors import (
    InvalidClaimSignature,
    ItemRetired,
    NoClaimKey,
    RecalledItem,
    RegistryError,
    Status,
    StolenItem,
    UnknownItem,
    WrongStatus,
    ZeroAddress,
)
from ledger.errors import IdentifierError
from ledger.identifiers import ItemId, item_id
from ledger.registry import ZERO_ADDRESS, Flag, ItemState, Registry
from ledger.transactions import TxResult
from tests.helpers import reverts

if TYPE_CHECKING:
    from tests.conftest import Roles

GTIN = "00614141123452"
"""conftest.GTIN: a GTIN of brand 1."""
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford base32, the alphabet of hidden codes."""
CODE = "7K3QD-M9XTV-2HB8R-WJ5NC-0PFGA"
OTHER_CODE = "7K3QD-M9XTV-2HB8R-WJ5NC-0PFGB"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
CODE_FORMAT = re.compile(r"[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){4}")

codes = st.text(alphabet=ALPHABET, min_size=25, max_size=25)


# ───────────── helpers ─────────────


def emitted(registry: Registry, result: TxResult) -> list[tuple[str, dict[str, Any]]]:
    """Every registry event of a transaction, in log order, as (name, args)."""
    by_topic = {
        HexBytes(event_abi_to_log_topic(entry)): str(entry["name"])
        for entry in registry.contract.abi
        if entry["type"] == "event"
    }
    events = []
    for log in result.receipt["logs"]:
        assert log["address"] == registry.address
        name = by_topic[HexBytes(log["topics"][0])]
        data = registry.contract.events[name]().process_log(log)
        events.append((name, dict(data["args"])))
    return events


def state(registry: Registry, item: ItemId) -> ItemState:
    found = registry.item(item)
    assert found is not None, f"{item} is not registered"
    return found


def signature(registry: Registry, item: ItemId, owner: str, code: str = CODE) -> bytes:
    """The claim signature for ``owner`` on ``registry``, as a consumer's device makes it."""
    return sign_claim(item, code, owner, chain_id=registry.chain_id, contract=registry.address)


def recover(digest: bytes, signature: bytes) -> str:
    """The signer OpenZeppelin's ``ECDSA.tryRecover`` finds, or the zero address on an error.

    Only 65-byte signatures with v in {27, 28}, 0 < r < n and 0 < s <= n/2 recover (no
    malleable high-s twin, no 64-byte compact form), as in OpenZeppelin 5.
    """
    if len(signature) != 65:
        return ZERO_ADDRESS
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if not (v in (27, 28) and 0 < r < SECP256K1_N and 0 < s <= SECP256K1_N // 2):
        return ZERO_ADDRESS
    try:
        key = Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError):
        return ZERO_ADDRESS
    return key.to_checksum_address()


def register_sold(
    registry: Registry, roles: Roles, serial: str, *, code: str | None = CODE
) -> ItemId:
    """An item of brand 1 registered (with the claim key of ``code``) and sold by the retailer."""
    item = item_id(GTIN, serial)
    key = None if code is None else claim_key(item, code).address
    registry.register(roles.operator, item, claim_key=key)
    registry.transfer(roles.operator, item, roles.retailer.address)
    registry.record_retail_sale(roles.retailer, item)
    return item


# ───────────── hidden codes ─────────────


def test_generated_code_is_five_groups_of_five_crockford_characters() -> None:
    code = generate_claim_code()

    assert CODE_FORMAT.fullmatch(code), code
    assert normalise_claim_code(code) == code.replace("-", "")


def test_generated_codes_differ() -> None:
    assert len({generate_claim_code() for _ in range(50)}) == 50


@given(codes)
def test_normalise_accepts_a_code_as_printed(plain: str) -> None:
    printed = "-".join(plain[i : i + 5] for i in range(0, 25, 5))

    assert normalise_claim_code(printed) == plain


def test_normalise_ignores_case_dashes_and_spaces() -> None:
    assert normalise_claim_code(" 7k3qd m9xtv-2HB8R -wj5nc--0pfga ") == CODE.replace("-", "")


def test_normalise_reads_look_alikes_as_the_digits_they_resemble() -> None:
    # I and L (either case) are read as 1, O as 0: the alphabet has neither.
    assert normalise_claim_code("IiLlO-oOOOO-11111-00000-ABCDE") == "11110000001111100000ABCDE"


def test_look_alike_spellings_derive_the_same_claim_key() -> None:
    item = item_id(GTIN, "LOOKALIKE")

    assert claim_key(item, "1l0oi-00000-11111-00000-ABCDE").address == (
        claim_key(item, "11001-00000-11111-00000-ABCDE").address
    )


@pytest.mark.parametrize(
    ("code", "length"),
    [("", 0), ("7K3QD-M9XTV-2HB8R-WJ5NC-0PFG", 24), ("7K3QD-M9XTV-2HB8R-WJ5NC-0PFGAA", 26)],
)
def test_normalise_rejects_a_wrong_length(code: str, length: int) -> None:
    with pytest.raises(InvalidClaimCode) as caught:
        normalise_claim_code(code)

    assert str(caught.value) == f"invalid claim code: expected 25 characters, got {length}"
    assert caught.value.reason == f"expected 25 characters, got {length}"


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("UK3QD-M9XTV-2HB8R-WJ5NC-0PFGA", "'U'"),  # U is left out of Crockford base32
        ("7K3QD-M9XTV-2HB8R-WJ5NC-0PF!*", "'!*'"),
        ("7K3QD.M9XTV2HB8RWJ5NC0PFG", "'.'"),  # only dashes and spaces are separators
    ],
)
def test_normalise_names_the_characters_outside_the_alphabet(code: str, shown: str) -> None:
    with pytest.raises(InvalidClaimCode) as caught:
        normalise_claim_code(code)

    assert (
        str(caught.value) == f"invalid claim code: characters {shown} are not in the code alphabet"
    )


def test_invalid_claim_code_is_an_identifier_error_and_a_value_error() -> None:
    with pytest.raises(InvalidClaimCode) as caught:
        normalise_claim_code("too short")

    assert isinstance(caught.value, IdentifierError)
    assert isinstance(caught.value, ValueError)
    assert caught.value.status == 422


# ───────────── claim keys and the claim digest ─────────────


@given(codes)
def test_claim_key_is_deterministic_per_item_and_code(code: str) -> None:
    item = item_id(GTIN, "KEY-1")

    assert claim_key(item, code).address == claim_key(item, code.lower()).address


@given(codes)
def test_claim_key_differs_across_items_and_codes(code: str) -> None:
    first, second = item_id(GTIN, "KEY-1"), item_id(GTIN, "KEY-2")
    other_code = code[:-1] + ("0" if code[-1] != "0" else "1")

    assert claim_key(first, code).address != claim_key(second, code).address
    assert claim_key(first, code).address != claim_key(first, other_code).address


def test_claim_key_rejects_an_invalid_code() -> None:
    with pytest.raises(InvalidClaimCode):
        claim_key(item_id(GTIN, "KEY-1"), "7K3QD")


def test_claim_domain_is_the_registry_eip712_domain(registry: Registry) -> None:
    fields, name, version, chain_id, contract, salt, extensions = (
        registry.contract.functions.eip712Domain().call()
    )

    assert (name, version) == (CLAIM_DOMAIN_NAME, CLAIM_DOMAIN_VERSION)
    assert (fields, chain_id, contract) == (b"\x0f", registry.chain_id, registry.address)
    assert (salt, extensions) == (b"\x00" * 32, [])


def test_sign_claim_signs_the_registry_claim_digest(registry: Registry, roles: Roles) -> None:
    item = item_id(GTIN, "DIGEST")
    owner = roles.consumer.address
    digest = registry.claim_digest(item, owner)

    signed = signature(registry, item, owner)

    assert recover(digest, signed) == claim_key(item, CODE).address
    typed = encode_typed_data(
        domain_data={
            "name": CLAIM_DOMAIN_NAME,
            "version": CLAIM_DOMAIN_VERSION,
            "chainId": registry.chain_id,
            "verifyingContract": registry.address,
        },
        message_types={
            "Claim": [
                {"name": "itemId", "type": "bytes32"},
                {"name": "newOwner", "type": "address"},
            ]
        },
        message_data={"itemId": item.value, "newOwner": owner},
    )
    assert keccak(b"\x19" + typed.version + typed.header + typed.body) == digest


def test_claim_digest_binds_item_and_owner(registry: Registry, roles: Roles) -> None:
    item, other = item_id(GTIN, "DIGEST"), item_id(GTIN, "DIGEST-2")
    owner = roles.consumer.address

    digests = {
        registry.claim_digest(item, owner),
        registry.claim_digest(other, owner),
        registry.claim_digest(item, roles.stranger.address),
    }

    assert len(digests) == 3


# ───────────── the claim on chain ─────────────


def test_relayer_submits_a_claim_and_the_owner_becomes_custodian(
    registry: Registry, roles: Roles
) -> None:
    item = register_sold(registry, roles, "CLAIM-1")
    assert state(registry, item).claimable

    result = registry.claim(
        roles.relayer,
        item,
        roles.consumer.address,
        signature(registry, item, roles.consumer.address),
    )

    assert emitted(registry, result) == [
        ("ItemClaimed", {"itemId": item.value, "owner": roles.consumer.address, "seq": 4})
    ]
    after = state(registry, item)
    assert after.custodian == roles.consumer.address
    assert after.status is Status.ACTIVE
    assert after.flags == Flag.CLAIMED
    assert after.consignee is None
    assert not after.claimable
    assert after.seq == 4


def test_owner_can_resell_a_claimed_item(registry: Registry, roles: Roles) -> None:
    item = register_sold(registry, roles, "RESALE")
    owner = roles.consumer.address
    registry.claim(roles.relayer, item, owner, signature(registry, item, owner))

    result = registry.transfer(roles.consumer, item, roles.stranger.address)

    assert emitted(registry, result) == [
        (
            "CustodyTransferred",
            {"itemId": item.value, "from": owner, "to": roles.stranger.address, "seq": 5},
        )
    ]
    after = state(registry, item)
    assert after.custodian == roles.stranger.address
    assert after.status is Status.ACTIVE
    assert after.flags == Flag.CLAIMED


def test_claim_cannot_be_replayed(registry: Registry, roles: Roles) -> None:
    item = register_sold(registry, roles, "REPLAY")
    owner = roles.consumer.address
    signed = signature(registry, item, owner)
    registry.claim(roles.relayer, item, owner, signed)

    with reverts(WrongStatus, itemId=item.hex(), actual=Status.ACTIVE, required=Status.SOLD):
        registry.claim(roles.relayer, item, owner, signed)
    assert state(registry, item).seq == 4


def test_claim_cannot_be_replayed_after_the_owner_sells_the_item_again(
    registry: Registry, roles: Roles
) -> None:
    item = register_sold(registry, roles, "REPLAY-2")
    owner = roles.consumer.address
    signed = signature(registry, item, owner)
    registry.claim(roles.relayer, item, owner, signed)
    registry.transfer(roles.consumer, item, roles.retailer.address)
    registry.record_retail_sale(roles.retailer, item)

    # Sold again, but the claim deleted the key: the old signature is spent.
    with reverts(NoClaimKey, itemId=item.hex()):
        registry.claim(roles.relayer, item, owner, signed)
    after = state(registry, item)
    assert (after.custodian, after.status, after.claimable) == (
        roles.retailer.address,
        Status.SOLD,
        False,
    )


def test_claim_cannot_be_redirected_to_another_owner(registry: Registry, roles: Roles) -> None:
    item = register_sold(registry, roles, "REDIRECT")
    signed = signature(registry, item, roles.consumer.address)
    thief = roles.stranger.address
    # The contract recovers a signer from the digest for the thief: some unrelated address.
    signer = recover(registry.claim_digest(item, thief), signed)
    assert signer not in (ZERO_ADDRESS, claim_key(item, CODE).address)

    with reverts(InvalidClaimSignature, itemId=item.hex(), signer=signer):
        registry.claim(roles.stranger, item, thief, signed)
    assert state(registry, item).status is Status.SOLD


def test_claim_with_the_wrong_code_names_the_wrong_signer(registry: Registry, roles: Roles) -> None:
    item = register_sold(registry, roles, "WRONG-CODE")
    owner = roles.consumer.address

    with reverts(
        InvalidClaimSignature, itemId=item.hex(), signer=claim_key(item, OTHER_CODE).address
    ):
        registry.claim(roles.consumer, item, owner, signature(registry, item, owner, OTHER_CODE))
    assert state(registry, item).claimable


def test_claim_with_the_key_of_another_item_fails(registry: Registry, roles: Roles) -> None:
    item = register_sold(registry, roles, "ITEM-A")
    other = register_sold(registry, roles, "ITEM-B")
    owner = roles.consumer.address
    # The code of ``other`` signing a claim of ``item``: the key is derived per item.
    signed = sign_claim(other, CODE, owner, chain_id=registry.chain_id, contract=registry.address)

    with reverts(
        InvalidClaimSignature,
        itemId=item.hex(),
        signer=recover(registry.claim_digest(item, owner), signed),
    ):
        registry.claim(roles.consumer, item, owner, signed)


def test_claim_signed_by_the_owner_instead_of_the_claim_key_fails(
    registry: Registry, roles: Roles
) -> None:
    item = register_sold(registry, roles, "OWNER-SIG")
    owner = roles.consumer
    signed = owner.unsafe_sign_hash(Hash32(registry.claim_digest(item, owner.address))).signature

    with reverts(InvalidClaimSignature, itemId=item.hex(), signer=owner.address):
        registry.claim(owner, item, owner.address, bytes(signed))


def test_claim_signed_for_another_chain_fails(registry: Registry, roles: Roles) -> None:
    item = register_sold(registry, roles, "CHAIN")
    owner = roles.consumer.address
    signed = sign_claim(
        item, CODE, owner, chain_id=registry.chain_id + 1, contract=registry.address
    )
    signer = recover(registry.claim_digest(item, owner), signed)
    assert signer not in (ZERO_ADDRESS, claim_key(item, CODE).address)

    with reverts(InvalidClaimSignature, itemId=item.hex(), signer=signer):
        registry.claim(roles.relayer, item, owner, signed)


def test_claim_signed_for_another_registry_fails(registry: Registry, roles: Roles) -> None:
    # A second registry on the same chain holding the same item with the same claim key.
    other = Registry.deploy(registry.w3, roles.admin)
    brand = other.admit_brand(roles.admin, roles.brand_admin.address, "Acme", ["0614141"])
    other.add_operator(roles.brand_admin, brand, roles.operator.address)
    item = register_sold(registry, roles, "TWIN")
    assert register_sold(other, roles, "TWIN") == item
    owner = roles.consumer.address
    for_registry = signature(registry, item, owner)
    for_other = signature(other, item, owner)

    with reverts(
        InvalidClaimSignature,
        itemId=item.hex(),
        signer=recover(other.claim_digest(item, owner), for_registry),
    ):
        other.claim(roles.relayer, item, owner, for_registry)
    with reverts(
        InvalidClaimSignature,
        itemId=item.hex(),
        signer=recover(registry.claim_digest(item, owner), for_other),
    ):
        registry.claim(roles.relayer, item, owner, for_other)

    registry.claim(roles.relayer, item, owner, for_registry)
    other.claim(roles.relayer, item, owner, for_other)
    assert state(registry, item).custodian == owner
    assert state(other, item).custodian == owner


def test_claim_before_the_retail_sale_fails(registry: Registry, roles: Roles) -> None:
    item = item_id(GTIN, "UNSOLD")
    registry.register(roles.operator, item, claim_key=claim_key(item, CODE).address)
    registry.transfer(roles.operator, item, roles.retailer.address)
    owner = roles.consumer.address

    with reverts(WrongStatus, itemId=item.hex(), actual=Status.ACTIVE, required=Status.SOLD):
        registry.claim(roles.consumer, item, owner, signature(registry, item, owner))
    registry.ship(roles.retailer, item, roles.distributor.address)
    with reverts(WrongStatus, itemId=item.hex(), actual=Status.IN_TRANSIT, required=Status.SOLD):
        registry.claim(roles.consumer, item, owner, signature(registry, item, owner))


def test_claim_of_an_item_without_claim_key_fails(registry: Registry, roles: Roles) -> None:
    item = register_sold(registry, roles, "NO-KEY", code=None)
    owner = roles.consumer.address
    assert not state(registry, item).claimable

    with reverts(NoClaimKey, itemId=item.hex()):
        registry.claim(roles.consumer, item, owner, signature(registry, item, owner))


def test_claim_of_an_unknown_item_fails(registry: Registry, roles: Roles) -> None:
    item = item_id(GTIN, "NEVER-REGISTERED")
    owner = roles.consumer.address

    with reverts(UnknownItem, itemId=item.hex()):
        registry.claim(roles.consumer, item, owner, signature(registry, item, owner))


def test_claim_to_the_zero_address_fails_before_anything_else(
    registry: Registry, roles: Roles
) -> None:
    item = register_sold(registry, roles, "ZERO")
    unknown = item_id(GTIN, "NEVER-REGISTERED")

    with reverts(ZeroAddress):
        registry.claim(roles.consumer, item, ZERO_ADDRESS, signature(registry, item, ZERO_ADDRESS))
    with reverts(ZeroAddress):
        registry.claim(roles.consumer, unknown, ZERO_ADDRESS, b"")
    assert state(registry, item).claimable


@pytest.mark.parametrize(("flag", "error"), [("recalled", RecalledItem), ("stolen", StolenItem)])
def test_claim_of_a_frozen_item_fails(
    registry: Registry, roles: Roles, flag: str, error: type[RegistryError]
) -> None:
    item = register_sold(registry, roles, f"FROZEN-{flag}")
    if flag == "recalled":
        registry.recall(roles.brand_admin, [item])
    else:
        registry.report_stolen(roles.retailer, item)
    owner = roles.consumer.address

    with reverts(error, itemId=item.hex()):
        registry.claim(roles.consumer, item, owner, signature(registry, item, owner))
    # Once the freeze is lifted the same signature works.
    if flag == "recalled":
        registry.lift_recall(roles.brand_admin, [item])
    else:
        registry.clear_stolen(roles.retailer, item)
    registry.claim(roles.consumer, item, owner, signature(registry, item, owner))
    assert state(registry, item).custodian == owner


def test_claim_of_an_item_both_recalled_and_stolen_names_the_recall(
    registry: Registry, roles: Roles
) -> None:
    item = register_sold(registry, roles, "FROZEN-BOTH")
    registry.report_stolen(roles.retailer, item)
    registry.recall(roles.brand_admin, [item])
    owner = roles.consumer.address

    with reverts(RecalledItem, itemId=item.hex()):
        registry.claim(roles.consumer, item, owner, signature(registry, item, owner))


def test_claim_of_a_frozen_item_without_claim_key_names_the_freeze_first(
    registry: Registry, roles: Roles
) -> None:
    item = register_sold(registry, roles, "FROZEN-NO-KEY", code=None)
    registry.report_stolen(roles.retailer, item)
    owner = roles.consumer.address

    with reverts(StolenItem, itemId=item.hex()):
        registry.claim(roles.consumer, item, owner, signature(registry, item, owner))


@pytest.mark.parametrize(
    "final", [Status.DECOMMISSIONED, Status.DESTROYED], ids=["decommissioned", "destroyed"]
)
def test_claim_of_a_retired_item_fails(registry: Registry, roles: Roles, final: Status) -> None:
    item = register_sold(registry, roles, f"RETIRED-{final.value}")
    retire = registry.decommission if final is Status.DECOMMISSIONED else registry.destroy
    retire(roles.retailer, item)
    owner = roles.consumer.address
    assert not state(registry, item).claimable

    with reverts(ItemRetired, itemId=item.hex(), actual=final):
        registry.claim(roles.consumer, item, owner, signature(registry, item, owner))


def test_front_runner_copying_a_claim_can_only_make_the_same_owner_the_owner(
    registry: Registry, roles: Roles
) -> None:
    item = register_sold(registry, roles, "FRONT-RUN")
    owner = roles.consumer.address
    pending = signature(registry, item, owner)

    # A watcher copies the pending transaction and gets its copy mined first.
    copied = registry.claim(roles.stranger, item, owner, pending)

    assert emitted(registry, copied) == [
        ("ItemClaimed", {"itemId": item.value, "owner": owner, "seq": 4})
    ]
    with reverts(WrongStatus, itemId=item.hex(), actual=Status.ACTIVE, required=Status.SOLD):
        registry.claim(roles.consumer, item, owner, pending)
    after = state(registry, item)
    assert (after.custodian, after.flags, after.seq) == (owner, Flag.CLAIMED, 4)


# ───────────── malformed signatures ─────────────


def test_high_s_twin_of_a_valid_signature_is_rejected(registry: Registry, roles: Roles) -> None:
    item = register_sold(registry, roles, "HIGH-S")
    owner = roles.consumer.address
    valid = signature(registry, item, owner)
    r, s, v = valid[:32], int.from_bytes(valid[32:64], "big"), valid[64]
    # (r, n - s, v ^ 1) recovers the same key in plain ecrecover; OpenZeppelin refuses it.
    twin = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])
    assert recover(registry.claim_digest(item, owner), twin) == ZERO_ADDRESS

    with reverts(InvalidClaimSignature, itemId=item.hex(), signer=ZERO_ADDRESS):
        registry.claim(roles.relayer, item, owner, twin)
    registry.claim(roles.relayer, item, owner, valid)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda sig: b"", id="empty"),
        pytest.param(lambda sig: sig[:64], id="64-bytes"),
        pytest.param(lambda sig: sig + b"\x00", id="66-bytes"),
        pytest.param(lambda sig: sig[:64] + bytes([sig[64] - 27]), id="v-0-or-1"),
        pytest.param(lambda sig: b"\x00" * 65, id="zeros"),
    ],
)
def test_malformed_signature_is_refused_with_the_zero_signer(
    registry: Registry, roles: Roles, mangle: Any
) -> None:
    item = register_sold(registry, roles, "MALFORMED")
    owner = roles.consumer.address

    with reverts(InvalidClaimSignature, itemId=item.hex(), signer=ZERO_ADDRESS):
        registry.claim(roles.relayer, item, owner, mangle(signature(registry, item, owner)))
    assert state(registry, item).claimable


def test_compact_64_byte_form_of_a_valid_signature_is_refused(
    registry: Registry, roles: Roles
) -> None:
    item = register_sold(registry, roles, "COMPACT")
    owner = roles.consumer.address
    valid = signature(registry, item, owner)
    # EIP-2098: r || (v - 27) << 255 | s. OpenZeppelin 5 takes only the 65-byte form here.
    vs = ((valid[64] - 27) << 255) | int.from_bytes(valid[32:64], "big")
    compact = valid[:32] + vs.to_bytes(32, "big")

    with reverts(InvalidClaimSignature, itemId=item.hex(), signer=ZERO_ADDRESS):
        registry.claim(roles.relayer, item, owner, compact)


plausible_signatures = st.builds(
    lambda r, s, v: r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v]),
    st.integers(1, SECP256K1_N - 1),
    st.integers(1, SECP256K1_N // 2),
    st.sampled_from([27, 28]),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(junk=st.binary(min_size=65, max_size=65) | plausible_signatures)
def test_random_signature_is_refused_naming_the_signer_it_recovers_to(
    registry: Registry, roles: Roles, junk: bytes
) -> None:
    # Refused claims send nothing, so examples can share the function-scoped registry.
    item = item_id(GTIN, "RANDOM-SIG")
    if registry.item(item) is None:
        register_sold(registry, roles, "RANDOM-SIG")
    owner = roles.consumer.address
    signer = recover(registry.claim_digest(item, owner), junk)
    assert signer != claim_key(item, CODE).address

    with reverts(InvalidClaimSignature, itemId=item.hex(), signer=signer):
        registry.claim(roles.relayer, item, owner, junk)
    assert state(registry, item).seq == 3
