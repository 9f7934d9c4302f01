"""The service's EIP-712 signature over each listing decision.

A marketplace keeps the signed decision as proof of what it was told, and anyone can check
it with standard tools (``eth_account.messages.encode_typed_data`` and the signer address
the API publishes). The domain binds the chain id and the registry's address, so a
decision cannot be passed off as one about another ledger::

    ListingDecision(uint64 marketplace,string listingId,string sellerId,bytes32 itemId,
                    uint8 decision,bytes32 reasons,uint256 atBlock,uint64 checkedAt)

``reasons`` is the keccak-256 of the reason codes joined by commas, in the order given.
Hashing is done by hand (it is the hot path of a 1,000-listing check) and tested against
eth-account's reference encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from coincurve import PrivateKey
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from eth_typing import ChecksumAddress

__all__ = ["DOMAIN_NAME", "DOMAIN_VERSION", "TYPES", "DecisionSigner", "SignedFields"]

DOMAIN_NAME = "Veritag Listing Check"
DOMAIN_VERSION = "1"

TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "ListingDecision": [
        {"name": "marketplace", "type": "uint64"},
        {"name": "listingId", "type": "string"},
        {"name": "sellerId", "type": "string"},
        {"name": "itemId", "type": "bytes32"},
        {"name": "decision", "type": "uint8"},
        {"name": "reasons", "type": "bytes32"},
        {"name": "atBlock", "type": "uint256"},
        {"name": "checkedAt", "type": "uint64"},
    ],
}


def _type_string(name: str) -> bytes:
    fields = ",".join(f"{f['type']} {f['name']}" for f in TYPES[name])
    return f"{name}({fields})".encode()


_DOMAIN_TYPEHASH = keccak(_type_string("EIP712Domain"))
_DECISION_TYPEHASH = keccak(_type_string("ListingDecision"))


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


@dataclass(frozen=True)
class SignedFields:
    """What one signature covers."""

    marketplace: int
    listing_id: str
    seller_id: str
    item_id: bytes
    decision: int
    reason_codes: Sequence[str]
    at_block: int
    checked_at: int

    def message(self) -> dict[str, Any]:
        """The EIP-712 ``message`` object, as standard tools take it."""
        return {
            "marketplace": self.marketplace,
            "listingId": self.listing_id,
            "sellerId": self.seller_id,
            "itemId": self.item_id,
            "decision": self.decision,
            "reasons": reasons_hash(self.reason_codes),
            "atBlock": self.at_block,
            "checkedAt": self.checked_at,
        }


def reasons_hash(codes: Sequence[str]) -> bytes:
    return _hash_text(",".join(codes))


@lru_cache(maxsize=4096)
def _hash_text(text: str) -> bytes:
    """keccak-256 of a short text that repeats across a batch (reason lists, seller ids)."""
    return keccak(text.encode())


class DecisionSigner:
    """Signs listing decisions with the service's key for one registry."""

    def __init__(self, account: LocalAccount, *, chain_id: int, registry: str) -> None:
        self.account = account
        self.chain_id = chain_id
        self.registry = registry
        # coincurve directly: eth-keys rebuilds the key pair on every signature (~0.2 ms).
        self._key = PrivateKey(bytes(account.key))
        self._domain_separator = keccak(
            _DOMAIN_TYPEHASH
            + keccak(DOMAIN_NAME.encode())
            + keccak(DOMAIN_VERSION.encode())
            + _word(chain_id)
            + bytes(12)
            + bytes.fromhex(registry.removeprefix("0x"))
        )

    @classmethod
    def from_key(cls, private_key: bytes, *, chain_id: int, registry: str) -> DecisionSigner:
        return cls(Account.from_key(private_key), chain_id=chain_id, registry=registry)

    @property
    def address(self) -> ChecksumAddress:
        return self.account.address

    def domain(self) -> dict[str, Any]:
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": self.registry,
        }

    def typed_data(self, fields: SignedFields) -> dict[str, Any]:
        """The whole EIP-712 document a verifier hashes (``encode_typed_data(full_message=…)``)."""
        return {
            "types": TYPES,
            "primaryType": "ListingDecision",
            "domain": self.domain(),
            "message": fields.message(),
        }

    def digest(self, fields: SignedFields) -> bytes:
        struct_hash = keccak(
            _DECISION_TYPEHASH
            + _word(fields.marketplace)
            + keccak(fields.listing_id.encode())
            + _hash_text(fields.seller_id)
            + fields.item_id
            + _word(fields.decision)
            + reasons_hash(fields.reason_codes)
            + _word(fields.at_block)
            + _word(fields.checked_at)
        )
        return keccak(b"\x19\x01" + self._domain_separator + struct_hash)

    def sign(self, fields: SignedFields) -> str:
        """``0x`` + r, s, v (v = 27 or 28), 65 bytes: what ``Account.recover_message`` takes."""
        signature = self._key.sign_recoverable(self.digest(fields), hasher=None)
        return "0x" + (signature[:64] + bytes([signature[64] + 27])).hex()
