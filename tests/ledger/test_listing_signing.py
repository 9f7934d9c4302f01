"""The EIP-712 signature over listing decisions, checked with eth-account's reference encoder."""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak
from hypothesis import given
from hypothesis import strategies as st

from ledger.marketplace.signing import DecisionSigner, SignedFields

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
KEY = bytes.fromhex("11" * 32)
SIGNER = DecisionSigner.from_key(KEY, chain_id=31337, registry=REGISTRY)

_ids = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=128
)


def _fields(**changes: object) -> SignedFields:
    values: dict[str, object] = {
        "marketplace": 7,
        "listing_id": "L-1",
        "seller_id": "S-1",
        "item_id": bytes(range(32)),
        "decision": 2,
        "reason_codes": ("seller_not_holder",),
        "at_block": 1234,
        "checked_at": 1_800_000_000,
    }
    values.update(changes)
    return SignedFields(**values)  # type: ignore[arg-type]


def test_the_digest_is_eip712_as_eth_account_computes_it() -> None:
    fields = _fields()
    reference = encode_typed_data(full_message=SIGNER.typed_data(fields))
    preimage = b"\x19" + reference.version + reference.header + reference.body
    assert SIGNER.digest(fields) == keccak(preimage)


@given(
    marketplace=st.integers(0, 2**64 - 1),
    listing_id=_ids,
    seller_id=_ids,
    item=st.binary(min_size=32, max_size=32),
    decision=st.integers(0, 2),
    codes=st.lists(st.sampled_from(["holder", "stolen", "duplicate_listing", "x"]), max_size=4),
    block=st.integers(0, 2**63),
    checked_at=st.integers(0, 2**40),
)
def test_any_signed_decision_recovers_to_the_service_signer(
    marketplace: int,
    listing_id: str,
    seller_id: str,
    item: bytes,
    decision: int,
    codes: list[str],
    block: int,
    checked_at: int,
) -> None:
    fields = _fields(
        marketplace=marketplace,
        listing_id=listing_id,
        seller_id=seller_id,
        item_id=item,
        decision=decision,
        reason_codes=tuple(codes),
        at_block=block,
        checked_at=checked_at,
    )
    signable = encode_typed_data(full_message=SIGNER.typed_data(fields))
    assert Account.recover_message(signable, signature=SIGNER.sign(fields)) == SIGNER.address


def test_a_changed_decision_no_longer_matches_the_signature() -> None:
    signature = SIGNER.sign(_fields(decision=2))
    forged = encode_typed_data(full_message=SIGNER.typed_data(_fields(decision=0)))
    assert Account.recover_message(forged, signature=signature) != SIGNER.address


def test_another_chain_or_registry_gives_another_digest() -> None:
    fields = _fields()
    other_chain = DecisionSigner.from_key(KEY, chain_id=1, registry=REGISTRY)
    other_registry = DecisionSigner.from_key(KEY, chain_id=31337, registry="0x" + "ab" * 20)
    digests = {s.digest(fields) for s in (SIGNER, other_chain, other_registry)}
    assert len(digests) == 3


def test_signatures_are_65_bytes_with_v_27_or_28() -> None:
    signature = bytes.fromhex(SIGNER.sign(_fields()).removeprefix("0x"))
    assert len(signature) == 65
    assert signature[64] in {27, 28}
