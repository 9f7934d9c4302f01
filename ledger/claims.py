"""Hidden claim codes and the consumer claim signature.

A hidden code (printed under a scratch-off on the item) carries 130 bits of randomness, so
the claim key derived from it cannot be found from the public claim key address by search.
The claim key is a one-time secp256k1 key:
``key = keccak256("veritag/claim-key/v1" || itemId || code)``.
The consumer's device signs EIP-712 ``Claim(bytes32 itemId,address newOwner)`` in the
registry's domain (name, version, chain id, contract), so the code itself never goes on chain
and a copied signature can only make the same owner the owner.
"""

from __future__ import annotations

import secrets

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from ledger.errors import IdentifierError
from ledger.identifiers import ItemId

__all__ = [
    "CLAIM_DOMAIN_NAME",
    "CLAIM_DOMAIN_VERSION",
    "InvalidClaimCode",
    "claim_key",
    "generate_claim_code",
    "normalise_claim_code",
    "sign_claim",
]

CLAIM_DOMAIN_NAME = "Veritag ProvenanceRegistry"
CLAIM_DOMAIN_VERSION = "1"

# Crockford base32: no I, L, O, U, so a code read off a label is hard to mistype.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CONFUSABLE = str.maketrans({"I": "1", "L": "1", "O": "0"})
_GROUPS = 5
_GROUP_LEN = 5
_KEY_DOMAIN = b"veritag/claim-key/v1"
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class InvalidClaimCode(IdentifierError):
    """A hidden code has the wrong length or characters."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid claim code: {reason}")


def generate_claim_code() -> str:
    """A new hidden code: 25 base32 characters (125 bits) in five groups, ``XXXXX-…``."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(_GROUPS * _GROUP_LEN))
    return "-".join(chars[i : i + _GROUP_LEN] for i in range(0, len(chars), _GROUP_LEN))


def normalise_claim_code(code: str) -> str:
    """Upper-case, drop dashes and spaces, map look-alikes (I, L → 1; O → 0)."""
    plain = code.upper().replace("-", "").replace(" ", "").translate(_CONFUSABLE)
    if len(plain) != _GROUPS * _GROUP_LEN:
        raise InvalidClaimCode(f"expected {_GROUPS * _GROUP_LEN} characters, got {len(plain)}")
    bad = sorted({c for c in plain if c not in _ALPHABET})
    if bad:
        raise InvalidClaimCode(f"characters {''.join(bad)!r} are not in the code alphabet")
    return plain


def claim_key(item: ItemId, code: str) -> LocalAccount:
    """The one-time claim key of ``item`` derived from its hidden ``code``."""
    seed = keccak(_KEY_DOMAIN + item.value + normalise_claim_code(code).encode("ascii"))
    scalar = int.from_bytes(seed, "big") % (_SECP256K1_N - 1) + 1
    account: LocalAccount = Account.from_key(scalar.to_bytes(32, "big"))
    return account


def sign_claim(item: ItemId, code: str, new_owner: str, *, chain_id: int, contract: str) -> bytes:
    """The signature that claims ``item`` for ``new_owner`` on one registry on one chain."""
    signed = Account.sign_typed_data(
        claim_key(item, code).key,
        domain_data={
            "name": CLAIM_DOMAIN_NAME,
            "version": CLAIM_DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": contract,
        },
        message_types={
            "Claim": [
                {"name": "itemId", "type": "bytes32"},
                {"name": "newOwner", "type": "address"},
            ]
        },
        message_data={"itemId": item.value, "newOwner": new_owner},
    )
    return bytes(signed.signature)
